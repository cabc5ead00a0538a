//! Development OAuth clients, made on first start when no client is configured: one for
//! receivers (`ssf.read ssf.manage`), one for event producers and one for the ticket bridge
//! (both `ssf.events.publish`).
//!
//! Only the bridge can grant (D-TX-15): `dev-bridge` may publish nothing but CAEP
//! `token-claims-change` with the bridge's claim names, and `dev-producer` every other CAEP and
//! RISC event. These allow lists are the code's, applied on every start, not read from
//! `dev-clients.json`.
//!
//! Only the secrets' hashes are kept for the server (`dev-clients.json`); the secrets
//! themselves are written once, to `credentials.json` (mode 0600), for the operator to read.
//! Neither the secrets nor the hashes are ever logged. A data directory made before `dev-bridge`
//! existed gets it on the next start (secret added to `credentials.json`).
//!
//! The development ticket bridge ([`dev_jit`]) sends its events as `dev-bridge` and takes
//! webhooks for the system [`DEV_JIT_SYSTEM`] signed with a secret kept under `jit` in the same
//! file, made on the first start that runs the bridge.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use ssf_transmitter::{
    auth::{generate_secret, hash_secret},
    config::ClientSettings,
};
use ssf_types::EventType;

use crate::input::{Context, Failure, usage, write_private_file};

/// The receiver client's id.
pub(crate) const DEV_RECEIVER: &str = "dev-receiver";
/// The producer client's id: every CAEP and RISC event but `token-claims-change`.
pub(crate) const DEV_PRODUCER: &str = "dev-producer";
/// The ticket bridge's client id: `token-claims-change` with the bridge's claims only.
pub(crate) const DEV_BRIDGE: &str = "dev-bridge";
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

/// Loads the development clients from `data_dir`, creating them on first start (and
/// `dev-bridge` in a directory made before it existed).
pub(crate) fn ensure(data_dir: &Path) -> Result<DevClients, Failure> {
    let hashes = data_dir.join("dev-clients.json");
    let credentials_file = data_dir.join("credentials.json");
    if hashes.exists() {
        let text =
            std::fs::read_to_string(&hashes).or_runtime(format!("reading {}", hashes.display()))?;
        let mut stored: Vec<Stored> =
            serde_json::from_str(&text).or_runtime(format!("parsing {}", hashes.display()))?;
        if !stored.iter().any(|s| s.client_id == DEV_BRIDGE) && credentials_file.exists() {
            stored.push(add_bridge(&credentials_file)?);
            write_hashes(&hashes, &stored)?;
        }
        return Ok(DevClients {
            clients: stored.into_iter().map(client).collect(),
            credentials_file,
            created: false,
        });
    }
    let receiver_secret = generate_secret();
    let producer_secret = generate_secret();
    let bridge_secret = generate_secret();
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
        "bridge": bridge_entry(&bridge_secret),
    });
    let text = serde_json::to_string_pretty(&plain).or_runtime("writing credentials")?;
    write_private_file(&credentials_file, &format!("{text}\n"), true)?;
    let stored = vec![
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
        bridge_stored(&bridge_secret),
    ];
    write_hashes(&hashes, &stored)?;
    Ok(DevClients {
        clients: stored.into_iter().map(client).collect(),
        credentials_file,
        created: true,
    })
}

/// A stored client with the development allow lists of its id (D-TX-15).
fn client(stored: Stored) -> ClientSettings {
    let client = ClientSettings::new(stored.client_id, stored.secret_hash, stored.scopes);
    match client.client_id.as_str() {
        DEV_PRODUCER => client.with_events(
            EventType::standard()
                .filter(|t| !t.is_ssf() && *t != EventType::TokenClaimsChange)
                .map(|t| t.as_str().to_owned()),
        ),
        DEV_BRIDGE => {
            let names = ssf_jit::config::ClaimNames::default();
            client
                .with_events([EventType::TokenClaimsChange.as_str()])
                .with_claims([
                    names.asset,
                    names.access,
                    names.expires,
                    names.groups_add,
                    names.groups_remove,
                ])
        }
        _ => client,
    }
}

fn bridge_entry(secret: &str) -> serde_json::Value {
    json!({
        "client_id": DEV_BRIDGE,
        "client_secret": secret,
        "scopes": PRODUCER_SCOPES,
        "note": "The development ticket bridge's client: it alone may publish token-claims-change.",
    })
}

fn bridge_stored(secret: &str) -> Stored {
    Stored {
        client_id: DEV_BRIDGE.to_owned(),
        secret_hash: hash_secret(secret),
        scopes: PRODUCER_SCOPES.map(str::to_owned).to_vec(),
    }
}

/// Adds a `dev-bridge` secret to an existing `credentials.json` (mode 0600 kept).
fn add_bridge(credentials_file: &Path) -> Result<Stored, Failure> {
    let shown = credentials_file.display();
    let text = std::fs::read_to_string(credentials_file).or_runtime(format!("reading {shown}"))?;
    let mut plain: serde_json::Value =
        serde_json::from_str(&text).or_runtime(format!("parsing {shown}"))?;
    let secret = generate_secret();
    plain["bridge"] = bridge_entry(&secret);
    let text = serde_json::to_string_pretty(&plain).or_runtime("writing credentials")?;
    write_private_file(credentials_file, &format!("{text}\n"), true)?;
    tracing::info!(file = %shown, "development client dev-bridge added");
    Ok(bridge_stored(&secret))
}

