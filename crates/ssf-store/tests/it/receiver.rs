//! The receiver store: the conformance suite on SQLite (a `receiver.db` file of its own), plus
//! SQLite specifics.

use std::sync::Arc;

use async_trait::async_trait;
use ssf_store::{
    receiver::{ReceiverStore, conformance::ReceiverHarness},
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::{ManualClock, UnixMillis};

/// Real SQLite files in a fresh tempdir per test.
pub(crate) struct SqliteReceiverHarness;

#[async_trait]
impl ReceiverHarness for SqliteReceiverHarness {
    type Db = tempfile::TempDir;

    async fn create_db(&self) -> Self::Db {
        tempfile::tempdir().unwrap()
    }

    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn ReceiverStore> {
        let path = db.path().join("data").join("receiver.db");
        Arc::new(
            SqliteReceiverStore::open_path(path, Arc::new(clock))
                .await
                .unwrap(),
        )
    }
}

mod conformance {
    ssf_store::receiver_conformance_tests!(super::SqliteReceiverHarness);
}

#[tokio::test]
async fn receiver_file_is_separate_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(UnixMillis(1_767_225_600_000)));
    let path = dir.path().join("receiver.db");
    let store = SqliteReceiverStore::open_path(&path, clock.clone())
        .await
        .unwrap();
    assert!(path.exists());
    assert_eq!(store.path(), path);
    store.close().await;
    // Reopening a migrated file works, and the transmitter store can share the directory.
    let again = SqliteReceiverStore::open_path(&path, clock).await.unwrap();
    assert_eq!(again.pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(
        again.pragma("synchronous").await.unwrap(),
        "2",
        "FULL by default"
    );
    assert_eq!(again.seen_count().await.unwrap(), 0);
    again.close().await;
    assert!(matches!(
        again
            .append_audit(ssf_store::NewAuditEntry {
                actor: "a".into(),
                action: "b".into(),
                stream_id: None,
                detail: serde_json::json!({}),
            })
            .await,
        Err(ssf_store::StoreError::Closed)
    ));
}
