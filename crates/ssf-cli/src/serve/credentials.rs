//! Development OAuth clients, made on first start when no client is configured: one for
//! receivers (`ssf.read ssf.manage`) and one for event producers (`ssf.events.publish`).
//!
//! Only the secrets' hashes are kept for the server (`dev-clients.json`); the secrets
//! themselves are written once, to `credentials.json` (mode 0600), for the operator to read.
//! Neither the secrets nor the hashes are ever logged.
//!
//! The development ticket bridge ([`dev_jit`]) sends its events as `dev-producer` and takes
//! webhooks for the system [`DEV_JIT_SYSTEM`] signed with a secret kept under `jit` in the same
//! file, made on the first start that runs the bridge.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use ssf_transmitter::auth::{ClientSettings, generate_secret, hash_secret};

use crate::input::{Context, Failure, usage, write_private_file};

/// The receiver client's id.
pub(crate) const DEV_RECEIVER: &str = "dev-receiver";
/// The producer client's id.
pub(crate) const DEV_PRODUCER: &str = "dev-producer";
const RECEIVER_SCOPES: [&str; 2] = ["ssf.read", "ssf.manage"];
const PRODUCER_SCOPES: [&str; 1] = ["ssf.events.publish"];
/// The development ticket system (generic webhooks at `/jit/webhooks/helpdesk`).
pub(crate) const DEV_JIT_SYSTEM: &str = "helpdesk";

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

/// What the development ticket bridge needs from `credentials.json`.
#[derive(Debug)]
pub(crate) struct DevJit {
    /// The `dev-producer` client secret (the emitter's client credentials).
    pub(crate) producer_secret: String,
    /// The HMAC key of the [`DEV_JIT_SYSTEM`] webhooks.
    pub(crate) webhook_secret: String,
    /// `credentials.json`.
    pub(crate) credentials_file: PathBuf,
}

/// Reads the producer secret from `credentials.json` and the development webhook secret,
/// adding one (file rewritten, mode 0600) when the file has none yet.
pub(crate) fn dev_jit(data_dir: &Path) -> Result<DevJit, Failure> {
    let credentials_file = data_dir.join("credentials.json");
    let shown = credentials_file.display();
    let text = std::fs::read_to_string(&credentials_file).or_usage(format!(
        "the development ticket bridge sends events with the dev-producer secret kept in \
         {shown}; restore that file (or remove dev-clients.json to make new development clients), \
         or configure [jit] in a config file (docs/jit.md)"
    ))?;
    let mut plain: serde_json::Value =
        serde_json::from_str(&text).or_runtime(format!("parsing {shown}"))?;
    let producer_secret = plain["producer"]["client_secret"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| usage(format!("{shown} has no producer.client_secret")))?;
    if let Some(secret) = plain["jit"]["webhook_secret"].as_str() {
        return Ok(DevJit {
            producer_secret,
            webhook_secret: secret.to_owned(),
            credentials_file,
        });
    }
    let webhook_secret = generate_secret();
    plain["jit"] = json!({
        "system": DEV_JIT_SYSTEM,
        "webhook_path": format!("/jit/webhooks/{DEV_JIT_SYSTEM}"),
        "signature_header": "X-JIT-Signature",
        "webhook_secret": webhook_secret,
        "note": "Sign each webhook body: X-JIT-Signature: sha256=<hex HMAC-SHA256 of the body \
                 with webhook_secret> (docs/jit.md).",
    });
    let text = serde_json::to_string_pretty(&plain).or_runtime("writing credentials")?;
    write_private_file(&credentials_file, &format!("{text}\n"), true)?;
    Ok(DevJit {
        producer_secret,
        webhook_secret,
        credentials_file,
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

    #[test]
    fn dev_jit_secret_is_added_once_next_to_the_clients() {
        let dir = tempfile::tempdir().unwrap();
        assert!(dev_jit(dir.path()).is_err(), "needs the clients first");
        ensure(dir.path()).unwrap();
        let first = dev_jit(dir.path()).unwrap();
        let again = dev_jit(dir.path()).unwrap();
        assert_eq!(first.webhook_secret, again.webhook_secret);
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&first.credentials_file).unwrap())
                .unwrap();
        assert_eq!(
            creds["producer"]["client_secret"],
            first.producer_secret.as_str()
        );
        assert_eq!(
            creds["jit"]["webhook_secret"],
            first.webhook_secret.as_str()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.credentials_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