fn write_hashes(hashes: &Path, stored: &[Stored]) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(stored).or_runtime("writing client hashes")?;
    write_private_file(hashes, &format!("{text}\n"), true)
}

/// What the development ticket bridge needs from `credentials.json`.
#[derive(Debug)]
pub(crate) struct DevJit {
    /// The `dev-bridge` client secret (the emitter's client credentials).
    pub(crate) bridge_secret: String,
    /// The HMAC key of the [`DEV_JIT_SYSTEM`] webhooks.
    pub(crate) webhook_secret: String,
    /// `credentials.json`.
    pub(crate) credentials_file: PathBuf,
}

/// Reads the `dev-bridge` secret from `credentials.json` and the development webhook secret,
/// adding one (file rewritten, mode 0600) when the file has none yet.
pub(crate) fn dev_jit(data_dir: &Path) -> Result<DevJit, Failure> {
    let credentials_file = data_dir.join("credentials.json");
    let shown = credentials_file.display();
    let text = std::fs::read_to_string(&credentials_file).or_usage(format!(
        "the development ticket bridge sends events with the dev-bridge secret kept in \
         {shown}; restore that file (or remove dev-clients.json to make new development clients), \
         or configure [jit] in a config file (docs/jit.md)"
    ))?;
    let mut plain: serde_json::Value =
        serde_json::from_str(&text).or_runtime(format!("parsing {shown}"))?;
    let bridge_secret = plain["bridge"]["client_secret"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            usage(format!(
                "{shown} has no bridge.client_secret: start the transmitter role once (it adds \
                 dev-bridge), or remove dev-clients.json to make new development clients"
            ))
        })?;
    if let Some(secret) = plain["jit"]["webhook_secret"].as_str() {
        return Ok(DevJit {
            bridge_secret,
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
        bridge_secret,
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
    fn only_the_dev_bridge_may_grant_d_tx_15() {
        let dir = tempfile::tempdir().unwrap();
        let clients = ensure(dir.path()).unwrap().clients;
        let find = |id: &str| clients.iter().find(|c| c.client_id == id).unwrap();
        let tcc = EventType::TokenClaimsChange.as_str().to_owned();
        let producer = find(DEV_PRODUCER).events.clone().unwrap();
        assert!(!producer.contains(&tcc), "{producer:?}");
        assert!(producer.contains(&EventType::SessionRevoked.as_str().to_owned()));
        assert!(producer.contains(&EventType::AccountDisabled.as_str().to_owned()));
        assert_eq!(find(DEV_PRODUCER).claims, None);
        let bridge = find(DEV_BRIDGE);
        assert_eq!(bridge.events, Some(vec![tcc]));
        assert_eq!(
            bridge.claims,
            Some(
                [
                    "customer_id",
                    "access_allowed",
                    "expires_at",
                    "groups_add",
                    "groups_remove"
                ]
                .map(str::to_owned)
                .to_vec()
            )
        );
        assert_eq!(find(DEV_RECEIVER).events, None);
        let mut settings = ssf_transmitter::TransmitterConfig::default().auth;
        settings.clients = clients;
        settings.validate().unwrap();
    }

    #[test]
    fn a_data_dir_from_before_the_bridge_client_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let old = [
            (DEV_RECEIVER, &RECEIVER_SCOPES[..]),
            (DEV_PRODUCER, &PRODUCER_SCOPES[..]),
        ];
        let stored: Vec<Stored> = old
            .iter()
            .map(|(id, scopes)| Stored {
                client_id: (*id).to_owned(),
                secret_hash: hash_secret("old"),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect();
        write_hashes(&dir.path().join("dev-clients.json"), &stored).unwrap();
        let creds = json!({"producer": {"client_id": DEV_PRODUCER, "client_secret": "old"}});
        write_private_file(
            &dir.path().join("credentials.json"),
            &creds.to_string(),
            true,
        )
        .unwrap();
        assert!(dev_jit(dir.path()).is_err(), "no bridge secret yet");

        let loaded = ensure(dir.path()).unwrap();
        assert!(!loaded.created);
        let bridge = loaded
            .clients
            .iter()
            .find(|c| c.client_id == DEV_BRIDGE)
            .unwrap();
        let jit = dev_jit(dir.path()).unwrap();
        assert!(ssf_transmitter::auth::verify_secret(
            &bridge.secret_hash,
            &jit.bridge_secret
        ));
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&jit.credentials_file).unwrap()).unwrap();
        assert_eq!(creds["producer"]["client_secret"], "old", "kept");
        assert_eq!(ensure(dir.path()).unwrap().clients.len(), 3, "added once");
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
            creds["bridge"]["client_secret"],
            first.bridge_secret.as_str()
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
