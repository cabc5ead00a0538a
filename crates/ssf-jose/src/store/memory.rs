//! A key store held only in memory: for tests, benchmarks and one-off signing.

use std::sync::{Arc, PoisonError, RwLock};

use ssf_types::{Clock, KeyId};

use super::{KeyInfo, KeyRing, KeyState, KeyStore};
use crate::{Algorithm, JoseError, Jwks, KeyPair, SigningKey};

/// A [`KeyStore`] in memory. Keys are lost when it is dropped.
#[derive(Debug)]
pub struct MemoryKeyStore {
    ring: RwLock<KeyRing>,
    clock: Arc<dyn Clock>,
}

impl MemoryKeyStore {
    /// An empty store; [`KeyStore::stage`] then [`KeyStore::promote`] give it a signing key.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            ring: RwLock::new(KeyRing::default()),
            clock,
        }
    }

    /// A store whose current key is `key`.
    pub fn with_current(clock: Arc<dyn Clock>, key: KeyPair) -> Self {
        let store = Self::new(clock);
        let now = store.clock.now();
        store.write().add(key, KeyState::Current, now, None);
        store
    }

    /// Rotation step 1 with a key made elsewhere (imported rather than generated).
    pub fn stage_key(&self, key: KeyPair) -> Result<KeyInfo, JoseError> {
        let mut ring = self.write();
        ring.check_stage(key.kid())?;
        Ok(ring.add(key, KeyState::Next, self.clock.now(), None))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        // Every mutation completes under the lock, so a poisoned ring is still consistent.
        self.ring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, KeyRing> {
        self.ring.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyStore for MemoryKeyStore {
    fn current(&self) -> Result<Arc<dyn SigningKey>, JoseError> {
        let ring = self.read();
        let entry = ring.current().ok_or(JoseError::NoSigningKey)?;
        Ok(entry.key.clone())
    }

    fn jwks(&self) -> Result<Jwks, JoseError> {
        Ok(self.read().jwks())
    }

    fn keys(&self) -> Result<Vec<KeyInfo>, JoseError> {
        Ok(self.read().infos())
    }

    fn stage(&self, alg: Algorithm, kid: Option<KeyId>) -> Result<KeyInfo, JoseError> {
        // Generate outside the lock: RSA generation takes a while.
        let key = KeyPair::generate(alg, kid)?;
        self.stage_key(key)
    }

    fn promote(&self) -> Result<KeyInfo, JoseError> {
        self.write().promote(self.clock.now())
    }

    fn retire(&self, kid: &KeyId) -> Result<KeyInfo, JoseError> {
        Ok(self.write().retire(kid)?.info)
    }
}
