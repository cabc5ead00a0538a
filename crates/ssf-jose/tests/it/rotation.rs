//! Key rotation (SSF-SEC-13): stage -> promote -> retire, in memory and on disk.

use std::sync::Arc;

use ssf_jose::{
    Algorithm, FileKeyStore, JoseError, JwksSnapshot, KeyState, KeyStore, MemoryKeyStore,
    SetSigner, SetVerifier,
};
use ssf_types::KeyId;

use crate::common;

/// What a receiver would see right now: a verifier over the store's published JWKS.
fn receiver(store: &dyn KeyStore) -> SetVerifier {
    let jwks = store.jwks().unwrap();
    assert!(jwks.is_public());
    SetVerifier::new(
        common::all_algs(),
        Arc::new(JwksSnapshot::new(&jwks)),
        common::clock(),
    )
}

fn kids(store: &dyn KeyStore) -> Vec<(String, KeyState)> {
    store
        .keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.kid.into_string(), k.state))
        .collect()
}

fn published(store: &dyn KeyStore) -> Vec<String> {
    store
        .jwks()
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.kid.unwrap().into_string())
        .collect()
}

fn rotate_through_all_steps(store: Arc<dyn KeyStore>) {
    let signer = SetSigner::new(store.clone());
    assert!(matches!(store.current(), Err(JoseError::NoSigningKey)));
    assert!(matches!(store.promote(), Err(JoseError::Rotation { .. })));

    // First key: stage, then promote.
    store
        .stage(Algorithm::Es256, Some(KeyId::new("k1")))
        .unwrap();
    assert!(matches!(
        signer.sign(&common::claims()),
        Err(JoseError::NoSigningKey)
    ));
    store.promote().unwrap();
    let old_set = signer.sign(&common::claims()).unwrap();
    assert_eq!(kids(store.as_ref()), vec![("k1".into(), KeyState::Current)]);

    // Step 1: publish next; it is in the JWKS but does not sign yet.
    let next = store
        .stage(Algorithm::EdDsa, Some(KeyId::new("k2")))
        .unwrap();
    assert_eq!(next.state, KeyState::Next);
    assert!(matches!(
        store.stage(Algorithm::EdDsa, None),
        Err(JoseError::Rotation { .. })
    ));
    assert_eq!(published(store.as_ref()), vec!["k1", "k2"]);
    let still_old = signer.sign(&common::claims()).unwrap();
    assert_eq!(
        receiver(store.as_ref()).verify(&still_old).unwrap().kid(),
        "k1"
    );

    // A receiver that fetched the JWKS now can verify SETs from both keys later.
    let early_receiver = receiver(store.as_ref());

    // Step 2: promote; new SETs use k2, k1 stays published so queued SETs still verify.
    let promoted = store.promote().unwrap();
    assert_eq!(promoted.kid.as_str(), "k2");
    assert_eq!(
        kids(store.as_ref()),
        vec![
            ("k2".into(), KeyState::Current),
            ("k1".into(), KeyState::Previous)
        ]
    );
    let new_set = signer.sign(&common::claims()).unwrap();
    assert_eq!(early_receiver.verify(&new_set).unwrap().kid(), "k2");
    assert!(receiver(store.as_ref()).verify(&old_set).is_ok());
    assert!(matches!(
        store.retire(&KeyId::new("k2")),
        Err(JoseError::Rotation { .. })
    ));

    // Step 3: retire the old key; it leaves the JWKS and its SETs no longer verify.
    store.retire(&KeyId::new("k1")).unwrap();
    assert_eq!(published(store.as_ref()), vec!["k2"]);
    assert!(matches!(
        receiver(store.as_ref()).verify(&old_set),
        Err(JoseError::UnknownKid)
    ));
    assert!(receiver(store.as_ref()).verify(&new_set).is_ok());
    assert!(matches!(
        store.retire(&KeyId::new("k1")),
        Err(JoseError::UnknownKey)
    ));
}

#[test]
fn memory_store_rotation() {
    rotate_through_all_steps(Arc::new(MemoryKeyStore::new(common::clock())));
}

#[test]
fn file_store_rotation_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let store = Arc::new(FileKeyStore::open(&path, common::clock()).unwrap());
    rotate_through_all_steps(store.clone());

    // Everything survives a reopen; the retired key's file is gone.
    let reopened = FileKeyStore::open(&path, common::clock()).unwrap();
    assert_eq!(kids(&reopened), vec![("k2".into(), KeyState::Current)]);
    assert_eq!(reopened.jwks().unwrap(), store.jwks().unwrap());
    let pems: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    assert_eq!(pems.len(), 1, "{pems:?}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path.join(&pems[0])), 0o600);
        assert_eq!(mode(&path.join("keys.json")), 0o600);
        assert_eq!(mode(&path), 0o700);
    }

    // Another process staging a key is seen after reload.
    let other = FileKeyStore::open(&path, common::clock()).unwrap();
    other
        .stage(Algorithm::Rs256, Some(KeyId::new("k3")))
        .unwrap();
    assert_eq!(published(&reopened), vec!["k2"]);
    reopened.reload().unwrap();
    assert_eq!(published(&reopened), vec!["k2", "k3"]);
}

/// Item 11a of issue 12 (SSF-SEC-14): a key directory an older version (or a copy) left open
/// to others is tightened when the store opens: directory 0700, index and keys 0600.
#[cfg(unix)]
#[test]
fn file_store_tightens_loose_modes_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let store = FileKeyStore::open(&path, common::clock()).unwrap();
    store
        .stage(Algorithm::Es256, Some(KeyId::new("k1")))
        .unwrap();
    let pem = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .unwrap();
    set(&path, 0o755);
    set(&path.join("keys.json"), 0o644);
    set(&pem, 0o644);
    FileKeyStore::open(&path, common::clock()).unwrap();
    assert_eq!(mode(&path), 0o700);
    assert_eq!(mode(&path.join("keys.json")), 0o600);
    assert_eq!(mode(&pem), 0o600);
}

#[test]
fn file_store_refuses_a_corrupt_index() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.json"), br#"{"version":1,"keys":[{"kid":"a","alg":"ES256","state":"current","created_at":0,"state_since":0,"file":"../etc/passwd"}]}"#).unwrap();
    assert!(matches!(
        FileKeyStore::open(dir.path(), common::clock()),
        Err(JoseError::StoreCorrupt { .. })
    ));
    std::fs::write(dir.path().join("keys.json"), b"{").unwrap();
    assert!(matches!(
        FileKeyStore::open(dir.path(), common::clock()),
        Err(JoseError::StoreCorrupt { .. })
    ));
}

#[test]
fn timestamps_come_from_the_injected_clock() {
    let clock = common::clock();
    let store = MemoryKeyStore::new(clock.clone());
    let staged = store.stage(Algorithm::EdDsa, None).unwrap();
    clock.advance(5_000);
    let promoted = store.promote().unwrap();
    assert_eq!(promoted.created_at, staged.created_at);
    assert_eq!(promoted.state_since.0 - staged.state_since.0, 5_000);
    assert_eq!(staged.created_at.as_secs(), common::NOW);
}
