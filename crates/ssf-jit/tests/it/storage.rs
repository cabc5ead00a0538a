//! Choosing the backend by location, migrations ahead of a start, and the errors an operator
//! sees for a location that cannot work.

use ssf_jit::{Bridge, JitConfig, JitError, JitStore};
use ssf_types::{ManualClock, UnixMillis};

use crate::support::Db;

/// `migrate` is what `ssf migrate` runs: applying it twice is fine, and the store opened
/// afterwards at the same location finds its tables.
async fn migrate_ahead_then_open(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let location = db.location(&dir.path().join("nested"));
    ssf_jit::migrate(&location).await.unwrap();
    ssf_jit::migrate(&location).await.unwrap();
    let store = JitStore::open(&location).await.unwrap();
    assert_eq!(store.location().is_postgres(), db.is_postgres());
    assert_eq!(store.path().is_some(), !db.is_postgres());
    assert!(store.grants(false).await.unwrap().is_empty());
    assert!(store.outbox(None).await.unwrap().is_empty());
    store.close().await;
}

on_both_backends!(migrate_ahead_then_open);

#[tokio::test]
async fn sqlite_urls_and_paths_open_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a dir?#%").join("jit.db");
    let store = JitStore::open_path(&path).await.unwrap();
    store.close().await;
    assert!(
        path.exists(),
        "the file is at the path, special characters and all"
    );
    let url = format!("sqlite://{}", dir.path().join("b").join("jit.db").display());
    let store = JitStore::open(&url).await.unwrap();
    assert_eq!(store.pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(
        store.path(),
        Some(dir.path().join("b").join("jit.db").as_path())
    );
    store.close().await;
}

#[tokio::test]
async fn unusable_locations_say_what_to_write() {
    for location in ["mysql://db/jit", "", "sqlite://"] {
        let err = JitStore::open(location).await.unwrap_err();
        assert!(matches!(err, JitError::Config(_)), "{location:?}: {err}");
        assert!(
            err.to_string().contains("jit.database"),
            "{location:?}: {err}"
        );
    }
    let clock = std::sync::Arc::new(ManualClock::new(UnixMillis::from_secs(0)));
    let err = Bridge::open(JitConfig::default(), clock).await.unwrap_err();
    assert!(err.to_string().contains("postgres://"), "{err}");
}

/// Item 11a of issue 12 (SSF-SEC-14, D-TX-18): the bridge's SQLite file, its -wal/-shm and a
/// directory it creates are the owner's only; a world-readable file from an older version is
/// tightened when the store opens.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;

    use ssf_store::private_files::mode_of;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jit").join("jit.db");
    let store = JitStore::open_path(&path).await.unwrap();
    assert_eq!(mode_of(&path), Some(0o600));
    assert_eq!(mode_of(&dir.path().join("jit")), Some(0o700));
    let wal = dir.path().join("jit").join("jit.db-wal");
    assert!(wal.exists(), "the migrations wrote through the WAL");
    assert_eq!(mode_of(&wal), Some(0o600));
    store.close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = JitStore::open_path(&path).await.unwrap();
    assert_eq!(mode_of(&path), Some(0o600));
    store.close().await;
}
