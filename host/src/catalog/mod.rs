//! The migrations directory: every `*.wasm` (or `*.wat`) component and every
//! `*.py` / `*.js` script ([`interpreters`]) in it, hashed, and its `info()`
//! read from the metadata cache ([`cache`]) or, on a miss, from the compiled
//! component. Components are compiled only when a plan
//! runs them ([`Catalog::prepare`]), so `history`, `heads` and planning never
//! compile anything once the cache is warm; compiled code is kept in the
//! compile cache ([`compile_cache`]) and loaded a few steps ahead of the
//! runner ([`prefetch`]).

mod cache;
mod compile_cache;
pub mod compile_notice;
pub mod info_section;
mod interpreters;
mod js_metadata;
pub mod machine_key;
mod prefetch;
mod script_metadata;
pub mod sql_file;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use compile_cache::CompileCache;
use interpreters::Interpreters;
pub use interpreters::{InterpreterPaths, Language};
use prefetch::Prefetch;

use crate::graph::{GraphError, Revision, RevisionGraph};
use crate::sandbox::{Program, RevisionInfo, Sandbox};

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
    /// The directory holds no revisions.
    #[error("no revisions (*.wasm, *.wat, *.py, *.js) in {}; build your revisions or point --migrations at the right directory", .dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file that is not a valid revision component.
    #[error("{} is not a valid revision {}: {reason}", .path.display(), if Language::of(.path).is_some() { "script" } else { "component" })]
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
    #[error("{} reports an invalid {what} {id:?}: ids and branch labels are 1-64 characters of letters, digits, `_` and `-`", .path.display())]
    BadId {
        /// The file.
        path: PathBuf,
        /// Which name: `id`, `parent`, `dependency` or `branch label`.
        what: &'static str,
        /// The name it reported.
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
    /// A script revision whose language has no interpreter component.
    #[error("{}", describe_no_interpreter(.script, .language, .path.as_deref()))]
    NoInterpreter {
        /// The script.
        script: PathBuf,
        /// `python` or `js`.
        language: &'static str,
        /// Where the interpreter was looked for.
        path: Option<PathBuf>,
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
    /// The component's `retort:info` section disagreed with its `info()`.
    #[error("{}: its retort:info section claims other metadata ({id}) than the component's info() reports: the component was altered after it was built; nothing was run: rebuild it from its source", .path.display())]
    LyingSection {
        /// The component.
        path: PathBuf,
        /// The revision id the section claims.
        id: String,
    },
}

/// A revision read fresh: its metadata and, if kept, its compiled form.
type Loaded = Result<(RevisionInfo, Option<Program>), CatalogError>;

/// What loading a revision needs besides the revision, shared by the
/// runner's thread and the loading threads.
#[derive(Debug, Default)]
struct Loading {
    /// Compiled components.
    compiled: CompileCache,
    /// The interpreters of the catalog's scripts.
    interpreters: Interpreters,
    /// The metadata (and compile) cache directory.
    cache_dir: Option<PathBuf>,
}

/// One revision (a component or a script): its metadata, and its compiled
/// form once a plan needs it.
#[derive(Debug)]
pub struct Entry {
    /// What the component says about itself.
    pub info: RevisionInfo,
    /// Where it was read from.
    pub path: PathBuf,
    /// Hex sha256 of the component's bytes; for a script, of its text.
    pub sha256: String,
    /// For a script: the digest of the interpreter it runs under now
    /// (recorded beside its version row).
    pub interpreter: Option<String>,
    program: OnceLock<Program>,
}

impl Entry {
    /// The compiled program, when it is kept in memory: a script read while
    /// loading, or a component that could not be written to the compile
    /// cache (no cache directory, or a read-only one). Otherwise
    /// [`Catalog::program`] loads it when needed.
    pub fn program(&self) -> Option<&Program> {
        self.program.get()
    }

    /// The script language, or `None` for a component or SQL.
    pub fn language(&self) -> Option<Language> {
        Language::of(&self.path)
    }

    /// Whether it is a plain SQL revision (run by the host, never compiled).
    pub fn is_sql(&self) -> bool {
        sql_file::is_revision(&self.path)
    }
}

/// Every revision in a migrations directory, with its graph.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    graph: RevisionGraph,
    cache_hits: usize,
    loading: Arc<Loading>,
    prefetch: Mutex<Option<Prefetch>>,
}

