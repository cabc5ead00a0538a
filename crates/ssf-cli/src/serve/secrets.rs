//! The transmitter's secrets key: it encrypts each push stream's `authorization_header` in the
//! database (checklist SSF-SEC-14, decision D-TX-18).
//!
//! Where it comes from, first match wins:
//! 1. `SSF_SECRETS_KEY`: the key itself, base64 of 32 bytes (an empty value counts as unset);
//! 2. `[transmitter.storage] secrets_key_file`: a file holding that base64 text;
//! 3. development mode only (`ssf serve` without `--config`, or `--dev`):
//!    `<data_dir>/secrets.key`, generated once (mode 0600).
//!
//! Without any of them outside development mode the transmitter refuses to start (and
//! `ssf serve --check` fails), naming both settings and how to make a key. A previous key for
//! rotation, decrypt-only: `SSF_SECRETS_KEY_PREVIOUS` or `previous_secrets_key_file`; values
//! under it are re-encrypted with the current key at start.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use ssf_transmitter::secrets::{SecretsCipher, SecretsKey};

use crate::input::{Context, Failure, usage, write_private_file};

/// The variable holding the key itself.
pub(crate) const KEY_VAR: &str = "SSF_SECRETS_KEY";
/// The variable holding the previous key (decryption only).
pub(crate) const PREVIOUS_VAR: &str = "SSF_SECRETS_KEY_PREVIOUS";
/// The development key file in the data directory.
pub(crate) const DEV_KEY_FILE: &str = "secrets.key";

/// `[transmitter.storage]`: how stored secrets are protected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StorageSettings {
    /// A file with the base64 of the 32-byte secrets key.
    pub(crate) secrets_key_file: Option<PathBuf>,
    /// The key before a rotation (decryption only), same format.
    pub(crate) previous_secrets_key_file: Option<PathBuf>,
}

/// The key settings of a transmitter: the file settings plus the variables' values.
#[derive(Clone, Default)]
pub(crate) struct KeySources {
    /// `[transmitter.storage]`.
    pub(crate) storage: StorageSettings,
    /// `SSF_SECRETS_KEY`, when set and not empty.
    pub(crate) env_key: Option<String>,
    /// `SSF_SECRETS_KEY_PREVIOUS`, when set and not empty.
    pub(crate) env_previous: Option<String>,
}

impl std::fmt::Debug for KeySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySources")
            .field("storage", &self.storage)
            .field("env_key", &self.env_key.as_ref().map(|_| "[redacted]"))
            .field(
                "env_previous",
                &self.env_previous.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl KeySources {
    /// The file settings with the key variables of `vars`.
    pub(crate) fn new(storage: StorageSettings, vars: &[(String, String)]) -> Self {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.clone())
        };
        Self {
            storage,
            env_key: var(KEY_VAR),
            env_previous: var(PREVIOUS_VAR),
        }
    }
}

/// The resolved key and where it came from (for `--check` and the banner).
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The cipher; `None` when `--check` found that a development key would be generated.
    pub(crate) cipher: Option<SecretsCipher>,
    /// e.g. `SSF_SECRETS_KEY`, `file /etc/ssf/secrets.key`.
    pub(crate) source: String,
}

