//! The push `authorization_header` at rest (SSF-SEC-14, D-TX-18), on SQLite and PostgreSQL:
//! the stored row holds only `enc:v1:...`, the push worker still sends the receiver's value,
//! rows an older version wrote in plaintext keep working and are re-encrypted, a wrong key is
//! a clear error naming the stream, and a previous key reads old values during a rotation.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use ssf_http::RetryConfig;
use ssf_store::{DeliveryMethod, NewStream, SqliteStore, TransmitterStore};
use ssf_transmitter::{
    ApiError, TransmitterConfig,
    secrets::{ResealReport, SecretsCipher, SecretsKey},
};
use ssf_types::{StreamId, SystemClock};

use crate::{
    fake_receiver::{FakeReceiver, PUSH, publish, push_stream, revoked},
    postgres::Schema,
    support::{RECEIVER, SESSION_REVOKED, TestServer},
};

const SECRET: &str = "Bearer rx-secret-at-rest";

fn fast_push(c: &mut TransmitterConfig) {
    c.push.retry = RetryConfig::default();
    c.push.retry.delays = vec![Duration::from_millis(50)];
    c.push.retry.jitter_percent = 0;
    c.push.idle_poll_interval = Duration::from_millis(50);
}

/// A store that outlives the servers started on it.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(Schema),
}

impl Backend {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn open(&self) -> Arc<dyn TransmitterStore> {
        match self {
            Self::Sqlite(dir) => Arc::new(
                SqliteStore::open_path(dir.path().join("tx.db"), Arc::new(SystemClock))
                    .await
                    .unwrap(),
            ),
            Self::Postgres(schema) => schema.node().await,
        }
    }

    /// Every byte SQLite keeps on disk (main file and WAL), to look for the secret.
    fn sqlite_bytes(&self) -> Option<Vec<u8>> {
        let Self::Sqlite(dir) = self else {
            return None;
        };
        let mut bytes = std::fs::read(dir.path().join("tx.db")).unwrap();
        bytes.extend(std::fs::read(dir.path().join("tx.db-wal")).unwrap_or_default());
        Some(bytes)
    }
}

async fn start(store: Arc<dyn TransmitterStore>, cipher: SecretsCipher) -> TestServer {
    TestServer::builder()
        .store(store)
        .secrets(cipher)
        .with_workers()
        .configure(fast_push)
        .start()
        .await
}

async fn stored_header(store: &dyn TransmitterStore, id: &str) -> String {
    let record = store
        .find_stream(&StreamId::new(id))
        .await
        .unwrap()
        .unwrap();
    record.config["delivery"]["authorization_header"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pushed_authorization(server: &TestServer, rx: &FakeReceiver, n: usize) -> String {
    publish(server, &revoked(&format!("user{n}@example.com"))).await;
    let got = rx.wait_for(n).await;
    got[n - 1].headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn encrypted_at_rest_and_pushed_in_clear(backend: Backend) {
    let key = SecretsKey::generate();
    let store = backend.open().await;
    let server = start(Arc::clone(&store), SecretsCipher::new(key.clone())).await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let id = push_stream(&server, &token, &rx.url, Some(SECRET), &[SESSION_REVOKED]).await;

    let raw = stored_header(store.as_ref(), &id).await;
    assert!(
        raw.starts_with("enc:v1:") && !raw.contains("rx-secret"),
        "{raw}"
    );
    if let Some(bytes) = backend.sqlite_bytes() {
        let needle = b"rx-secret-at-rest";
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the database file never holds the plaintext"
        );
    }
    assert_eq!(
        pushed_authorization(&server, &rx, 1).await,
        SECRET,
        "SSF-STREAM-17"
    );
    server.shutdown().await;

    // A restart with the same key reads it (nothing to re-encrypt).
    let again = start(backend.open().await, SecretsCipher::new(key)).await;
    let report = ssf_transmitter::secrets::reseal_stored(&again.state)
        .await
        .unwrap();
    assert_eq!(
        report,
        ResealReport {
            checked: 1,
            resealed: 0
        }
    );
    assert_eq!(pushed_authorization(&again, &rx, 2).await, SECRET);
    again.shutdown().await;
}

async fn legacy_plaintext_rows_work_and_are_resealed(backend: Backend) {
    let store = backend.open().await;
    let rx = FakeReceiver::start().await;
    // A row as an older version wrote it: the header in plaintext.
    let config = json!({"stream_id": "legacy", "iss": "x", "aud": "y",
        "delivery": {"method": PUSH, "endpoint_url": rx.url, "authorization_header": SECRET},
        "events_requested": [SESSION_REVOKED], "events_delivered": [SESSION_REVOKED]});
    store
        .create_stream(NewStream::new(
            StreamId::new("legacy"),
            RECEIVER,
            DeliveryMethod::Push,
            config,
        ))
        .await
        .unwrap();
    let server = start(
        Arc::clone(&store),
        SecretsCipher::new(SecretsKey::generate()),
    )
    .await;
    assert_eq!(
        pushed_authorization(&server, &rx, 1).await,
        SECRET,
        "plaintext still used"
    );
    let report = ssf_transmitter::secrets::reseal_stored(&server.state)
        .await
        .unwrap();
    assert_eq!(
        report,
        ResealReport {
            checked: 1,
            resealed: 1
        }
    );
    let raw = stored_header(store.as_ref(), "legacy").await;
    assert!(raw.starts_with("enc:v1:"), "{raw}");
    assert_eq!(
        pushed_authorization(&server, &rx, 2).await,
        SECRET,
        "and after re-encryption"
    );
    server.shutdown().await;
}

async fn a_wrong_key_is_named_and_a_previous_key_rotates(backend: Backend) {
    let old = SecretsKey::generate();
    let store = backend.open().await;
    let server = start(Arc::clone(&store), SecretsCipher::new(old.clone())).await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let id = push_stream(&server, &token, &rx.url, Some(SECRET), &[SESSION_REVOKED]).await;
    server.shutdown().await;

    let new = SecretsKey::generate();
    let wrong = start(backend.open().await, SecretsCipher::new(new.clone())).await;
    let err = ssf_transmitter::secrets::reseal_stored(&wrong.state)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::SecretUnreadable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&id) && text.contains("SSF_SECRETS_KEY") && !text.contains("rx-secret"),
        "{text}"
    );
    wrong.shutdown().await;

    let rotating = start(
        backend.open().await,
        SecretsCipher::new(new.clone()).with_previous(Some(old)),
    )
    .await;
    let report = ssf_transmitter::secrets::reseal_stored(&rotating.state)
        .await
        .unwrap();
    assert_eq!(report.resealed, 1);
    rotating.shutdown().await;
    let rotated = start(backend.open().await, SecretsCipher::new(new)).await;
    assert_eq!(pushed_authorization(&rotated, &rx, 1).await, SECRET);
    rotated.shutdown().await;
}

macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Backend::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(schema) = super::Schema::create().await {
                    super::$name(super::Backend::Postgres(schema)).await;
                }
            }
        }
    };
}

on_both_backends!(encrypted_at_rest_and_pushed_in_clear);
on_both_backends!(legacy_plaintext_rows_work_and_are_resealed);
on_both_backends!(a_wrong_key_is_named_and_a_previous_key_rotates);
