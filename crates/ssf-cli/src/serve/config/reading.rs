//! Helpers of the configuration reader: moving keys between tables, where a setting came from
//! (file or environment) for messages, and typed reading that names the bad key.

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::env::Override;
use crate::input::{Failure, usage};

/// Moves `keys` out of `table` into a table of their own.
pub(super) fn take(table: &mut Table, keys: &[&str]) -> Value {
    let mut taken = Table::new();
    for key in keys {
        if let Some(value) = table.remove(*key) {
            taken.insert((*key).to_owned(), value);
        }
    }
    Value::Table(taken)
}

/// Where settings came from, for error messages.
pub(super) struct Origin<'a> {
    pub(super) source: &'a str,
    pub(super) overrides: &'a [Override],
}

impl Origin<'_> {
    /// `the environment (SSF_...)` when an override set `key` or something inside or around
    /// it, else the file.
    pub(super) fn of(&self, key: &str) -> String {
        let vars: Vec<&str> = self
            .overrides
            .iter()
            .filter(|o| {
                o.key == key
                    || o.key.starts_with(&format!("{key}."))
                    || key.starts_with(&format!("{}.", o.key))
            })
            .map(|o| o.var.as_str())
            .collect();
        if vars.is_empty() {
            self.source.to_owned()
        } else {
            format!("{} or the environment ({})", self.source, vars.join(", "))
        }
    }
}

/// Reads `value` as `T`; an error names the dotted key under `prefix` and how to fix it.
pub(super) fn typed<T: DeserializeOwned>(
    value: Value,
    prefix: &str,
    origin: &Origin<'_>,
) -> Result<T, Failure> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = match (prefix.is_empty(), path.as_str()) {
            (true, p) => p.to_owned(),
            (false, ".") => prefix.to_owned(),
            (false, p) => format!("{prefix}.{p}"),
        };
        let inner = e.into_inner().to_string();
        let inner = inner.trim();
        let hint = if inner.contains("unknown field") {
            "; remove it or fix its spelling (docs/transmitter.md, docs/receiver.md and \
             docs/jit.md list every key)"
        } else {
            ""
        };
        usage(format!(
            "invalid setting `{key}` in {}: {inner}{hint}",
            origin.of(&key)
        ))
    })
}