impl Catalog {
    /// Hashes every revision in `dir` and reads its metadata from the cache
    /// in `cache_dir` (`None`: no cache), compiling only the components the
    /// cache does not know, and keeping compiled code under `compile_dir`. Scripts are run by the interpreter components
    /// `interpreters` names. The cache is then updated (a failure to write it
    /// is logged, never fatal: the directory may be read-only).
    pub async fn load(
        sandbox: &Sandbox,
        dir: &Path,
        cache_dir: Option<&Path>,
        compile_dir: Option<&Path>,
        interpreters: &InterpreterPaths,
    ) -> Result<Catalog, CatalogError> {
        let started = std::time::Instant::now();
        let paths = discover(dir)?;
        if paths.is_empty() {
            return Err(CatalogError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let (sql_paths, paths): (Vec<PathBuf>, Vec<PathBuf>) =
            paths.into_iter().partition(|p| sql_file::is_revision(p));
        // SQL files are data with their metadata in a header: read as they are.
        let sql_reads: Vec<(PathBuf, sql_file::Read)> = sql_paths
            .into_iter()
            .map(|path| match sql_file::read(&path) {
                Ok(read) => Ok((path, read)),
                Err(reason) => Err(CatalogError::Invalid { path, reason }),
            })
            .collect::<Result<_, _>>()?;
        let mut cache = cache::MetadataCache::open(cache_dir);
        let scripts = paths
            .iter()
            .filter_map(|path| Some((Language::of(path)?, path.clone())));
        let loading = Loading {
            compiled: CompileCache::open(compile_dir, sandbox),
            interpreters: Interpreters::load(sandbox, interpreters, scripts)?,
            cache_dir: cache_dir.map(Path::to_path_buf),
        };
        let compiled = &loading.compiled;
        // Hash every file on all cores; keep only the hash (holding every
        // component's bytes would cost memory for nothing on a warm run).
        // A script's metadata is keyed by its text and its interpreter
        // (which produced it); a component's by its sha256. What the
        // metadata cache does not know is read from the file where it can
        // be without compiling: a component built with the SDK carries it in
        // a custom section, a script states it in its text. A warm run
        // parses neither.
        let hashed: Vec<(PathBuf, String, String, Known)> = paths
            .into_par_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                let lang = Language::of(&path);
                let key = match lang {
                    Some(lang) => loading
                        .interpreters
                        .legacy_script_sha256(lang, &bytes)
                        .expect("every script language present has its interpreter loaded"),
                    None => sha256.clone(),
                };
                let known = match cache.get(&key) {
                    Some(info) => Known::Cached(info),
                    None => match lang {
                        None => info_section::read(&bytes),
                        Some(lang) => {
                            std::str::from_utf8(&bytes)
                                .ok()
                                .and_then(|text| match lang {
                                    Language::Python => script_metadata::read_python(text),
                                    Language::JavaScript => js_metadata::read_js(text),
                                })
                        }
                    }
                    .map_or(Known::Unknown, Known::Read),
                };
                Ok((path, sha256, key, known))
            })
            .collect::<Result<_, CatalogError>>()?;
        // What was read from a file fills the cache, as a compile would.
        let mut section_reads = 0;
        let cached: Vec<Option<RevisionInfo>> = hashed
            .iter()
            .map(|(_, _, key, known)| {
                let info = match known {
                    Known::Cached(info) => Some(info.clone()),
                    Known::Read(info) if bad_name(info).is_none() => {
                        cache.put(key, info);
                        section_reads += 1;
                        Some(info.clone())
                    }
                    Known::Read(_) | Known::Unknown => None,
                };
                info.filter(|info| bad_name(info).is_none())
            })
            .collect();
        let hashed: Vec<(PathBuf, String, String)> = hashed
            .into_iter()
            .map(|(path, sha256, key, _)| (path, sha256, key))
            .collect();
        // What the cache does not know is compiled, on all cores, to read `info()`.
        let fresh: Vec<Option<Loaded>> = hashed
            .par_iter()
            .zip(&cached)
            .map(|((path, sha256, _), info)| {
                info.is_none().then(|| {
                    let source = Source {
                        id: String::new(),
                        path: path.clone(),
                        sha256: sha256.clone(),
                        info: None,
                    };
                    let (program, info) = checked(sandbox, &loading, &source, Check::Now)?;
                    let keep = program.script_source().is_some() || !compiled.has(sha256);
                    Ok((info, keep.then_some(program)))
                })
            })
            .collect();
        let mut entries: Vec<Entry> = Vec::with_capacity(hashed.len());
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(hashed.len());
        let mut cache_hits = 0;
        let mut keys: HashSet<String> = HashSet::with_capacity(hashed.len());
        for (((path, sha256, key), info), fresh) in hashed.into_iter().zip(cached).zip(fresh) {
            let program = OnceLock::new();
            let info = match (info, fresh) {
                (Some(info), _) => {
                    cache_hits += 1;
                    info
                }
                (None, fresh) => {
                    let (info, kept) =
                        fresh.unwrap_or_else(|| Err(invalid(&path, "not compiled".into())))?;
                    if let Some((what, id)) = bad_name(&info) {
                        return Err(CatalogError::BadId { path, what, id });
                    }
                    cache.put(&key, &info);
                    if let Some(kept) = kept {
                        let _ = program.set(kept);
                    }
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
            let interpreter = Language::of(&path)
                .and_then(|lang| loading.interpreters.digest(lang))
                .map(str::to_string);
            keys.insert(key);
            entries.push(Entry {
                info,
                path,
                sha256,
                interpreter,
                program,
            });
        }
        for (path, read) in sql_reads {
            if let Some((what, id)) = bad_name(&read.info) {
                return Err(CatalogError::BadId { path, what, id });
            }
            if let Some(&first) = by_id.get(&read.info.id) {
                return Err(CatalogError::DuplicateId {
                    id: read.info.id,
                    first: entries[first].path.clone(),
                    second: path,
                });
            }
            by_id.insert(read.info.id.clone(), entries.len());
            let program = OnceLock::new();
            let _ = program.set(Program::sql(Arc::new(read.revision)));
            entries.push(Entry {
                info: read.info,
                path,
                sha256: read.sha256,
                interpreter: None,
                program,
            });
        }
        let mut present: HashSet<&str> = entries.iter().map(|e| e.sha256.as_str()).collect();
        present.extend(loading.interpreters.digests());
        compiled.prune(&present);
        present.extend(keys.iter().map(String::as_str));
        cache.retain(&present);
        if let Err(e) = cache.save() {
            tracing::info!(
                "cannot write the metadata cache in {}: {e}; the next run will read the components again",
                cache_dir.map_or_else(String::new, |d| d.display().to_string())
            );
        }
        // What came from sections is not a cache hit.
        let cache_hits = cache_hits - section_reads;
        let graph = RevisionGraph::new(entries.iter().map(|e| to_graph(&e.info)).collect())?;
        tracing::info!(
            "catalog: {} revision(s), {cache_hits} from the metadata cache, {section_reads} from their retort:info section, {} loaded compiled, {} compiled, in {:.1} ms",
            entries.len(),
            compiled.hits(),
            compiled.compiled(),
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(Catalog {
            dir: dir.to_path_buf(),
            entries,
            by_id,
            graph,
            cache_hits,
            loading: Arc::new(loading),
            prefetch: Mutex::new(None),
        })
    }

    /// A catalog with no revisions, for a project that has none yet.
    pub fn empty(dir: &Path) -> Catalog {
        Catalog {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            by_id: HashMap::new(),
            graph: RevisionGraph::empty(),
            cache_hits: 0,
            loading: Arc::default(),
            prefetch: Mutex::new(None),
        }
    }

    /// Makes sure every component of `ids` can run: those not compiled yet
    /// are compiled on all cores (checking that each still has the hash it
    /// was loaded with, its imports, and that its live `info()` matches the
    /// metadata the plan was made from) and written to the compile cache, so
    /// a broken component stops the run before it starts. Then the cached
    /// ones start loading, in order, on other threads ([`prefetch`]); the
    /// runner takes each with [`Catalog::component`].
    pub async fn prepare(&self, sandbox: &Sandbox, ids: &[String]) -> Result<(), CatalogError> {
        let started = std::time::Instant::now();
        let before = self.compile_counts();
        let needed: Vec<&Entry> = ids
            .iter()
            .filter_map(|id| self.get(id))
            .filter(|entry| entry.program.get().is_none())
            .collect();
        self.compile_missing(sandbox, &needed)?;
        let cached: Vec<Source> = needed
            .iter()
            .filter(|entry| entry.program.get().is_none())
            .map(|entry| entry.source())
            .collect();
        let prefetch =
            (!cached.is_empty()).then(|| Prefetch::start(sandbox, &self.loading, cached));
        *self.prefetch.lock().unwrap_or_else(|e| e.into_inner()) = prefetch;
        let after = self.compile_counts();
        tracing::info!(
            "prepare: {} compiled in {:.1} ms; {} to load from the compile cache",
            after.1 - before.1,
            started.elapsed().as_secs_f64() * 1e3,
            needed.len() - (after.1 - before.1),
        );
        Ok(())
    }

    /// Compiles every revision (and interpreter) whose code is not in the
    /// compile cache yet, so later runs on this machine load it; returns
    /// how many were compiled. `retort build` calls it.
    pub fn precompile(&self, sandbox: &Sandbox) -> Result<usize, CatalogError> {
        let before = self.compile_counts().1;
        let needed: Vec<&Entry> = self.entries.iter().collect();
        self.compile_missing(sandbox, &needed)?;
        Ok(self.compile_counts().1 - before)
    }

    /// Compiles (and checks) those of `needed` whose code is not in the
    /// compile cache, on all cores; keeps each program in memory when it
    /// could not be cached.
    fn compile_missing(&self, sandbox: &Sandbox, needed: &[&Entry]) -> Result<(), CatalogError> {
        let missing: Vec<&Entry> = needed
            .iter()
            .copied()
            .filter(|entry| !self.is_compiled(entry))
            .collect();
        let compiled: Vec<Result<Option<Program>, CatalogError>> = missing
            .par_iter()
            .map(|entry| {
                match checked(sandbox, &self.loading, &entry.source(), Check::Now) {
                    Ok((program, _)) => Ok((!self.is_compiled(entry)).then_some(program)),
                    Err(e) => {
                        // Only code that passed its checks is kept: a later
                        // run compiles it again and refuses it the same way.
                        if entry.language().is_none() {
                            self.loading.compiled.forget(&entry.sha256);
                        }
                        Err(e)
                    }
                }
            })
            .collect();
        for (entry, compiled) in missing.into_iter().zip(compiled) {
            if let Some(kept) = compiled? {
                let _ = entry.program.set(kept);
            }
        }
        Ok(())
    }

    /// Whether the code `entry` runs is in the compile cache: its own
    /// component's, or its interpreter's.
    fn is_compiled(&self, entry: &Entry) -> bool {
        if entry.is_sql() {
            return true;
        }
        match entry.language() {
            Some(lang) => self.loading.interpreters.is_compiled(lang),
            None => self.loading.compiled.has(&entry.sha256),
        }
    }

    /// The identity earlier releases recorded for script `entry` under
    /// its present interpreter (`None` for a component, or an unreadable file).
    pub fn legacy_identity(&self, entry: &Entry) -> Option<String> {
        let lang = entry.language()?;
        let source = std::fs::read(&entry.path).ok()?;
        self.loading
            .interpreters
            .legacy_script_sha256(lang, &source)
    }

    /// The compiled program of revision `id`, for the runner: kept in
    /// memory, loaded ahead by [`Catalog::prepare`], or else loaded now. A
    /// damaged cached artifact is compiled again; the component's imports are
    /// checked either way, and its `info()` in the call that runs it
    /// ([`Program::expecting`]).
    pub fn program(&self, sandbox: &Sandbox, id: &str) -> Result<Program, CatalogError> {
        let entry = self
            .get(id)
            .ok_or_else(|| invalid(&self.dir, format!("no component provides revision {id}")))?;
        if let Some(kept) = entry.program.get() {
            return Ok(kept.clone());
        }
        let prefetched = self
            .prefetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|prefetch| prefetch.take(id));
        if let Some(loaded) = prefetched {
            return loaded;
        }
        let loaded = program(sandbox, &self.loading, &entry.source())?;
        Ok(loaded.expecting(entry.info.clone()))
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

    /// How many components were loaded from the compile cache, and how many
    /// were compiled, so far.
    pub fn compile_counts(&self) -> (usize, usize) {
        let (hits, compiled) = self.loading.interpreters.compile_counts();
        (
            self.loading.compiled.hits() + hits,
            self.loading.compiled.compiled() + compiled,
        )
    }
}

fn describe_no_interpreter(script: &Path, language: &str, path: Option<&Path>) -> String {
    let built_in = Language::ALL
        .into_iter()
        .find(|l| l.name() == language)
        .and_then(Language::built_in)
        .is_some();
    let place = match path {
        Some(p) => format!(
            "there is no {language} interpreter component at {}",
            p.display()
        ),
        None => format!("no {language} interpreter is configured"),
    };
    let todo = if built_in {
        format!(
            "put it there, or remove the [interpreters] setting from retort.toml (and RETORT_INTERPRETERS, RETORT_{}_INTERPRETER from the environment) to use the one built into retort",
            language.to_uppercase()
        )
    } else {
        format!(
            "this retort was built without a {language} interpreter: put its component there (`./scripts/build-interpreters` in a Retort checkout makes target/interpreters/{language}.wasm; rebuilding retort then builds it in), or set `{language} = \"PATH\"` under [interpreters] in retort.toml"
        )
    };
    format!(
        "{} is a {language} revision, but {place}: {todo}",
        script.display()
    )
}

/// What the catalog knows of a file's metadata before compiling anything.
enum Known {
    /// From the metadata cache.
    Cached(RevisionInfo),
    /// Read from the file itself (a `retort:info` section, a script's text).
    Read(RevisionInfo),
    /// Only the component's `info()` can tell.
    Unknown,
}

/// Where the metadata cache of a migrations directory lives by default.
pub fn default_cache_dir(migrations: &Path) -> PathBuf {
    migrations.join(".retort-cache")
}

impl Entry {
    fn source(&self) -> Source {
        Source {
            id: self.info.id.clone(),
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            info: Some(self.info.clone()),
        }
    }
}

/// What loading one component needs, owned, for any thread.
#[derive(Debug, Clone)]
struct Source {
    /// The revision id (empty while it is not known yet).
    id: String,
    /// The file.
    path: PathBuf,
    /// Its hash when the catalog was loaded.
    sha256: String,
    /// The metadata the plan was made from; `None` when it is being read.
    info: Option<RevisionInfo>,
}

/// Loads (or compiles) what `source` runs and reads its `info()`, which
/// must match `source.info` when that is known. Blocks on the call, so it
/// runs on worker threads, never on the async runtime's.
fn checked(
    sandbox: &Sandbox,
    loading: &Loading,
    source: &Source,
    check: Check,
) -> Result<(Program, RevisionInfo), CatalogError> {
    let cache_dir = loading.cache_dir.as_deref();
    let loaded = program(sandbox, loading, source)?;
    if let Some(expected) = deferred_check(source, check) {
        return Ok((loaded.expecting(expected.clone()), expected));
    }
    let live = block_on(sandbox.info(&loaded))
        .and_then(|info| info)
        .map_err(|reason| invalid(&source.path, reason))?;
    if source
        .info
        .as_ref()
        .is_some_and(|expected| *expected != live)
    {
        return Err(stale(cache_dir, source));
    }
    Ok((loaded, live))
}

/// When a loaded revision's `info()` is checked against its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Now, in an instance of its own: when the metadata is being read, and
    /// when `prepare` compiles a revision (so a broken one stops the run
    /// before it starts).
    Now,
    /// In the instance that runs the revision, just before `upgrade` or
    /// `downgrade` (see [`Program::expecting`]): a call instead of a second
    /// instantiation, which for an interpreter costs milliseconds. A
    /// mismatch then fails the revision inside its transaction, before it
    /// has sent a statement.
    InTheCall,
}

/// The metadata to check in the call, when the check is deferred and the
/// metadata is known.
fn deferred_check(source: &Source, check: Check) -> Option<RevisionInfo> {
    (check == Check::InTheCall).then(|| source.info.clone())?
}

/// The metadata a component was planned from disagreed with its `info()`:
/// its own section lied, or the metadata cache (which is cleared) did.
fn stale(cache_dir: Option<&Path>, source: &Source) -> CatalogError {
    let section = std::fs::read(&source.path)
        .ok()
        .and_then(|bytes| info_section::read(&bytes));
    if section.is_some() && section == source.info {
        return CatalogError::LyingSection {
            path: source.path.clone(),
            id: source.id.clone(),
        };
    }
    if let Some(dir) = cache_dir {
        cache::MetadataCache::clear(dir);
    }
    CatalogError::StaleCache {
        cache: cache_dir.map(Path::to_path_buf).unwrap_or_default(),
        path: source.path.clone(),
        id: source.id.clone(),
    }
}

/// Runs a future to completion on this (worker) thread's own small runtime;
/// on a thread that drives the async runtime already (rayon may run a job on
/// the thread that waits for it), on a helper thread instead.
fn block_on<F>(future: F) -> Result<F::Output, String>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    let here = |future: F| {
        RUNTIME.with(|runtime| match runtime {
            Some(runtime) => Ok(runtime.block_on(future)),
            None => Err("cannot start a runtime to read the component's info()".to_string()),
        })
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return here(future);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| here(future))
            .join()
            .unwrap_or_else(|_| Err("reading the component's info() panicked".into()))
    })
}

