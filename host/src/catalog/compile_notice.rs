//! Word of long compiles: compiling an interpreter takes seconds (CPython:
//! 9–18 s on a busy machine), which a person at a terminal should see as it
//! happens, and a run's summary should count apart from the revisions'
//! own time.
//!
//! The catalog reports each compile here; the command line installs an
//! observer (a spinner on a terminal, a line in logs, an event in JSON).
//! Compile time is also summed per process for the summary.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// What is being compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled<'a> {
    /// A revision component (its file name).
    Revision(&'a str),
    /// An interpreter component (`python` or `js`).
    Interpreter(&'a str),
}

impl std::fmt::Display for Compiled<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compiled::Revision(name) => write!(f, "{name}"),
            Compiled::Interpreter(lang) => write!(f, "the {lang} interpreter"),
        }
    }
}

/// A compile starting or done.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// Compiling `what` to native code has started.
    Started(Compiled<'a>),
    /// It finished after `elapsed`.
    Finished(Compiled<'a>, Duration),
}

type Observer = Box<dyn Fn(Notice<'_>) + Send + Sync>;

static OBSERVER: OnceLock<Observer> = OnceLock::new();
static COMPILED: AtomicUsize = AtomicUsize::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

/// Installs the process's observer of compiles (the first call wins).
pub fn observe(observer: impl Fn(Notice<'_>) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(observer));
}

/// How many components this process compiled, and the time it took (the
/// sum over threads: compiles on several cores at once add up).
pub fn totals() -> (usize, Duration) {
    (
        COMPILED.load(Ordering::Relaxed),
        Duration::from_nanos(NANOS.load(Ordering::Relaxed)),
    )
}

/// Runs `compile` for `what`, telling the observer and counting its time.
pub(crate) fn compiling<T>(what: Compiled<'_>, compile: impl FnOnce() -> T) -> T {
    if let Some(observer) = OBSERVER.get() {
        observer(Notice::Started(what));
    }
    let started = std::time::Instant::now();
    let result = compile();
    let elapsed = started.elapsed();
    COMPILED.fetch_add(1, Ordering::Relaxed);
    NANOS.fetch_add(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    tracing::info!("compiled {what} in {:.1} s", elapsed.as_secs_f64());
    if let Some(observer) = OBSERVER.get() {
        observer(Notice::Finished(what, elapsed));
    }
    result
}
