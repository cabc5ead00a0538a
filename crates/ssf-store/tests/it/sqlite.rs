//! SQLite-specific behaviour: file creation, pragmas, durability options.

use std::sync::Arc;

use ssf_store::{Durability, SqliteOptions, SqliteStore, TransmitterStore};
use ssf_types::{ManualClock, UnixMillis};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UnixMillis(1_767_225_600_000)))
}

#[tokio::test]
async fn open_creates_directory_file_and_applies_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("ssf.db");
    let store = SqliteStore::open_path(&path, clock()).await.unwrap();
    assert!(path.exists());
    assert_eq!(store.pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(
        store.pragma("synchronous").await.unwrap(),
        "2",
        "FULL by default"
    );
    assert_eq!(store.pragma("foreign_keys").await.unwrap(), "1");
    assert_eq!(store.pragma("busy_timeout").await.unwrap(), "5000");
    assert!(store.list_all_streams(None, 10).await.unwrap().is_empty());
    store.close().await;
    // Reopening an existing, migrated file is fine.
    let again = SqliteStore::open_path(&path, clock()).await.unwrap();
    again.close().await;
}

#[tokio::test]
async fn normal_durability_is_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path().join("ssf.db"));
    options.durability = Durability::Normal;
    let store = SqliteStore::open(options, clock()).await.unwrap();
    assert_eq!(store.pragma("synchronous").await.unwrap(), "1");
    assert!(
        store
            .pragma("synchronous; DROP TABLE streams")
            .await
            .is_err()
    );
    store.close().await;
}

#[tokio::test]
async fn closed_store_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_path(dir.path().join("ssf.db"), clock())
        .await
        .unwrap();
    store.close().await;
    let err = store.append_audit(ssf_store::NewAuditEntry {
        actor: "a".into(),
        action: "b".into(),
        stream_id: None,
        detail: serde_json::json!({}),
    });
    assert!(matches!(err.await, Err(ssf_store::StoreError::Closed)));
}

/// Group commit: concurrent writes share commits, and one failing write (a duplicate jti) rolls
/// back alone while the others in its group are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_does_not_spoil_its_group() {
    use ssf_store::{DeliveryMethod, NewSet, NewStream};
    use ssf_types::{Jti, StreamId};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open_path(dir.path().join("ssf.db"), clock())
            .await
            .unwrap(),
    );
    let stream = StreamId::new("s1");
    let new = NewStream::new(
        stream.clone(),
        "rp",
        DeliveryMethod::Poll,
        serde_json::json!({}),
    );
    store.create_stream(new).await.unwrap();
    let set = |jti: String| NewSet {
        stream_id: stream.clone(),
        jti: Jti::new(jti),
        subject_key: "k".into(),
        set_jwt: "jwt".into(),
    };
    store.enqueue(vec![set("dup".into())]).await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            let jti = if i == 100 {
                "dup".to_owned()
            } else {
                format!("j{i}")
            };
            let batch = vec![set(jti)];
            tokio::spawn(async move { store.enqueue(batch).await })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        if let Err(err) = task.await.unwrap() {
            assert!(matches!(err, ssf_store::StoreError::Conflict(_)), "{err:?}");
            failed += 1;
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(store.outbox_counts(None).await.unwrap().pending, 200);
}

/// Item 11a of issue 12 (SSF-SEC-14, D-TX-18): a new database, its `-wal` and `-shm` and its
/// directory are readable by the owner only; files an older version left open to others are
/// tightened when the store opens.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_new_and_old() {
    use std::os::unix::fs::PermissionsExt;

    use ssf_store::{
        private_files::mode_of, receiver::ReceiverStore, sqlite::receiver::SqliteReceiverStore,
    };

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("ssf.db");
    let store = SqliteStore::open_path(&path, clock()).await.unwrap();
    // A write makes SQLite create the -wal and -shm itself.
    store
        .append_audit(ssf_store::NewAuditEntry {
            actor: "a".into(),
            action: "b".into(),
            stream_id: None,
            detail: serde_json::json!({}),
        })
        .await
        .unwrap();
    let wal = dir.path().join("data").join("ssf.db-wal");
    let shm = dir.path().join("data").join("ssf.db-shm");
    assert!(wal.exists() && shm.exists());
    assert_eq!(mode_of(&path), Some(0o600));
    assert_eq!(
        mode_of(&wal),
        Some(0o600),
        "SQLite copies the main file's mode"
    );
    assert_eq!(mode_of(&shm), Some(0o600));
    assert_eq!(mode_of(&dir.path().join("data")), Some(0o700));
    store.close().await;

    // Left world-readable by an older version: tightened at the next open.
    let loose = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&path, loose.clone()).unwrap();
    std::fs::write(&wal, b"").unwrap();
    std::fs::set_permissions(&wal, loose).unwrap();
    let again = SqliteStore::open_path(&path, clock()).await.unwrap();
    assert_eq!(mode_of(&path), Some(0o600));
    assert_eq!(mode_of(&wal), Some(0o600));
    again.close().await;

    let rx_path = dir.path().join("rx").join("receiver.sqlite");
    let rx = SqliteReceiverStore::open_path(&rx_path, clock())
        .await
        .unwrap();
    assert_eq!(mode_of(&rx_path), Some(0o600));
    assert_eq!(mode_of(&dir.path().join("rx")), Some(0o700));
    rx.close().await;
}
