//! The compile cache: each component's native code, compiled once per
//! machine and kept in
//! `<cache dir>/compiled/<engine>/<component sha256>.<mac>.cwasm`, where the
//! cache dir is the machine's (`$XDG_CACHE_HOME/retort`), shared by every
//! project and checkout on it, unless one is configured.
//!
//! `<engine>` is a digest of the compiler's name and wasmtime's compatibility
//! hash for this engine (its version, the target, the compiler's settings), so an artifact
//! compiled by another Retort build or another machine is never looked at.
//! When the catalog prunes, a project's own cache loses the artifacts of
//! components it no longer has and the directories of other engines; the
//! machine's cache loses only what has gone unused for 30 days (a load
//! refreshes a file's time), since other projects' artifacts are there too.
//!
//! Loading native code is `unsafe` in wasmtime: a planted or damaged file
//! would run as machine code, outside the sandbox. So nothing is loaded
//! unauthenticated:
//! - `<mac>` is keyed BLAKE3, under this machine's secret key
//!   ([`machine_key`](super::machine_key)), over the component's sha256 and
//!   the artifact's bytes. Only this machine's Retort can name a file so that
//!   it loads, and only for the component it was compiled from: a file
//!   planted in a migrations directory (by a third-party source, a pull
//!   request), another component's artifact renamed, an artifact from
//!   another machine, a torn or edited file: each fails its MAC and is
//!   deleted and compiled again. Without a machine key nothing is cached;
//! - the file is read into memory once, and the bytes that were checked are
//!   the bytes that are loaded (no second read that could see other bytes);
//! - wasmtime itself checks the artifact's header (its version and engine
//!   settings) and refuses a foreign one, which is then deleted as well;
//! - names are content-addressed and files appear only by `rename` of a
//!   complete temporary file, so two runs writing the same component at once
//!   write the same bytes under the same name, and a reader never sees a
//!   partial file under a final name.
//!
//! Precompiled code therefore cannot be shipped with migrations: it is only
//! ever valid on the machine that compiled it.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use wasmtime::component::Component;

use super::compile_notice::Compiled;
use super::machine_key::{self, Key};
use crate::sandbox::Sandbox;

/// The subdirectory of the cache directory that holds compiled artifacts.
pub const DIR: &str = "compiled";
/// The extension of an artifact.
const EXTENSION: &str = "cwasm";

/// Where one engine's artifacts live, and which ones are there.
#[derive(Debug, Default)]
pub struct CompileCache {
    /// `<cache dir>/compiled/<engine>`; `None` when there is no cache.
    dir: Option<PathBuf>,
    /// This machine's key; present whenever `dir` is.
    key: Option<&'static Key>,
    /// Artifact file names by component sha256: listed when opened, and
    /// added to as artifacts are written.
    index: Mutex<HashMap<String, Vec<String>>>,
    /// Components loaded from an artifact.
    hits: AtomicUsize,
    /// Components compiled (whether or not the artifact could be written).
    compiled: AtomicUsize,
    /// Set after the first failed write, so a read-only directory logs once.
    write_failed: AtomicBool,
    /// The machine's cache, shared by every project on it: pruning removes
    /// only what has gone unused for [`UNUSED_FOR`], not what this
    /// project lacks.
    shared: bool,
}