/// Resolves the key of `sources`. In development mode without a key, `<data_dir>/secrets.key`
/// is read, or generated when `create` (not for `--check`, which changes nothing).
pub(crate) fn resolve(
    sources: &KeySources,
    data_dir: &Path,
    dev: bool,
    create: bool,
) -> Result<Resolved, Failure> {
    let previous = match (
        &sources.env_previous,
        &sources.storage.previous_secrets_key_file,
    ) {
        (Some(text), _) => Some(parse(text, PREVIOUS_VAR)?),
        (None, Some(path)) => Some(read(path, "transmitter.storage.previous_secrets_key_file")?),
        (None, None) => None,
    };
    let (key, source) = match (&sources.env_key, &sources.storage.secrets_key_file) {
        (Some(text), _) => (parse(text, KEY_VAR)?, KEY_VAR.to_owned()),
        (None, Some(path)) => (
            read(path, "transmitter.storage.secrets_key_file")?,
            format!("file {}", path.display()),
        ),
        (None, None) if dev => {
            let path = data_dir.join(DEV_KEY_FILE);
            if path.exists() {
                (
                    read(&path, "the development secrets key")?,
                    format!("file {} (development)", path.display()),
                )
            } else if create {
                let key = SecretsKey::generate();
                write_private_file(&path, &format!("{}\n", key.to_base64()), false)?;
                tracing::info!(file = %path.display(), "development secrets key generated");
                (
                    key,
                    format!("file {} (development, created now)", path.display()),
                )
            } else {
                return Ok(Resolved {
                    cipher: None,
                    source: format!(
                        "file {} (development, generated on first start)",
                        path.display()
                    ),
                });
            }
        }
        (None, None) => {
            return Err(usage(format!(
                "the transmitter needs a secrets key to encrypt the push authorization_header \
                 of streams in its database (D-TX-18): set `transmitter.storage.\
                 secrets_key_file` to a file holding the base64 of 32 random bytes, or put that \
                 base64 in the environment variable {KEY_VAR}; make one with \
                 `head -c 32 /dev/urandom | base64 > secrets.key` (mode 0600; every node on \
                 one database needs the same key), or run with --dev for local testing"
            )));
        }
    };
    Ok(Resolved {
        cipher: Some(SecretsCipher::new(key).with_previous(previous)),
        source,
    })
}

fn parse(text: &str, what: &str) -> Result<SecretsKey, Failure> {
    SecretsKey::from_base64(text).map_err(|e| usage(format!("{what}: {e}")))
}

fn read(path: &Path, setting: &str) -> Result<SecretsKey, Failure> {
    let text = std::fs::read_to_string(path)
        .or_usage(format!("reading {} (`{setting}`)", path.display()))?;
    SecretsKey::from_base64(&text)
        .map_err(|e| usage(format!("{} (`{setting}`): {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(storage: StorageSettings, vars: &[(&str, &str)]) -> KeySources {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        KeySources::new(storage, &vars)
    }

    #[test]
    fn the_key_comes_from_the_environment_a_file_or_development_d_tx_18() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretsKey::generate().to_base64();
        let env = resolve(
            &sources(StorageSettings::default(), &[(KEY_VAR, &key)]),
            dir.path(),
            false,
            true,
        )
        .unwrap();
        assert_eq!(env.source, KEY_VAR);
        assert!(env.cipher.is_some());

        let file = dir.path().join("k");
        std::fs::write(&file, format!("{key}\n")).unwrap();
        let storage = StorageSettings {
            secrets_key_file: Some(file),
            ..StorageSettings::default()
        };
        let from_file =
            resolve(&sources(storage, &[(KEY_VAR, "")]), dir.path(), false, true).unwrap();
        assert!(from_file.source.contains("file"), "{}", from_file.source);

        let missing = resolve(
            &sources(StorageSettings::default(), &[]),
            dir.path(),
            false,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("secrets_key_file")
                && missing.contains(KEY_VAR)
                && missing.contains("--dev"),
            "{missing}"
        );
        let bad = resolve(
            &sources(StorageSettings::default(), &[(KEY_VAR, "c2hvcnQ=")]),
            dir.path(),
            false,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains(KEY_VAR) && bad.contains("32 bytes"), "{bad}");

        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let check = resolve(
            &sources(StorageSettings::default(), &[]),
            &data,
            true,
            false,
        )
        .unwrap();
        assert!(check.cipher.is_none() && !data.join(DEV_KEY_FILE).exists());
        let first = resolve(&sources(StorageSettings::default(), &[]), &data, true, true).unwrap();
        assert!(first.cipher.is_some());
        let text = std::fs::read_to_string(data.join(DEV_KEY_FILE)).unwrap();
        let again = resolve(&sources(StorageSettings::default(), &[]), &data, true, true).unwrap();
        assert!(again.source.contains("development"));
        assert_eq!(
            std::fs::read_to_string(data.join(DEV_KEY_FILE)).unwrap(),
            text,
            "kept"
        );
        #[cfg(unix)]
        assert_eq!(
            ssf_store::private_files::mode_of(&data.join(DEV_KEY_FILE)),
            Some(0o600)
        );
    }
}
