//! The migrations directory: every `*.wasm` (or `*.wat`) file in it, hashed,
//! compiled once with the process's single engine, and asked for its `info()`.

use std::path::{Path, PathBuf};

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
}

/// One loaded revision component.
#[derive(Debug)]
pub struct Entry {
    /// What the component says about itself.
    pub info: RevisionInfo,
    /// Where it was read from.
    pub path: PathBuf,
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
    /// The compiled component.
    pub component: Component,
}

/// Every revision in a migrations directory, with its graph.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    entries: Vec<Entry>,
    graph: RevisionGraph,
}

impl Catalog {
    /// Loads, hashes, compiles and reads every component in `dir`.
    pub async fn load(sandbox: &Sandbox, dir: &Path) -> Result<Catalog, CatalogError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CatalogError::Io { path, source }
        };
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
        if paths.is_empty() {
            return Err(CatalogError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        paths.sort();
        let mut entries: Vec<Entry> = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let invalid = |reason| CatalogError::Invalid {
                path: path.clone(),
                reason,
            };
            let component = sandbox.compile(&bytes).map_err(invalid)?;
            sandbox.check_imports(&component).map_err(invalid)?;
            let info = sandbox.info(&component).await.map_err(invalid)?;
            if !valid_id(&info.id) {
                return Err(CatalogError::BadId { path, id: info.id });
            }
            if let Some(first) = entries.iter().find(|e| e.info.id == info.id) {
                return Err(CatalogError::DuplicateId {
                    id: info.id,
                    first: first.path.clone(),
                    second: path,
                });
            }
            entries.push(Entry {
                info,
                path,
                sha256,
                component,
            });
        }
        let graph = RevisionGraph::new(entries.iter().map(|e| to_graph(&e.info)).collect())?;
        Ok(Catalog {
            dir: dir.to_path_buf(),
            entries,
            graph,
        })
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
        self.entries.iter().find(|e| e.info.id == id)
    }

    /// Every entry, in file-name order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
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