/// What `source` runs: its component, or its script in its interpreter.
fn program(sandbox: &Sandbox, loading: &Loading, source: &Source) -> Result<Program, CatalogError> {
    match Language::of(&source.path) {
        Some(lang) => loading
            .interpreters
            .program(sandbox, lang, &source.path, &source.sha256),
        None => component(
            sandbox,
            &loading.compiled,
            &source.path,
            &source.sha256,
            ComponentKind::Revision,
        )
        .map(Program::component),
    }
}

/// The compiled component of the file at `path`, which was loaded with hash
/// `sha256`: from the compile cache, or compiled (and cached). Its imports
/// are checked either way, as `kind` requires.
fn component(
    sandbox: &Sandbox,
    compiled: &CompileCache,
    path: &Path,
    sha256: &str,
    kind: ComponentKind,
) -> Result<Component, CatalogError> {
    let mut failure = None;
    let source = || {
        let read = std::fs::read(path).map_err(io(path));
        let checked = read.and_then(|bytes| {
            if kind.digest(&bytes) == sha256 {
                Ok(bytes)
            } else {
                Err(CatalogError::Changed {
                    path: path.to_path_buf(),
                    sha256: sha256.to_string(),
                })
            }
        });
        checked.map_err(|e| {
            failure = Some(e);
            String::new()
        })
    };
    let name = path.file_name().map(|n| n.to_string_lossy());
    let name = name.as_deref().unwrap_or("a component");
    let what = match kind {
        ComponentKind::Revision => compile_notice::Compiled::Revision(name),
        ComponentKind::Interpreter => {
            compile_notice::Compiled::Interpreter(name.strip_suffix(".wasm").unwrap_or(name))
        }
    };
    let result = compiled.get_or_compile(sandbox, sha256, what, source);
    if let Some(failure) = failure {
        return Err(failure);
    }
    let component = result.map_err(|reason| invalid(path, reason))?;
    kind.check_imports(sandbox, &component)
        .map_err(|reason| invalid(path, reason))?;
    Ok(component)
}

