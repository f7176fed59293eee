//! The revision-metadata cache: what each component's `info()` returned,
//! keyed by the sha256 of its bytes, in one JSON file.
//!
//! The cache is an optimisation and never an authority:
//! - a file that cannot be read or parsed, or that another format or Retort
//!   version wrote, is ignored whole (and rewritten);
//! - every entry carries a checksum over its key and content; an entry whose
//!   checksum does not match is ignored (and rebuilt from the component);
//! - before a component runs, the catalog compares its live `info()` with
//!   the cached one (see `Catalog::prepare`);
//! - writes go to a temporary file that is renamed over the old one, so two
//!   processes writing at once leave one complete file, never a torn one (the
//!   loser's new entries are simply rebuilt next time).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sandbox::RevisionInfo;

/// The cache file's name inside the cache directory.
pub const FILE: &str = "metadata.json";
/// Bumped whenever the file's shape changes.
const FORMAT: u32 = 1;
/// Who may read the file: metadata written by another Retort is rebuilt.
const WRITER: &str = concat!("retort ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    writer: String,
    entries: BTreeMap<String, Stored>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    info: StoredInfo,
    check: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredInfo {
    id: String,
    down_revisions: Vec<String>,
    message: String,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    transactional: bool,
}

impl From<&RevisionInfo> for StoredInfo {
    fn from(i: &RevisionInfo) -> Self {
        StoredInfo {
            id: i.id.clone(),
            down_revisions: i.down_revisions.clone(),
            message: i.message.clone(),
            branch_labels: i.branch_labels.clone(),
            depends_on: i.depends_on.clone(),
            transactional: i.transactional,
        }
    }
}

impl From<StoredInfo> for RevisionInfo {
    fn from(i: StoredInfo) -> Self {
        RevisionInfo {
            id: i.id,
            down_revisions: i.down_revisions,
            message: i.message,
            branch_labels: i.branch_labels,
            depends_on: i.depends_on,
            transactional: i.transactional,
        }
    }
}

/// The checksum that ties an entry to its key.
fn checksum(sha256: &str, info: &StoredInfo) -> String {
    let body = serde_json::to_string(info).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(format!("{FORMAT}\0{sha256}\0").as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// The metadata cache of one migrations directory, held in memory while the
/// catalog loads.
#[derive(Debug, Default)]
pub struct MetadataCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Stored>,
    dirty: bool,
}

impl MetadataCache {
    /// Reads the cache in `dir` (`None`: no cache). Anything unreadable or
    /// foreign starts an empty cache that will be rewritten.
    pub fn open(dir: Option<&Path>) -> MetadataCache {
        let Some(dir) = dir else {
            return MetadataCache::default();
        };
        let path = dir.join(FILE);
        let parsed = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|file| file.format == FORMAT && file.writer == WRITER);
        let (entries, dirty) = match parsed {
            Some(file) => {
                let total = file.entries.len();
                let good: BTreeMap<String, Stored> = file
                    .entries
                    .into_iter()
                    .filter(|(sha, stored)| checksum(sha, &stored.info) == stored.check)
                    .collect();
                if good.len() < total {
                    tracing::info!(
                        "ignoring {} corrupt entr(ies) of {}",
                        total - good.len(),
                        path.display()
                    );
                }
                let dirty = good.len() < total;
                (good, dirty)
            }
            None => {
                if path.exists() {
                    tracing::info!("ignoring unreadable or foreign cache {}", path.display());
                }
                (BTreeMap::new(), true)
            }
        };
        MetadataCache {
            path: Some(path),
            entries,
            dirty,
        }
    }

    /// The cached `info()` of the component with this hash.
    pub fn get(&self, sha256: &str) -> Option<RevisionInfo> {
        self.entries
            .get(sha256)
            .map(|stored| stored.info.clone().into())
    }

    /// Records a component's `info()`.
    pub fn put(&mut self, sha256: &str, info: &RevisionInfo) {
        let info = StoredInfo::from(info);
        let check = checksum(sha256, &info);
        self.entries
            .insert(sha256.to_string(), Stored { info, check });
        self.dirty = true;
    }

    /// Drops entries for components that are no longer in the directory.
    pub fn retain(&mut self, present: &HashSet<&str>) {
        let before = self.entries.len();
        self.entries.retain(|sha, _| present.contains(sha.as_str()));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the cache if anything changed: to a temporary file, then
    /// renamed into place. The directory gets a `.gitignore` of `*`.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "# Retort's metadata cache: safe to delete.\n*\n")?;
        }
        let file = CacheFile {
            format: FORMAT,
            writer: WRITER.to_string(),
            entries: std::mem::take(&mut self.entries),
        };
        let text = serde_json::to_vec(&file);
        self.entries = file.entries;
        let text = text.map_err(std::io::Error::other)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(".{FILE}.{}.{nanos}.tmp", std::process::id()));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        self.dirty = false;
        Ok(())
    }

    /// Removes the cache file (after it was found to disagree with a component).
    pub fn clear(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> RevisionInfo {
        RevisionInfo {
            id: id.into(),
            down_revisions: vec!["p".into()],
            message: "m".into(),
            branch_labels: vec![],
            depends_on: vec![],
            transactional: true,
        }
    }

    #[test]
    fn round_trips_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = MetadataCache::open(Some(dir.path()));
        c.put("aa", &info("one"));
        c.put("bb", &info("two"));
        c.save().unwrap();
        assert!(dir.path().join(".gitignore").is_file());
        let mut c = MetadataCache::open(Some(dir.path()));
        assert_eq!(c.get("aa"), Some(info("one")));
        assert!(!c.dirty);
        c.retain(&HashSet::from(["bb"]));
        c.save().unwrap();
        let c = MetadataCache::open(Some(dir.path()));
        assert_eq!(c.get("aa"), None);
        assert_eq!(c.get("bb"), Some(info("two")));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn tampered_corrupt_and_foreign_caches_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = MetadataCache::open(Some(dir.path()));
        c.put("aa", &info("one"));
        c.put("bb", &info("two"));
        c.save().unwrap();
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        // An entry edited by hand fails its checksum; the other survives.
        std::fs::write(&path, text.replacen("\"one\"", "\"evil\"", 1)).unwrap();
        let c = MetadataCache::open(Some(dir.path()));
        assert_eq!(c.get("aa"), None);
        assert_eq!(c.get("bb"), Some(info("two")));
        assert!(c.dirty);
        // An entry moved to another key fails too.
        std::fs::write(&path, text.replacen("\"aa\"", "\"cc\"", 1)).unwrap();
        assert_eq!(MetadataCache::open(Some(dir.path())).get("cc"), None);
        std::fs::write(&path, b"{ not json").unwrap();
        assert_eq!(MetadataCache::open(Some(dir.path())).get("bb"), None);
        std::fs::write(&path, text.replace(WRITER, "retort 0.0.0-other")).unwrap();
        assert_eq!(MetadataCache::open(Some(dir.path())).get("bb"), None);
        // No cache at all.
        let mut none = MetadataCache::open(None);
        none.put("aa", &info("one"));
        none.save().unwrap();
        assert_eq!(none.get("aa"), Some(info("one")));
    }
}
