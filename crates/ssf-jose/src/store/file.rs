//! A key store in a directory: one PKCS#8 PEM file per key (mode 0600) and a small JSON index,
//! each written atomically (temporary file, fsync, rename, fsync of the directory).
//!
//! ```text
//! DIR/keys.json              {"version":1,"keys":[{"kid":..,"alg":..,"state":..,"file":..}]}
//! DIR/key-<uuid>.pem         -----BEGIN PRIVATE KEY----- ...
//! ```
//!
//! One process writes at a time. A process that only reads (e.g. a server while `ssf keys rotate`
//! runs) calls [`FileKeyStore::reload`] to pick up changes.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock, RwLockWriteGuard},
};

use serde::{Deserialize, Serialize};
use ssf_types::secret::ExposeSecret;
use ssf_types::{Clock, KeyId, UnixMillis};

use super::{Entry, KeyInfo, KeyRing, KeyState, KeyStore};
use crate::{Algorithm, JoseError, Jwks, KeyPair, SigningKey};

const INDEX: &str = "keys.json";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    version: u32,
    keys: Vec<IndexEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexEntry {
    kid: KeyId,
    alg: Algorithm,
    state: KeyState,
    /// Epoch milliseconds.
    created_at: i64,
    /// Epoch milliseconds.
    state_since: i64,
    file: String,
}

/// A [`KeyStore`] backed by a directory of PEM files and a JSON index.
#[derive(Debug)]
pub struct FileKeyStore {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    ring: RwLock<KeyRing>,
}

impl FileKeyStore {
    /// Opens the store in `dir`, creating the directory (mode 0700) if needed. An empty or new
    /// directory is an empty store. On Unix an existing directory, index or key file that
    /// group or others can access is tightened (0700, 0600) and logged at INFO.
    pub fn open(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Result<Self, JoseError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        tighten(&dir, 0o700)?;
        let ring = load(&dir)?;
        tighten(&dir.join(INDEX), 0o600)?;
        for entry in &ring.entries {
            if let Some(file) = &entry.file {
                tighten(&dir.join(file), 0o600)?;
            }
        }
        Ok(Self {
            dir,
            clock,
            ring: RwLock::new(ring),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads the directory, e.g. after another process rotated keys.
    pub fn reload(&self) -> Result<(), JoseError> {
        let ring = load(&self.dir)?;
        *self.write() = ring;
        Ok(())
    }

    /// Rotation step 1 with a key made elsewhere (imported rather than generated).
    pub fn stage_key(&self, key: KeyPair) -> Result<KeyInfo, JoseError> {
        let mut ring = self.write();
        ring.check_stage(key.kid())?;
        let file = format!("key-{}.pem", uuid::Uuid::new_v4().simple());
        let pem = key.to_pkcs8_pem()?;
        write_atomic(&self.dir, &file, pem.expose_secret().as_bytes())?;
        let mut next = ring.clone();
        let info = next.add(key, KeyState::Next, self.clock.now(), Some(file));
        save(&self.dir, &next)?;
        *ring = next;
        Ok(info)
    }

    fn write(&self) -> RwLockWriteGuard<'_, KeyRing> {
        // Every mutation replaces the ring only after it is saved, so it stays consistent.
        self.ring.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyStore for FileKeyStore {
    fn current(&self) -> Result<Arc<dyn SigningKey>, JoseError> {
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        let entry = ring.current().ok_or(JoseError::NoSigningKey)?;
        Ok(entry.key.clone())
    }

    fn jwks(&self) -> Result<Jwks, JoseError> {
        Ok(self
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .jwks())
    }

    fn keys(&self) -> Result<Vec<KeyInfo>, JoseError> {
        Ok(self
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .infos())
    }

    fn stage(&self, alg: Algorithm, kid: Option<KeyId>) -> Result<KeyInfo, JoseError> {
        self.stage_key(KeyPair::generate(alg, kid)?)
    }

    fn promote(&self) -> Result<KeyInfo, JoseError> {
        let mut ring = self.write();
        let mut next = ring.clone();
        let info = next.promote(self.clock.now())?;
        save(&self.dir, &next)?;
        *ring = next;
        Ok(info)
    }

    fn retire(&self, kid: &KeyId) -> Result<KeyInfo, JoseError> {
        let mut ring = self.write();
        let mut next = ring.clone();
        let removed = next.retire(kid)?;
        // Index first: a crash before the file is deleted leaves an orphan file, never an index
        // entry without its key.
        save(&self.dir, &next)?;
        *ring = next;
        if let Some(file) = &removed.file {
            match fs::remove_file(self.dir.join(file)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(JoseError::Io {
                        context: "removing a retired key file",
                        source: e,
                    });
                }
            }
        }
        Ok(removed.info)
    }
}

fn corrupt(reason: impl Into<String>) -> JoseError {
    JoseError::StoreCorrupt {
        reason: reason.into(),
    }
}

fn load(dir: &Path) -> Result<KeyRing, JoseError> {
    let bytes = match fs::read(dir.join(INDEX)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeyRing::default()),
        Err(e) => {
            return Err(JoseError::Io {
                context: "reading the key index",
                source: e,
            });
        }
    };
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("unreadable {INDEX}: {e}")))?;
    if index.version != VERSION {
        return Err(corrupt(format!(
            "unsupported {INDEX} version {}",
            index.version
        )));
    }
    let mut ring = KeyRing::default();
    for entry in index.keys {
        if !is_plain_file_name(&entry.file) {
            return Err(corrupt(
                "a key file name in the index is not a plain file name",
            ));
        }
        let pem = fs::read_to_string(dir.join(&entry.file))
            .map_err(JoseError::io("reading a key file named in the index"))?;
        let key = KeyPair::from_pem(&pem, Some(entry.alg.clone()), Some(entry.kid.clone()))?;
        let info = KeyInfo {
            kid: entry.kid,
            alg: entry.alg,
            state: entry.state,
            created_at: UnixMillis(entry.created_at),
            state_since: UnixMillis(entry.state_since),
        };
        ring.entries.push(Entry {
            info,
            key: Arc::new(key),
            file: Some(entry.file),
        });
    }
    ring.validate().map_err(corrupt)?;
    Ok(ring)
}