/// The compiled built-in interpreter (`bytes`, digest `digest`): from the
/// compile cache or compiled now; its imports are checked either way.
fn built_in_component(
    sandbox: &Sandbox,
    compiled: &CompileCache,
    lang: Language,
    name: &Path,
    bytes: &'static [u8],
    digest: &str,
) -> Result<Component, CatalogError> {
    let what = compile_notice::Compiled::Interpreter(lang.name());
    let component = compiled
        .get_or_compile(sandbox, digest, what, || Ok(bytes.to_vec()))
        .map_err(|reason| invalid(name, reason))?;
    ComponentKind::Interpreter
        .check_imports(sandbox, &component)
        .map_err(|reason| invalid(name, reason))?;
    Ok(component)
}

/// Revision components and interpreter components differ in how they are
/// identified and in what they may import.
#[derive(Debug, Clone, Copy)]
enum ComponentKind {
    /// A revision: identified by the sha256 its version row records.
    Revision,
    /// An interpreter: identified by BLAKE3, which reads a 20 MB
    /// interpreter about three times faster than sha256 on every command
    /// (the scripts it runs are still identified by sha256).
    Interpreter,
}

impl ComponentKind {
    fn digest(self, bytes: &[u8]) -> String {
        match self {
            ComponentKind::Revision => hex::encode(Sha256::digest(bytes)),
            ComponentKind::Interpreter => blake3::hash(bytes).to_hex().to_string(),
        }
    }

