//! Development OAuth clients, made on first start when no client is configured: one for
//! receivers (`ssf.read ssf.manage`) and one for event producers (`ssf.events.publish`).
//!
//! Only the secrets' hashes are kept for the server (`dev-clients.json`); the secrets
//! themselves are written once, to `credentials.json` (mode 0600), for the operator to read.
//! Neither the secrets nor the hashes are ever logged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use ssf_transmitter::auth::{ClientSettings, generate_secret, hash_secret};

use crate::input::{Context, Failure, write_private_file};

/// The receiver client's id.
pub(crate) const DEV_RECEIVER: &str = "dev-receiver";
/// The producer client's id.
pub(crate) const DEV_PRODUCER: &str = "dev-producer";
const RECEIVER_SCOPES: [&str; 2] = ["ssf.read", "ssf.manage"];
const PRODUCER_SCOPES: [&str; 1] = ["ssf.events.publish"];

/// The development clients and where their secrets are.
#[derive(Debug)]
pub(crate) struct DevClients {
    /// The clients, with hashed secrets, for `transmitter.auth.clients`.
    pub(crate) clients: Vec<ClientSettings>,
    /// `credentials.json`.
    pub(crate) credentials_file: PathBuf,
    /// Whether they were created by this start.
    pub(crate) created: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    client_id: String,
    secret_hash: String,
    scopes: Vec<String>,
}

/// Loads the development clients from `data_dir`, creating them on first start.
pub(crate) fn ensure(data_dir: &Path) -> Result<DevClients, Failure> {
    let hashes = data_dir.join("dev-clients.json");
    let credentials_file = data_dir.join("credentials.json");
    if hashes.exists() {
        let text =
            std::fs::read_to_string(&hashes).or_runtime(format!("reading {}", hashes.display()))?;
        let stored: Vec<Stored> =
            serde_json::from_str(&text).or_runtime(format!("parsing {}", hashes.display()))?;
        let clients = stored
            .into_iter()
            .map(|s| ClientSettings::new(s.client_id, s.secret_hash, s.scopes))
            .collect();
        return Ok(DevClients {
            clients,
            credentials_file,
            created: false,
        });
    }
    let receiver_secret = generate_secret();
    let producer_secret = generate_secret();
    let plain = json!({
        "note": "Development OAuth clients made by `ssf serve` on first start. Keep this file \
                 secret; delete it once the secrets are stored elsewhere (the server keeps only \
                 their hashes, in dev-clients.json).",
        "receiver": {
            "client_id": DEV_RECEIVER,
            "client_secret": receiver_secret,
            "scopes": RECEIVER_SCOPES,
        },
        "producer": {
            "client_id": DEV_PRODUCER,
            "client_secret": producer_secret,
            "scopes": PRODUCER_SCOPES,
        },
    });
    let text = serde_json::to_string_pretty(&plain).or_runtime("writing credentials")?;
    write_private_file(&credentials_file, &format!("{text}\n"), true)?;
    let stored = [
        Stored {
            client_id: DEV_RECEIVER.to_owned(),
            secret_hash: hash_secret(&receiver_secret),
            scopes: RECEIVER_SCOPES.map(str::to_owned).to_vec(),
        },
        Stored {
            client_id: DEV_PRODUCER.to_owned(),
            secret_hash: hash_secret(&producer_secret),
            scopes: PRODUCER_SCOPES.map(str::to_owned).to_vec(),
        },
    ];
    let text = serde_json::to_string_pretty(&stored).or_runtime("writing client hashes")?;
    write_private_file(&hashes, &format!("{text}\n"), true)?;
    let clients = stored
        .into_iter()
        .map(|s| ClientSettings::new(s.client_id, s.secret_hash, s.scopes))
        .collect();
    Ok(DevClients {
        clients,
        credentials_file,
        created: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded_and_secrets_match_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path()).unwrap();
        assert!(first.created);
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&first.credentials_file).unwrap())
                .unwrap();
        let secret = creds["producer"]["client_secret"].as_str().unwrap();
        let producer = first
            .clients
            .iter()
            .find(|c| c.client_id == DEV_PRODUCER)
            .unwrap();
        assert!(ssf_transmitter::auth::verify_secret(
            &producer.secret_hash,
            secret
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.credentials_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let hashes = std::fs::read_to_string(dir.path().join("dev-clients.json")).unwrap();
        assert!(
            !hashes.contains(secret),
            "only hashes are kept for the server"
        );
        let again = ensure(dir.path()).unwrap();
        assert!(!again.created);
        assert_eq!(again.clients, first.clients);
    }
}
