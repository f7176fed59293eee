//! Loads the components a run needs on a thread of its own, in plan order and
//! at most [`AHEAD`] steps ahead of the runner.
//!
//! Loading a cached component (hashing its artifact, mapping it, checking its
//! imports and its `info()`) then happens on another core while the runner
//! waits for the database, and only a window of components is in memory at a
//! time however long the plan: a component is dropped once its step is done.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use wasmtime::component::Component;

use super::compile_cache::CompileCache;
use super::{CatalogError, Source, checked};
use crate::sandbox::Sandbox;

/// How many loaded components may wait for the runner.
pub const AHEAD: usize = 16;

type Loaded = (String, Result<Component, CatalogError>);

/// The receiving end: one component per planned step, in order.
#[derive(Debug)]
pub struct Prefetch {
    loaded: Mutex<Receiver<Loaded>>,
}

impl Prefetch {
    /// Starts loading `sources` in order. The thread stops at the end, or as
    /// soon as this `Prefetch` is dropped.
    pub fn start(
        sandbox: &Sandbox,
        compiled: &Arc<CompileCache>,
        cache_dir: Option<PathBuf>,
        sources: Vec<Source>,
    ) -> Prefetch {
        let (send, loaded) = sync_channel(AHEAD);
        let sandbox = sandbox.clone();
        let compiled = Arc::clone(compiled);
        let spawned = std::thread::Builder::new()
            .name("retort-prefetch".into())
            .spawn(move || run(&sandbox, &compiled, cache_dir.as_deref(), sources, &send));
        if let Err(e) = spawned {
            // The runner then loads each component itself, on its own thread.
            tracing::info!("cannot start the prefetch thread: {e}");
        }
        Prefetch {
            loaded: Mutex::new(loaded),
        }
    }

    /// The next loaded component, if it is `id`'s; `None` when the thread is
    /// gone or the runner asks out of order (it then loads `id` itself).
    pub fn take(&self, id: &str) -> Option<Result<Component, CatalogError>> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        match loaded.recv() {
            Ok((loaded_id, result)) if loaded_id == id => Some(result),
            _ => None,
        }
    }
}

fn run(
    sandbox: &Sandbox,
    compiled: &CompileCache,
    cache_dir: Option<&std::path::Path>,
    sources: Vec<Source>,
    send: &SyncSender<Loaded>,
) {
    for source in sources {
        let result = checked(sandbox, compiled, cache_dir, &source).map(|(component, _)| component);
        if send.send((source.id, result)).is_err() {
            return;
        }
    }
}
