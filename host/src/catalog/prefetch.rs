//! Loads the components a run needs on threads of their own (one per core),
//! in plan order and at most [`AHEAD`] steps ahead of the runner.
//!
//! Loading a cached component (hashing its artifact, mapping it, checking its
//! imports and its `info()`) then happens on other cores while the runner
//! waits for the database, and only a window of components is in memory at a
//! time however long the plan: a component is dropped once its step is done.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{CatalogError, Check, Loading, Source, checked};
use crate::sandbox::{Program, Sandbox};

/// How many components may be loaded (or loading) ahead of the runner.
pub const AHEAD: usize = 16;

/// Where the loaders and the runner meet.
#[derive(Debug, Default)]
struct State {
    /// The index of the next source a loader starts on.
    next: usize,
    /// The index of the next source the runner takes.
    taken: usize,
    /// Loaded components not taken yet, by index.
    loaded: HashMap<usize, Result<Program, CatalogError>>,
    /// Set when the runner is gone: loaders stop.
    closed: bool,
    /// Loader threads still running.
    running: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// The runner's end: one component per planned step, in order.
#[derive(Debug)]
pub struct Prefetch {
    ids: Vec<String>,
    shared: Arc<Shared>,
}

impl Prefetch {
    /// Starts loading `sources` in order, on one thread per core. The threads
    /// stop at the end, or as soon as this `Prefetch` is dropped.
    pub fn start(sandbox: &Sandbox, loading: &Arc<Loading>, sources: Vec<Source>) -> Prefetch {
        let ids = sources.iter().map(|s| s.id.clone()).collect();
        let shared = Arc::new(Shared::default());
        let sources = Arc::new(sources);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for n in 0..threads.min(sources.len()) {
            let work = Loader {
                sandbox: sandbox.clone(),
                loading: Arc::clone(loading),
                sources: Arc::clone(&sources),
                shared: Arc::clone(&shared),
            };
            shared.lock().running += 1;
            let spawned = std::thread::Builder::new()
                .name(format!("retort-load-{n}"))
                .spawn(move || work.run());
            if let Err(e) = spawned {
                // Fewer loaders, or none: the runner then loads what is left itself.
                shared.lock().running -= 1;
                tracing::info!("cannot start a loading thread: {e}");
            }
        }
        Prefetch { ids, shared }
    }

    /// The loaded component of `id`, waiting for it if need be; `None` when
    /// `id` is not the next planned step or no loader is left (the runner
    /// then loads it itself).
    pub fn take(&self, id: &str) -> Option<Result<Program, CatalogError>> {
        let mut state = self.shared.lock();
        let index = state.taken;
        if self.ids.get(index).map(String::as_str) != Some(id) {
            return None;
        }
        loop {
            if let Some(loaded) = state.loaded.remove(&index) {
                state.taken += 1;
                self.shared.changed.notify_all();
                return Some(loaded);
            }
            if state.running == 0 {
                return None;
            }
            state = self.shared.wait(state);
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

/// What one loader thread owns.
struct Loader {
    sandbox: Sandbox,
    loading: Arc<Loading>,
    sources: Arc<Vec<Source>>,
    shared: Arc<Shared>,
}

/// Counts a loader out when it ends, however it ends (a panic included), so
/// the runner never waits for a loader that is gone.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.lock().running -= 1;
        self.0.changed.notify_all();
    }
}

impl Loader {
    fn run(self) {
        let _running = Running(Arc::clone(&self.shared));
        idle_priority();
        loop {
            let index = {
                let mut state = self.shared.lock();
                while !state.closed
                    && state.next < self.sources.len()
                    && state.next >= state.taken + AHEAD
                {
                    state = self.shared.wait(state);
                }
                if state.closed || state.next >= self.sources.len() {
                    break;
                }
                state.next += 1;
                state.next - 1
            };
            let source = &self.sources[index];
            let result = checked(&self.sandbox, &self.loading, source, Check::InTheCall)
                .map(|(program, _)| program);
            self.shared.lock().loaded.insert(index, result);
            self.shared.changed.notify_all();
        }
    }
}

/// Gives the loading threads a low share of a contended core (nice 10,
/// about a tenth of the runner's weight): on an idle machine they fill the
/// time the runner and the database driver spend waiting on each other
/// rather than taking a core from them, and on a busy one they still get
/// their turn. (`SCHED_IDLE`, used before, starved them there: a warm
/// `--sql` took 1.7–2.2 s instead of 1.0–1.4 s on a loaded machine.)
#[cfg(target_os = "linux")]
fn idle_priority() {
    // SAFETY: gettid has no preconditions; setpriority on that id changes
    // the calling thread only (Linux), and failure leaves it as it was.
    let failed = unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, LOADER_NICE)
    } != 0;
    if failed {
        tracing::debug!(
            "cannot lower the loading thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The loading threads' nice value.
#[cfg(target_os = "linux")]
const LOADER_NICE: libc::c_int = 10;

#[cfg(not(target_os = "linux"))]
fn idle_priority() {}
