//! Key stores: which key signs, which keys are published, and rotation.
//!
//! Rotation has three steps, each a method of [`KeyStore`] (checklist SSF-SEC-13):
//! 1. [`stage`](KeyStore::stage): a new key is published in the JWKS as `next` but does not sign
//!    yet, so receivers can fetch it before the first SET signed with it arrives;
//! 2. [`promote`](KeyStore::promote): the staged key becomes `current` and signs; the old current
//!    key stays published as `previous`, since SETs it signed may still be in queues;
//! 3. [`retire`](KeyStore::retire): a `previous` key is removed from the store and the JWKS once
//!    every SET it signed has been delivered or has expired.

mod file;
mod memory;

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};
use ssf_types::{KeyId, UnixMillis};

pub use self::{file::FileKeyStore, memory::MemoryKeyStore};
use crate::{Algorithm, JoseError, Jwks, KeyPair, SigningKey};

/// Where a key is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Signing new SETs, and published.
    Current,
    /// Published, not signing yet (rotation step 1).
    Next,
    /// Published so SETs it signed still verify; no longer signing (after step 2).
    Previous,
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
        })
    }
}

/// What a store tells about one of its keys (never private material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id.
    pub kid: KeyId,
    /// The algorithm the key signs with.
    pub alg: Algorithm,
    /// Its rotation state.
    pub state: KeyState,
    /// When the key was created or imported.
    pub created_at: UnixMillis,
    /// When the key entered its current state.
    pub state_since: UnixMillis,
}

/// A source of SET signing keys and of the JWKS to publish.
///
/// Implemented in memory ([`MemoryKeyStore`]) and on disk ([`FileKeyStore`]); an HSM or KMS
/// backend implements it with keys that never leave the device, returning a [`SigningKey`] whose
/// `sign` calls out.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The key that signs new SETs.
    fn current(&self) -> Result<Arc<dyn SigningKey>, JoseError>;
    /// The public keys to publish at `jwks_uri`: current, next and previous keys, public members
    /// only (checklist SSF-SIG-01, SSF-SIG-03).
    fn jwks(&self) -> Result<Jwks, JoseError>;
    /// Every key held, current first, then next, then previous ones.
    fn keys(&self) -> Result<Vec<KeyInfo>, JoseError>;
    /// Rotation step 1: creates a key for `alg` and publishes it as `next`. Without `kid`, the
    /// key's RFC 7638 thumbprint is used. Fails if a key is already staged.
    fn stage(&self, alg: Algorithm, kid: Option<KeyId>) -> Result<KeyInfo, JoseError>;
    /// Rotation step 2: the staged key becomes current; the old current key becomes previous
    /// (still published). Fails if nothing is staged.
    fn promote(&self) -> Result<KeyInfo, JoseError>;
    /// Rotation step 3: removes a previous key (or cancels a staged one) from the store and the
    /// JWKS. The current key cannot be retired.
    fn retire(&self, kid: &KeyId) -> Result<KeyInfo, JoseError>;
}

/// One key held by a local store.
#[derive(Debug, Clone)]
struct Entry {
    info: KeyInfo,
    key: Arc<KeyPair>,
    /// The key's file name, for the file store.
    file: Option<String>,
}

/// The rotation state machine shared by the local stores.
#[derive(Debug, Default, Clone)]
struct KeyRing {
    entries: Vec<Entry>,
}

impl KeyRing {
    fn current(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.info.state == KeyState::Current)
    }

    /// Current, then next, then previous keys (oldest demotion first).
    fn ordered(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.iter().collect();
        v.sort_by_key(|e| (e.info.state, e.info.state_since));
        v
    }

    fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .ordered()
                .into_iter()
                .map(|e| e.key.public_jwk())
                .collect(),
        }
    }

    fn infos(&self) -> Vec<KeyInfo> {
        self.ordered().into_iter().map(|e| e.info.clone()).collect()
    }

    fn check_stage(&self, kid: &KeyId) -> Result<(), JoseError> {
        if self.entries.iter().any(|e| e.info.state == KeyState::Next) {
            return Err(JoseError::Rotation {
                reason: "a next key is already staged",
            });
        }
        if self.entries.iter().any(|e| &e.info.kid == kid) {
            return Err(JoseError::Rotation {
                reason: "a key with this kid already exists",
            });
        }
        Ok(())
    }

    fn add(
        &mut self,
        key: KeyPair,
        state: KeyState,
        now: UnixMillis,
        file: Option<String>,
    ) -> KeyInfo {
        let info = KeyInfo {
            kid: key.kid().clone(),
            alg: key.alg().clone(),
            state,
            created_at: now,
            state_since: now,
        };
        self.entries.push(Entry {
            info: info.clone(),
            key: Arc::new(key),
            file,
        });
        info
    }

    /// Returns the promoted key's info.
    fn promote(&mut self, now: UnixMillis) -> Result<KeyInfo, JoseError> {
        let next = self
            .entries
            .iter()
            .position(|e| e.info.state == KeyState::Next)
            .ok_or(JoseError::Rotation {
                reason: "no next key is staged",
            })?;
        for entry in &mut self.entries {
            if entry.info.state == KeyState::Current {
                entry.info.state = KeyState::Previous;
                entry.info.state_since = now;
            }
        }
        let entry = &mut self.entries[next];
        entry.info.state = KeyState::Current;
        entry.info.state_since = now;
        Ok(entry.info.clone())
    }

    fn retire(&mut self, kid: &KeyId) -> Result<Entry, JoseError> {
        let pos = self
            .entries
            .iter()
            .position(|e| &e.info.kid == kid)
            .ok_or(JoseError::UnknownKey)?;
        if self.entries[pos].info.state == KeyState::Current {
            return Err(JoseError::Rotation {
                reason: "the current key cannot be retired",
            });
        }
        Ok(self.entries.remove(pos))
    }

    /// At most one current and one next key, and unique kids.
    fn validate(&self) -> Result<(), String> {
        let count = |s| self.entries.iter().filter(|e| e.info.state == s).count();
        if count(KeyState::Current) > 1 || count(KeyState::Next) > 1 {
            return Err("more than one current or next key".to_owned());
        }
        let mut kids: Vec<&KeyId> = self.entries.iter().map(|e| &e.info.kid).collect();
        kids.sort();
        kids.dedup();
        if kids.len() != self.entries.len() {
            return Err("duplicate kid".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_rotation_steps() {
        let mut ring = KeyRing::default();
        let k = |id: &str| KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new(id))).unwrap();
        ring.add(k("a"), KeyState::Next, UnixMillis(1), None);
        assert!(ring.current().is_none());
        assert_eq!(ring.promote(UnixMillis(2)).unwrap().kid.as_str(), "a");
        assert!(ring.promote(UnixMillis(3)).is_err(), "nothing staged");
        ring.check_stage(&KeyId::new("b")).unwrap();
        ring.add(k("b"), KeyState::Next, UnixMillis(4), None);
        assert!(
            ring.check_stage(&KeyId::new("c")).is_err(),
            "already staged"
        );
        ring.promote(UnixMillis(5)).unwrap();
        let states: Vec<_> = ring
            .infos()
            .iter()
            .map(|i| (i.kid.to_string(), i.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("b".into(), KeyState::Current),
                ("a".into(), KeyState::Previous)
            ]
        );
        assert!(ring.retire(&KeyId::new("b")).is_err(), "current");
        ring.retire(&KeyId::new("a")).unwrap();
        assert!(matches!(
            ring.retire(&KeyId::new("a")),
            Err(JoseError::UnknownKey)
        ));
        ring.validate().unwrap();
    }
}