/// How long an artifact in the machine's cache may go unused before a prune
/// removes it (its modification time is refreshed when it is loaded, at
/// most once per [`TOUCH_AFTER`]).
const UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
const TOUCH_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A short, stable name for everything that makes artifacts compatible.
pub fn engine_key(sandbox: &Sandbox) -> String {
    // SipHash with fixed keys: the same in every run of the same build. A
    // different value in another build only means a cache miss; wasmtime's
    // own header check still guards every load.
    let mut hasher = std::hash::DefaultHasher::new();
    sandbox.compiler().hash(&mut hasher);
    sandbox
        .engine()
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl CompileCache {
    /// The artifacts under `cache_dir` (`None`: no cache) for this engine.
    /// Nothing is created until an artifact is written.
    pub fn open(cache_dir: Option<&Path>, sandbox: &Sandbox) -> CompileCache {
        let Some(cache_dir) = cache_dir else {
            return CompileCache::default();
        };
        let key = match machine_key::machine_key() {
            Ok(key) => key,
            Err(reason) => {
                tracing::warn!("compiled components are not cached: {reason}");
                return CompileCache::default();
            }
        };
        let dir = cache_dir.join(DIR).join(engine_key(sandbox));
        let mut index: HashMap<String, Vec<String>> = HashMap::new();
        if let Ok(listing) = std::fs::read_dir(&dir) {
            for entry in listing.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if let Some((component, _)) = parse_name(&name) {
                    index.entry(component.to_string()).or_default().push(name);
                }
            }
        }
        CompileCache {
            dir: Some(dir),
            key: Some(key),
            index: Mutex::new(index),
            shared: machine_key::machine_dir().as_deref() == Some(cache_dir),
            ..CompileCache::default()
        }
    }

    /// The component with hash `sha256`: loaded from a verified artifact, or
    /// else compiled from `bytes()` (read only then) and its artifact written.
    /// `what` names it to the compile observer ([`super::compile_notice`]).
    pub fn get_or_compile(
        &self,
        sandbox: &Sandbox,
        sha256: &str,
        what: Compiled<'_>,
        bytes: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Component, String> {
        if let Some(component) = self.load(sandbox, sha256) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(component);
        }
        let bytes = bytes()?;
        let artifact = super::compile_notice::compiling(what, || sandbox.precompile(&bytes))?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        // SAFETY: these bytes were produced by this engine a moment ago, in
        // this process; nothing else has had a chance to touch them.
        let component = unsafe { Component::deserialize(sandbox.engine(), &artifact) }
            .map_err(|e| format!("cannot load the code just compiled: {e}"))?;
        self.write(sha256, &artifact);
        Ok(component)
    }

    /// Whether an artifact of `sha256` is on disk (found when opened, or
    /// written since), so the component can be loaded again when needed.
    pub fn has(&self, sha256: &str) -> bool {
        self.dir.is_some() && self.names(sha256).is_some()
    }

    fn names(&self, sha256: &str) -> Option<Vec<String>> {
        let index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.get(sha256).filter(|names| !names.is_empty()).cloned()
    }

    /// How many components were loaded from artifacts.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many components were compiled.
    pub fn compiled(&self) -> usize {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Loads the first artifact of `sha256` that passes every check;
    /// deletes those that do not.
    fn load(&self, sandbox: &Sandbox, sha256: &str) -> Option<Component> {
        let (dir, key) = (self.dir.as_ref()?, self.key?);
        for name in self.names(sha256)? {
            let path = dir.join(&name);
            match verify_and_load(sandbox, key, sha256, &path, &name) {
                Ok(component) => {
                    if self.shared && older_than(&path, TOUCH_AFTER) {
                        // In use: keep it from aging out of the machine's cache.
                        let _ = std::fs::File::options()
                            .append(true)
                            .open(&path)
                            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    }
                    return Some(component);
                }
                Err(reason) => {
                    tracing::info!(
                        "ignoring compiled artifact {}: {reason}; compiling the component again",
                        path.display()
                    );
                    let _ = std::fs::remove_file(&path);
                    let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(names) = index.get_mut(sha256) {
                        names.retain(|n| *n != name);
                    }
                }
            }
        }
        None
    }

    /// Writes an artifact: to a temporary file, renamed into place. Failing
    /// to write is logged (once) and never fatal.
    fn write(&self, sha256: &str, artifact: &[u8]) {
        let (Some(dir), Some(key)) = (&self.dir, self.key) else {
            return;
        };
        let name = format!(
            "{sha256}.{}.{EXTENSION}",
            mac(key, sha256, artifact).to_hex()
        );
        match write_atomically(dir, &name, artifact) {
            Ok(()) => {
                let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
                index.entry(sha256.to_string()).or_default().push(name);
            }
            Err(e) => {
                if !self.write_failed.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "cannot write compiled components to {}: {e}; the next run compiles them again",
                        dir.display()
                    );
                }
            }
        }
    }

    /// Deletes the artifacts of component `sha256` (one that failed its
    /// checks after it was compiled).
    pub fn forget(&self, sha256: &str) {
        let Some(dir) = &self.dir else {
            return;
        };
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        for name in index.remove(sha256).unwrap_or_default() {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }

    /// Deletes artifacts of components that are not in `present`, and the
    /// directories of other engines (other Retort builds).
    pub fn prune(&self, present: &HashSet<&str>) {
        let Some(dir) = &self.dir else {
            return;
        };
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.retain(|sha256, names| {
            if present.contains(sha256.as_str()) {
                return true;
            }
            // Another project's may still be in use: only the long unused go.
            names.retain(|name| {
                let path = dir.join(name);
                let remove = !self.shared || older_than(&path, UNUSED_FOR);
                if remove {
                    let _ = std::fs::remove_file(path);
                }
                !remove
            });
            !names.is_empty()
        });
        drop(index);
        let (Some(parent), Some(own)) = (dir.parent(), dir.file_name()) else {
            return;
        };
        let Ok(listing) = std::fs::read_dir(parent) else {
            return;
        };
        for entry in listing.flatten() {
            let name = entry.file_name();
            let is_engine_dir = name
                .to_str()
                .is_some_and(|n| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()));
            // Another Retort build's; in the machine's cache, once unused.
            if name != own
                && is_engine_dir
                && entry.path().is_dir()
                && (!self.shared || older_than(&entry.path(), UNUSED_FOR))
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether `path` was last modified more than `age` ago.
fn older_than(path: &Path, age: std::time::Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// Splits `<component sha256>.<artifact blake3>.cwasm`.
fn parse_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    let (component, artifact) = stem.split_once('.')?;
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex64(component) && hex64(artifact)).then_some((component, artifact))
}

/// The MAC that names the artifact of component `sha256`.
fn mac(key: &Key, sha256: &str, artifact: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"retort-artifact-v1\0");
    hasher.update(sha256.as_bytes());
    hasher.update(b"\0");
    hasher.update(artifact);
    hasher.finalize()
}

