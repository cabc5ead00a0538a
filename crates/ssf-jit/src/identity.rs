//! Identity mapping: who an assignee is when the ticket system does not say their e-mail.
//!
//! Jira Cloud hides `emailAddress` for users whose privacy settings say so and sends only their
//! `accountId`; ServiceNow sends a user `sys_id` or a display name unless the Business Rule
//! dot-walks to the e-mail. A system's `identities` table and `identities_file` map such an id
//! to the e-mail (or, with `subject.from = "id"`, to the subject value):
//!
//! ```toml
//! [jit.systems.jira]
//! identities_file = "/etc/ssf/jira-users.json"   # {"712020:5b10...": "jane.doe@example.com", ...}
//! [jit.systems.jira.identities]
//! "712020:5b10ac8d-82e0-4e3b-9d1a-aa11bb22cc33" = "jane.doe@example.com"
//! "Jane Doe" = "jane.doe@example.com"            # a display name: the last resort
//! ```
//!
//! Lookup order: the person's id (Jira `accountId`, ServiceNow `sys_id` or `user_name`) in the
//! table, then in the file; then the display name in the table, then in the file. Keys match
//! exactly. Display names are not unique (two "Jane Doe"s), so they are the last resort; prefer
//! ids. An e-mail the payload carries is used as it is; the mapping is only asked when there is
//! none (or, for `subject.from = "id"`, to replace the id).
//!
//! The file is a JSON object of strings, written by the operator (e.g. exported from the ticket
//! system's user list by a cron job). It is read at start (missing or unreadable: a
//! configuration error) and again whenever its modification time or size changes. A change that
//! does not parse keeps the last good table and is logged at error level once.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use crate::{config::SystemConfig, ticket::Person};

/// A file-backed identity table (`identities_file`), re-read when it changes.
#[derive(Debug)]
pub struct IdentityFile {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    /// Modification time and size of the last version read (good or bad).
    stamp: Option<(SystemTime, u64)>,
    /// The last table that parsed.
    table: BTreeMap<String, String>,
}

impl IdentityFile {
    /// Reads `path` now: an error (the text names the file) when it is missing or does not
    /// parse.
    pub fn open(path: &Path) -> Result<Self, String> {
        let stamp = stamp(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            cache: Mutex::new(Cache {
                stamp: Some(stamp),
                table,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value for `key`, after re-reading the file if it changed since the last look.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        match stamp(&self.path) {
            Ok(now) if cache.stamp != Some(now) => {
                cache.stamp = Some(now);
                match read(&self.path) {
                    Ok(table) => {
                        tracing::info!(
                            file = %self.path.display(),
                            entries = table.len(),
                            "jit identities file re-read"
                        );
                        cache.table = table;
                    }
                    Err(e) => tracing::error!(
                        error = e,
                        "jit identities file does not parse; the last good version stays in use"
                    ),
                }
            }
            Ok(_) => {}
            Err(e) if cache.stamp.is_some() => {
                cache.stamp = None;
                tracing::error!(
                    file = %self.path.display(),
                    error = %e,
                    "jit identities file cannot be read; the last good version stays in use"
                );
            }
            Err(_) => {}
        }
        cache.table.get(key).cloned()
    }
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn read(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let table: BTreeMap<String, String> = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a JSON object of strings ({{\"<id or display name>\": \"<e-mail>\"}}): {e}",
            path.display()
        )
    })?;
    if let Some(k) = table
        .iter()
        .find(|(k, v)| k.is_empty() || v.trim().is_empty())
    {
        return Err(format!(
            "{}: entry {:?} has an empty key or value",
            path.display(),
            k.0
        ));
    }
    Ok(table)
}

/// The mapped value of `person` in `system`'s identities (table, then file; id, then display
/// name), or `None`.
pub fn resolve(system: &SystemConfig, person: &Person) -> Option<String> {
    let keys = [person.id.as_deref(), person.name.as_deref()];
    keys.into_iter()
        .flatten()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .find_map(|key| {
            system
                .identities
                .get(key)
                .cloned()
                .or_else(|| system.identity_file.as_ref().and_then(|file| file.get(key)))
        })
        .map(|v| v.trim().to_owned())
}

/// Where the mapping of `system` is configured, for the `no_identity` reason.
pub fn settings_hint(system: &SystemConfig) -> String {
    let name = if system.name.is_empty() {
        "<system>"
    } else {
        system.name.as_str()
    };
    match &system.identities_file {
        Some(file) => format!(
            "jit.systems.{name}.identities or its identities_file {}",
            file.display()
        ),
        None => format!("jit.systems.{name}.identities"),
    }
}

#[cfg(test)]
mod tests {
    use std::{fs::File, time::Duration};

    use super::*;
    use crate::config::SystemKind;

    fn set_mtime(path: &Path, secs: u64) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    fn person(id: Option<&str>, name: Option<&str>) -> Person {
        Person {
            email: None,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn ids_before_names_table_before_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(
            &path,
            r#"{"acc-1": "file@example.com", "acc-2": "two@example.com", "Jane Doe": "jane@example.com"}"#,
        )
        .unwrap();
        let mut s = SystemConfig::new(SystemKind::Jira, "0123456789abcdef");
        s.identities = [("acc-1".to_owned(), "table@example.com".to_owned())].into();
        s.identity_file = Some(std::sync::Arc::new(IdentityFile::open(&path).unwrap()));
        let get = |id, name| resolve(&s, &person(id, name));
        assert_eq!(
            get(Some("acc-1"), None).as_deref(),
            Some("table@example.com")
        );
        assert_eq!(
            get(Some("acc-2"), Some("Jane Doe")).as_deref(),
            Some("two@example.com")
        );
        assert_eq!(
            get(Some("acc-9"), Some("Jane Doe")).as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(get(Some("acc-9"), Some("John")), None);
    }

    #[test]
    fn the_file_is_re_read_when_it_changes_and_a_bad_version_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        assert!(
            IdentityFile::open(&path)
                .unwrap_err()
                .contains("users.json")
        );
        std::fs::write(&path, r#"{"acc-1": "one@example.com"}"#).unwrap();
        set_mtime(&path, 1_000);
        let file = IdentityFile::open(&path).unwrap();
        assert_eq!(file.get("acc-1").as_deref(), Some("one@example.com"));

        std::fs::write(&path, r#"{"acc-1": "uno@example.com"}"#).unwrap();
        set_mtime(&path, 2_000);
        assert_eq!(file.get("acc-1").as_deref(), Some("uno@example.com"));

        std::fs::write(&path, r#"{"acc-1": "#).unwrap();
        set_mtime(&path, 3_000);
        assert_eq!(
            file.get("acc-1").as_deref(),
            Some("uno@example.com"),
            "the last good table"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.get("acc-1").as_deref(), Some("uno@example.com"));
        std::fs::write(&path, r#"["not", "a", "map"]"#).unwrap();
        assert!(
            IdentityFile::open(&path)
                .unwrap_err()
                .contains("JSON object")
        );
    }
}
