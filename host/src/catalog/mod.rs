//! The migrations directory: every `*.wasm` (or `*.wat`) file in it, hashed,
//! and its `info()` read from the metadata cache ([`cache`]) or, on a miss,
//! from the compiled component. Components are compiled only when a plan
//! runs them ([`Catalog::prepare`]), so `history`, `heads` and planning never
//! compile anything once the cache is warm.

mod cache;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::graph::{GraphError, Revision, RevisionGraph};
use crate::sandbox::{RevisionInfo, Sandbox};

/// A revision component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The directory (or a file in it) could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory holds no components.
    #[error("no revision components (*.wasm) in {}; build your revisions or point --migrations at the right directory", .dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file that is not a valid revision component.
    #[error("{} is not a valid revision component: {reason}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What wasmtime said.
        reason: String,
    },
    /// Two files claim the same revision id.
    #[error("revision id {id} is claimed by both {} and {}; every revision needs a unique id", .first.display(), .second.display())]
    DuplicateId {
        /// The id.
        id: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A revision reports metadata that cannot be right.
    #[error("{} reports an invalid id {id:?}: ids are 1-64 characters of letters, digits, `_` and `-`", .path.display())]
    BadId {
        /// The file.
        path: PathBuf,
        /// The id it reported.
        id: String,
    },
    /// The revisions do not form a graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A component changed on disk between loading and running.
    #[error("{} changed on disk while Retort was running (it no longer has sha256 {sha256}); run the command again", .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// The hash it had when it was loaded.
        sha256: String,
    },
    /// The metadata cache disagreed with the component itself.
    #[error("the metadata cache in {} disagreed with {} ({id}); the cache has been cleared: run the command again", .cache.display(), .path.display())]
    StaleCache {
        /// The cache directory.
        cache: PathBuf,
        /// The component.
        path: PathBuf,
        /// The revision id.
        id: String,
    },
}

/// One revision component: its metadata, and its compiled form once a plan
/// needs it.
#[derive(Debug)]
pub struct Entry {
    /// What the component says about itself.
    pub info: RevisionInfo,
    /// Where it was read from.
    pub path: PathBuf,
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
    component: OnceLock<Component>,
}

impl Entry {
    /// The compiled component: set when the metadata was not cached (it was
    /// compiled to read `info()`) or after [`Catalog::prepare`].
    pub fn component(&self) -> Option<&Component> {
        self.component.get()
    }
}

/// Every revision in a migrations directory, with its graph.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    cache_dir: Option<PathBuf>,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    graph: RevisionGraph,
    cache_hits: usize,
}

