//! Data at rest readable by its owner only: directories this crate (or `ssf serve`) creates are
//! mode `0700`, SQLite database files and their `-wal`, `-shm` and `-journal` companions `0600`.
//! Existing ones with looser modes are tightened when a store opens (logged at INFO once per
//! file). Unix only; elsewhere every function does nothing.
//!
//! No process umask is changed (this is a library): the database file is created with `0600`
//! before SQLite opens it, and SQLite gives the `-wal` and `-shm` files it creates the main
//! file's permissions. Companions left by older versions are tightened after the open.
//! Checklist SSF-SEC-14 (secrets at rest); decision D-TX-18.

use std::{io, path::Path};

/// The suffixes of the files SQLite keeps next to a database.
pub const SQLITE_COMPANIONS: &[&str] = &["-wal", "-shm", "-journal"];

/// Creates `dir` and its missing parents with mode `0700`. Existing directories are left as
/// they are (see [`tighten_dir`] for one that is known to be ours).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `dir` with mode `0700` if missing, else tightens it to `0700` when group or others
/// have any access (a directory that holds only this program's data, e.g. `server.data_dir`).
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    tighten(dir, 0o700)
}

/// Tightens an existing directory to `0700` (nothing when it is missing or already private).
pub fn tighten_dir(dir: &Path) -> io::Result<()> {
    tighten(dir, 0o700)
}

/// Tightens an existing file to `0600` (nothing when it is missing or already private).
pub fn tighten_file(path: &Path) -> io::Result<()> {
    tighten(path, 0o600)
}

/// Before SQLite opens `path`: creates its missing parent directories (`0700`) and the file
/// itself, empty, with mode `0600` (an empty file is an empty database to SQLite); an existing
/// file and existing companions are tightened to `0600`.
pub fn prepare_sqlite_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(file) => drop(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    tighten_file(path)?;
    tighten_sqlite_companions(path)
}

/// Tightens the `-wal`, `-shm` and `-journal` files of the database at `path` that exist.
pub fn tighten_sqlite_companions(path: &Path) -> io::Result<()> {
    for suffix in SQLITE_COMPANIONS {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        tighten_file(Path::new(&name))?;
    }
    Ok(())
}

/// The permission bits of `path` (Unix), for diagnostics and tests; `None` elsewhere or when
/// it does not exist.
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let current = meta.permissions().mode() & 0o7777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    tracing::info!(
        path = %path.display(),
        from = format!("{current:04o}"),
        to = format!("{mode:04o}"),
        "tightened the permissions of stored data (readable by its owner only)"
    );
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn new_files_and_dirs_are_private_and_old_ones_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("a/b/x.db");
        prepare_sqlite_file(&db).unwrap();
        assert_eq!(mode_of(&db), Some(0o600));
        assert_eq!(mode_of(&tmp.path().join("a/b")), Some(0o700));
        assert_eq!(mode_of(&tmp.path().join("a")), Some(0o700));

        let old = tmp.path().join("old.db");
        let wal = tmp.path().join("old.db-wal");
        for p in [&old, &wal] {
            std::fs::write(p, b"").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare_sqlite_file(&old).unwrap();
        assert_eq!(mode_of(&old), Some(0o600));
        assert_eq!(mode_of(&wal), Some(0o600));

        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), Some(0o700));
    }
}