fn verify_and_load(
    sandbox: &Sandbox,
    key: &Key,
    sha256: &str,
    path: &Path,
    name: &str,
) -> Result<Component, String> {
    let (component, expected) = parse_name(name).ok_or("not an artifact name")?;
    if component != sha256 {
        return Err("it is named for another component".into());
    }
    let expected = blake3::Hash::from_hex(expected).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    // blake3::Hash compares in constant time.
    if mac(key, sha256, &bytes) != expected {
        return Err("its MAC does not match: it was not written by this machine's retort for this component (planted, copied from elsewhere, or damaged)".into());
    }
    // SAFETY: these bytes carry a MAC under this machine's private key over
    // the component's sha256 and the bytes themselves, which only this
    // machine's retort computes, over code its engine compiled from that
    // component; the bytes checked are the bytes loaded. wasmtime checks the
    // header's version and settings.
    unsafe { Component::deserialize(sandbox.engine(), &bytes) }.map_err(|e| format!("{e:#}"))
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    // No fsync: a file torn by a crash fails its digest and is rebuilt.
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn artifacts(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for engine in std::fs::read_dir(dir.join(DIR)).unwrap().flatten() {
            for f in std::fs::read_dir(engine.path()).unwrap().flatten() {
                found.push(f.path());
            }
        }
        found.sort();
        found
    }

    #[test]
    fn compiles_once_then_loads() {
        let sandbox = Sandbox::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = sha(WAT.as_bytes());
        let cold = CompileCache::open(Some(dir.path()), &sandbox);
        cold.get_or_compile(&sandbox, &key, Compiled::Revision("test"), || {
            Ok(WAT.as_bytes().to_vec())
        })
        .unwrap();
        assert_eq!((cold.hits(), cold.compiled()), (0, 1));
        let files = artifacts(dir.path());
        assert_eq!(files.len(), 1, "{files:?}");
        let warm = CompileCache::open(Some(dir.path()), &sandbox);
        warm.get_or_compile(&sandbox, &key, Compiled::Revision("test"), || {
            Err("must not read".into())
        })
        .unwrap();
        assert_eq!((warm.hits(), warm.compiled()), (1, 0));
        // No temporary files are left behind.
        assert_eq!(artifacts(dir.path()), files);
    }

    #[test]
    fn damaged_and_foreign_artifacts_are_deleted_and_rebuilt() {
        let sandbox = Sandbox::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = sha(WAT.as_bytes());
        let source = || Ok(WAT.as_bytes().to_vec());
        CompileCache::open(Some(dir.path()), &sandbox)
            .get_or_compile(&sandbox, &key, Compiled::Revision("test"), source)
            .unwrap();
        let path = artifacts(dir.path()).remove(0);
        let good = std::fs::read(&path).unwrap();

        // One flipped byte: the digest in the name no longer matches.
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        std::fs::write(&path, &flipped).unwrap();
        let cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache
            .get_or_compile(&sandbox, &key, Compiled::Revision("test"), source)
            .unwrap();
        assert_eq!((cache.hits(), cache.compiled()), (0, 1));
        assert_eq!(std::fs::read(&path).unwrap(), good, "rebuilt in place");

        // Truncated.
        std::fs::write(&path, &good[..good.len() / 3]).unwrap();
        let cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache
            .get_or_compile(&sandbox, &key, Compiled::Revision("test"), source)
            .unwrap();
        assert_eq!(cache.compiled(), 1);

        // Not an artifact at all, under a name whose MAC matches: wasmtime
        // refuses it, and it is deleted.
        let junk = b"not native code".to_vec();
        let machine = machine_key::machine_key().unwrap();
        let forged = path.parent().unwrap().join(format!(
            "{key}.{}.{EXTENSION}",
            mac(machine, &key, &junk).to_hex()
        ));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&forged, &junk).unwrap();
        let cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache
            .get_or_compile(&sandbox, &key, Compiled::Revision("test"), source)
            .unwrap();
        assert_eq!(cache.compiled(), 1);
        assert!(!forged.exists());

        // Another engine's directory and a component no longer present are pruned.
        let other = dir.path().join(DIR).join("0123456789abcdef");
        std::fs::create_dir_all(&other).unwrap();
        let cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache.prune(&HashSet::new());
        assert!(!other.exists());
        assert!(artifacts(dir.path()).is_empty());
    }

    #[test]
    fn the_machine_cache_keeps_other_projects_artifacts_until_long_unused() {
        let sandbox = Sandbox::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = sha(WAT.as_bytes());
        let mut cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache.shared = true;
        cache
            .get_or_compile(&sandbox, &key, Compiled::Revision("test"), || {
                Ok(WAT.as_bytes().to_vec())
            })
            .unwrap();
        let other_engine = dir.path().join(DIR).join("0123456789abcdef");
        std::fs::create_dir_all(&other_engine).unwrap();
        // Another project's (not present here), recently used: kept.
        cache.prune(&HashSet::new());
        let path = artifacts(dir.path()).remove(0);
        assert!(other_engine.exists());
        // Unused for longer than the limit: removed, with the other engine's.
        let long_ago = std::time::SystemTime::now() - UNUSED_FOR * 2;
        for p in [&path, &other_engine] {
            std::fs::File::open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        cache.prune(&HashSet::new());
        assert!(!path.exists());
        assert!(!other_engine.exists());
    }

    #[test]
    fn planted_and_swapped_artifacts_are_never_loaded() {
        const OTHER: &str = r#"(component (core module (func (export "g"))))"#;
        let sandbox = Sandbox::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (reviewed, other) = (sha(WAT.as_bytes()), sha(OTHER.as_bytes()));
        let cache = CompileCache::open(Some(dir.path()), &sandbox);
        cache
            .get_or_compile(&sandbox, &other, Compiled::Revision("test"), || {
                Ok(OTHER.as_bytes().to_vec())
            })
            .unwrap();
        let other_file = artifacts(dir.path()).remove(0);
        let engine_dir = other_file.parent().unwrap().to_path_buf();
        let bytes = std::fs::read(&other_file).unwrap();
        // Valid native code of another component, under the reviewed one's
        // sha256: named the way the old cache did (a digest of the file),
        // and with the other component's own MAC.
        let planted = [
            format!("{reviewed}.{}.{EXTENSION}", blake3::hash(&bytes).to_hex()),
            format!(
                "{reviewed}.{}",
                &other_file.file_name().unwrap().to_str().unwrap()[65..]
            ),
        ];
        for name in &planted {
            // Only the planted file is there for the reviewed component.
            for f in std::fs::read_dir(&engine_dir).unwrap().flatten() {
                if f.file_name().to_str().unwrap().starts_with(&reviewed) {
                    std::fs::remove_file(f.path()).unwrap();
                }
            }
            std::fs::write(engine_dir.join(name), &bytes).unwrap();
            let cache = CompileCache::open(Some(dir.path()), &sandbox);
            cache
                .get_or_compile(&sandbox, &reviewed, Compiled::Revision("test"), || {
                    Ok(WAT.as_bytes().to_vec())
                })
                .unwrap();
            assert_eq!((cache.hits(), cache.compiled()), (0, 1), "{name}");
            assert!(!engine_dir.join(name).exists(), "{name} was not deleted");
        }
    }

    #[test]
    fn no_cache_dir_compiles_every_time_and_writes_nothing() {
        let sandbox = Sandbox::new().unwrap();
        let cache = CompileCache::open(None, &sandbox);
        let key = sha(WAT.as_bytes());
        for _ in 0..2 {
            cache
                .get_or_compile(&sandbox, &key, Compiled::Revision("test"), || {
                    Ok(WAT.as_bytes().to_vec())
                })
                .unwrap();
        }
        assert_eq!((cache.hits(), cache.compiled()), (0, 2));
        assert!(parse_name("x.cwasm").is_none());
    }
}
