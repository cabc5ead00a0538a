//! `SSF_<SECTION>__<KEY>[__<SUBKEY>...]` environment overrides, applied onto the TOML tree
//! before the typed settings are read, so an override is checked exactly like the file.
//!
//! - Segments are separated by `__` and lowercased: `SSF_TRANSMITTER__PUSH__HTTP__ALLOW_HTTP`
//!   sets `transmitter.push.http.allow_http`. A single `_` belongs to the key.
//! - A number segment indexes an array of tables, and the next free index appends one:
//!   `SSF_RECEIVER__TRANSMITTERS__0__ISSUER`.
//! - The value is read as a TOML value when it parses (`42`, `true`, `"quoted"`,
//!   `["ssf.read"]`, `{ type = "bearer", token = "..." }`), else taken as a plain string
//!   (`0.0.0.0:9000`, `https://idp.example.com`, `7d`).
//! - Variables without `__` (`SSF_KEYS_DIR`, `SSF_CLIENT_SECRET`, ...) are other commands'
//!   and are ignored here.

use toml::{Table, Value};

/// The prefix of every override.
const PREFIX: &str = "SSF_";

/// One applied override: which variable set which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Override {
    /// The variable's name, e.g. `SSF_SERVER__LISTEN`.
    pub(crate) var: String,
    /// The dotted key it set, e.g. `server.listen` (array indexes as `transmitters.0`).
    pub(crate) key: String,
}

/// Applies every `SSF_*__*` variable of `vars` onto `tree`, in name order; returns what was set.
pub(crate) fn overlay(
    tree: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>, String> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX) && name.contains("__"))
        .collect();
    vars.sort();
    let mut root = Value::Table(std::mem::take(tree));
    let mut applied = Vec::new();
    let mut result = Ok(());
    for (var, raw) in vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            result = Err(format!(
                "{var}: empty key segment; write SSF_<SECTION>__<KEY>, e.g. SSF_SERVER__LISTEN"
            ));
            break;
        }
        if let Err(e) = set(&mut root, &path, parse_value(&raw), &var) {
            result = Err(e);
            break;
        }
        applied.push(Override {
            var,
            key: path.join("."),
        });
    }
    if let Value::Table(table) = root {
        *tree = table;
    }
    result.map(|()| applied)
}

/// A TOML value if `raw` is one, else the string itself.
pub(crate) fn parse_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn set(node: &mut Value, path: &[String], value: Value, var: &str) -> Result<(), String> {
    let Some((head, rest)) = path.split_first() else {
        return Ok(());
    };
    match node {
        Value::Table(table) => {
            if rest.is_empty() {
                table.insert(head.clone(), value);
                return Ok(());
            }
            let child = table
                .entry(head.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            set(child, rest, value, var)
        }
        Value::Array(items) => {
            let len = items.len();
            let index: usize = head
                .parse()
                .map_err(|_| format!("{var}: `{head}` must be an array index (0..={len}) here"))?;
            if index > len {
                return Err(format!(
                    "{var}: index {index} is past the end of the array; the next one is {len}"
                ));
            }
            if index == len {
                items.push(Value::Table(Table::new()));
            }
            if rest.is_empty() {
                items[index] = value;
                return Ok(());
            }
            set(&mut items[index], rest, value, var)
        }
        _ => Err(format!(
            "{var}: `{head}` is inside a key that holds a single value, not a table"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn overrides_nest_and_parse_toml_scalars() {
        let mut tree: Table = "[server]\nlisten = \"127.0.0.1:8080\"\n".parse().unwrap();
        let applied = overlay(
            &mut tree,
            vars(&[
                ("SSF_SERVER__LISTEN", "0.0.0.0:9000"),
                ("SSF_TRANSMITTER__PUSH__WORKERS", "8"),
                ("SSF_TRANSMITTER__PUSH__HTTP__ALLOW_HTTP", "true"),
                ("SSF_TRANSMITTER__ISSUER", "https://idp.example.com"),
                ("SSF_TRANSMITTER__AUTH__CLIENTS", "[]"),
                ("SSF_KEYS_DIR", "ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(tree["server"]["listen"].as_str(), Some("0.0.0.0:9000"));
        let tx = &tree["transmitter"];
        assert_eq!(tx["push"]["workers"].as_integer(), Some(8));
        assert_eq!(tx["push"]["http"]["allow_http"].as_bool(), Some(true));
        assert_eq!(tx["issuer"].as_str(), Some("https://idp.example.com"));
        assert!(tx["auth"]["clients"].as_array().unwrap().is_empty());
        assert_eq!(applied.len(), 5);
        assert!(
            applied
                .iter()
                .any(|o| o.var == "SSF_SERVER__LISTEN" && o.key == "server.listen")
        );
    }

    #[test]
    fn array_indexes_edit_and_append() {
        let mut tree: Table = "[[receiver.transmitters]]\nname = \"a\"\n".parse().unwrap();
        overlay(
            &mut tree,
            vars(&[
                ("SSF_RECEIVER__TRANSMITTERS__0__ISSUER", "https://a.example"),
                ("SSF_RECEIVER__TRANSMITTERS__1__NAME", "b"),
            ]),
        )
        .unwrap();
        let peers = tree["receiver"]["transmitters"].as_array().unwrap();
        assert_eq!(peers[0]["issuer"].as_str(), Some("https://a.example"));
        assert_eq!(peers[1]["name"].as_str(), Some("b"));
        let err = overlay(
            &mut tree,
            vars(&[("SSF_RECEIVER__TRANSMITTERS__5__NAME", "c")]),
        )
        .unwrap_err();
        assert!(err.contains("SSF_RECEIVER__TRANSMITTERS__5__NAME"), "{err}");
    }

    #[test]
    fn bad_paths_name_the_variable() {
        let mut tree: Table = "[server]\nlisten = \"x\"\n".parse().unwrap();
        let err = overlay(&mut tree, vars(&[("SSF_SERVER__LISTEN__PORT", "1")])).unwrap_err();
        assert!(err.starts_with("SSF_SERVER__LISTEN__PORT"), "{err}");
        let err = overlay(&mut tree, vars(&[("SSF_SERVER____X", "1")])).unwrap_err();
        assert!(err.contains("empty key segment"), "{err}");
    }

    #[test]
    fn values_fall_back_to_strings() {
        assert_eq!(parse_value("42").as_integer(), Some(42));
        assert_eq!(parse_value("\"42\"").as_str(), Some("42"));
        assert_eq!(parse_value("7d").as_str(), Some("7d"));
        assert_eq!(parse_value("RS256").as_str(), Some("RS256"));
        assert_eq!(parse_value("1\nx = 2").as_str(), Some("1\nx = 2"));
    }
}