    fn check_imports(self, sandbox: &Sandbox, component: &Component) -> Result<(), String> {
        match self {
            ComponentKind::Revision => sandbox.check_imports(component),
            ComponentKind::Interpreter => sandbox.check_interpreter_imports(component),
        }
    }
}

fn invalid(path: &Path, reason: String) -> CatalogError {
    CatalogError::Invalid {
        path: path.to_path_buf(),
        reason,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + use<> {
    let path = path.to_path_buf();
    move |source| CatalogError::Io { path, source }
}

/// The revision files in `dir` (components, scripts, SQL), sorted by name.
fn discover(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let is_revision = path
            .extension()
            .is_some_and(|ext| ext == "wasm" || ext == "wat")
            || Language::of(&path).is_some()
            || sql_file::is_revision(&path);
        if sql_file::is_down_file(&path) {
            let up = sql_file::up_file_of(&path);
            if !up.is_file() {
                return Err(invalid(
                    &path,
                    format!(
                        "a .down.sql file with no {} beside it: the upgrade (with the `-- retort:` header) goes in the .up.sql file",
                        up.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        if is_revision && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The first name in `info` outside the safe alphabet: every one of them is
/// written into offline scripts and onto terminals.
fn bad_name(info: &RevisionInfo) -> Option<(&'static str, String)> {
    let named = |what, names: &[String]| {
        names
            .iter()
            .find(|n| !valid_id(n))
            .map(|n| (what, n.clone()))
    };
    named("id", std::slice::from_ref(&info.id))
        .or_else(|| named("parent", &info.down_revisions))
        .or_else(|| named("dependency", &info.depends_on))
        .or_else(|| named("branch label", &info.branch_labels))
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