fn save(dir: &Path, ring: &KeyRing) -> Result<(), JoseError> {
    let keys = ring
        .entries
        .iter()
        .map(|e| {
            Ok(IndexEntry {
                kid: e.info.kid.clone(),
                alg: e.info.alg.clone(),
                state: e.info.state,
                created_at: e.info.created_at.0,
                state_since: e.info.state_since.0,
                file: e
                    .file
                    .clone()
                    .ok_or_else(|| corrupt("key without a file"))?,
            })
        })
        .collect::<Result<Vec<_>, JoseError>>()?;
    let json = serde_json::to_vec_pretty(&Index {
        version: VERSION,
        keys,
    })
    .map_err(JoseError::Json)?;
    write_atomic(dir, INDEX, &json)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn create_private_dir(dir: &Path) -> Result<(), JoseError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(JoseError::io("creating the key directory"))
}

/// Sets `path` to `mode` when group or others have any access to it (nothing when missing).
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> Result<(), JoseError> {
    use std::os::unix::fs::PermissionsExt;
    let current = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(JoseError::Io {
                context: "reading the mode of a key store file",
                source: e,
            });
        }
    };
    if current & 0o077 == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(JoseError::io("tightening the mode of a key store file"))?;
    tracing::info!(path = %path.display(), from = format!("{current:04o}"), to = format!("{mode:04o}"),
        "tightened the permissions of the key store (readable by its owner only)");
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> Result<(), JoseError> {
    Ok(())
}

/// Writes `name` in `dir` so that readers see the old or the new content, never a mix, and the
/// new content survives a crash once this returns. Files are created with mode 0600.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), JoseError> {
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(JoseError::io("writing a key store file"))
}