impl Catalog {
    /// Hashes every component in `dir` and reads its metadata from the cache
    /// in `cache_dir` (`None`: no cache), compiling only the components the
    /// cache does not know. The cache is then updated (a failure to write it
    /// is logged, never fatal: the directory may be read-only).
    pub async fn load(
        sandbox: &Sandbox,
        dir: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Catalog, CatalogError> {
        let paths = discover(dir)?;
        if paths.is_empty() {
            return Err(CatalogError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let mut cache = cache::MetadataCache::open(cache_dir);
        let mut entries: Vec<Entry> = Vec::with_capacity(paths.len());
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(paths.len());
        let mut cache_hits = 0;
        for path in paths {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let component = OnceLock::new();
            let info = match cache.get(&sha256).filter(|info| valid_id(&info.id)) {
                Some(info) => {
                    cache_hits += 1;
                    info
                }
                None => {
                    let invalid = |reason| CatalogError::Invalid {
                        path: path.clone(),
                        reason,
                    };
                    let compiled = sandbox.compile(&bytes).map_err(invalid)?;
                    sandbox.check_imports(&compiled).map_err(invalid)?;
                    let info = sandbox.info(&compiled).await.map_err(invalid)?;
                    if !valid_id(&info.id) {
                        return Err(CatalogError::BadId { path, id: info.id });
                    }
                    cache.put(&sha256, &info);
                    let _ = component.set(compiled);
                    info
                }
            };
            if let Some(&first) = by_id.get(&info.id) {
                return Err(CatalogError::DuplicateId {
                    id: info.id,
                    first: entries[first].path.clone(),
                    second: path,
                });
            }
            by_id.insert(info.id.clone(), entries.len());
            entries.push(Entry {
                info,
                path,
                sha256,
                component,
            });
        }
        cache.retain(
            &entries
                .iter()
                .map(|e| e.sha256.as_str())
                .collect::<HashSet<_>>(),
        );
        if let Err(e) = cache.save() {
            tracing::info!(
                "cannot write the metadata cache in {}: {e}; the next run will read the components again",
                cache_dir.map_or_else(String::new, |d| d.display().to_string())
            );
        }
        let graph = RevisionGraph::new(entries.iter().map(|e| to_graph(&e.info)).collect())?;
        Ok(Catalog {
            dir: dir.to_path_buf(),
            cache_dir: cache_dir.map(Path::to_path_buf),
            entries,
            by_id,
            graph,
            cache_hits,
        })
    }

    /// A catalog with no revisions, for a project that has none yet.
    pub fn empty(dir: &Path) -> Catalog {
        Catalog {
            dir: dir.to_path_buf(),
            cache_dir: None,
            entries: Vec::new(),
            by_id: HashMap::new(),
            graph: RevisionGraph::empty(),
            cache_hits: 0,
        }
    }

    /// Compiles the components of `ids` that are not compiled yet, checking
    /// that each still has the hash it was loaded with and that its live
    /// `info()` matches the metadata the plan was made from. Called before a
    /// plan runs, so a broken component stops the run before it starts.
    pub async fn prepare(&self, sandbox: &Sandbox, ids: &[String]) -> Result<(), CatalogError> {
        for id in ids {
            let Some(entry) = self.get(id) else {
                continue;
            };
            if entry.component.get().is_some() {
                continue;
            }
            let path = &entry.path;
            let bytes = std::fs::read(path).map_err(io(path))?;
            if hex::encode(Sha256::digest(&bytes)) != entry.sha256 {
                return Err(CatalogError::Changed {
                    path: path.clone(),
                    sha256: entry.sha256.clone(),
                });
            }
            let invalid = |reason| CatalogError::Invalid {
                path: path.clone(),
                reason,
            };
            let compiled = sandbox.compile(&bytes).map_err(invalid)?;
            sandbox.check_imports(&compiled).map_err(invalid)?;
            let live = sandbox.info(&compiled).await.map_err(invalid)?;
            if live != entry.info {
                let cache = self.cache_dir.clone().unwrap_or_default();
                cache::MetadataCache::clear(&cache);
                return Err(CatalogError::StaleCache {
                    cache,
                    path: path.clone(),
                    id: id.clone(),
                });
            }
            let _ = entry.component.set(compiled);
        }
        Ok(())
    }

    /// The directory the revisions came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The revision graph.
    pub fn graph(&self) -> &RevisionGraph {
        &self.graph
    }

    /// The entry for a full revision id.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// Every entry, in file-name order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many components' metadata came from the cache (the rest were compiled).
    pub fn cache_hits(&self) -> usize {
        self.cache_hits
    }
}

/// Where the metadata cache of a migrations directory lives by default.
pub fn default_cache_dir(migrations: &Path) -> PathBuf {
    migrations.join(".retort-cache")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + use<> {
    let path = path.to_path_buf();
    move |source| CatalogError::Io { path, source }
}

/// The component files in `dir`, sorted by name.
fn discover(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let is_component = path
            .extension()
            .is_some_and(|ext| ext == "wasm" || ext == "wat");
        if is_component && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn to_graph(info: &RevisionInfo) -> Revision {
    Revision {
        id: info.id.clone(),
        down_revisions: info.down_revisions.clone(),
        depends_on: info.depends_on.clone(),
        branch_labels: info.branch_labels.clone(),
        message: info.message.clone(),
    }
}
