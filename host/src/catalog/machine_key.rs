//! The per-machine secret that authenticates cached native code.
//!
//! Loading a compiled artifact runs its bytes as machine code, outside the
//! sandbox. Anyone who can put files into a migrations directory (a
//! third-party source, a pull request, a shared volume) could plant one, and
//! a digest of the file itself proves nothing about who wrote it. So every
//! artifact Retort writes is named after a MAC, keyed BLAKE3 over the
//! component's sha256 and the artifact's bytes, under a key that exists only
//! on this machine: `$XDG_CACHE_HOME/retort/machine-key` (else
//! `~/.cache/retort/machine-key`), 32 random bytes, mode 0600, created on
//! first use and never written anywhere else. An artifact without a valid
//! MAC, whoever made it, is ignored, deleted and compiled again.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The key file's name inside the per-machine directory.
pub const FILE: &str = "machine-key";

/// A key for [`blake3::keyed_hash`].
pub type Key = [u8; 32];

/// The per-machine directory: `$XDG_CACHE_HOME/retort`, else `~/.cache/retort`.
pub fn machine_dir() -> Option<PathBuf> {
    machine_dir_in(|name| std::env::var(name).ok())
}

/// [`machine_dir`] with the environment read through `env`.
pub fn machine_dir_in(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            env("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })?;
    Some(base.join("retort"))
}

/// This machine's key, created on first use; `Err` says why there is none
/// (then nothing compiled is cached or loaded).
pub fn machine_key() -> Result<&'static Key, String> {
    static KEY: OnceLock<Result<Key, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = machine_dir()
            .ok_or("neither XDG_CACHE_HOME nor HOME is set, so there is no per-machine key")?;
        load_or_create(&dir)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Reads the key in `dir`, creating it (and `dir`, mode 0700) if missing.
/// Concurrent first runs agree on one key: each writes a private temporary
/// file and links it into place only if no key is there yet.
pub fn load_or_create(dir: &Path) -> Result<Key, String> {
    let path = dir.join(FILE);
    match read(&path) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => {}
        Err(e) => return Err(e),
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for the machine key: {e}"))?;
    let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&key).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", tmp.display()));
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        // Another run created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path)?.ok_or_else(|| format!("{} vanished while it was created", path.display()))
        }
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// The key at `path`: `None` if there is none; an error if it cannot be
/// trusted (another owner, readable or writable by others, the wrong size).
fn read(path: &Path) -> Result<Option<Key>, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.file_type().is_file() || meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a private file of this user (it must be a regular file, mode 0600, owned by uid {me}); compiled components are not cached until it is removed",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key: Key = bytes.try_into().map_err(|_| {
        format!(
            "{} is not a machine key (32 bytes); remove it and Retort makes a new one",
            path.display()
        )
    })?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("nested/retort");
        let key = load_or_create(&at).unwrap();
        let meta = std::fs::metadata(at.join(FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&at).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(load_or_create(&at).unwrap(), key);
        assert_ne!(key, [0; 32]);
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(&at).unwrap().count(), 1);
    }

    #[test]
    fn a_key_others_can_read_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.contains("not a private file"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.contains("is not a machine key"), "{err}");
    }
}
