//! SIGTERM and SIGINT during a run that changes the database.
//!
//! A deploy system sends SIGTERM before SIGKILL, and a person presses
//! Ctrl-C: the first signal asks the run to stop cleanly. No revision starts
//! after it; the statement under way is stopped on the server (as an overrun
//! one is) and a revision still running fails there, so the runner rolls
//! back what can be rolled back and the journal keeps what cannot; the lock
//! is released and the run ends with a `done` event whose status is
//! `interrupted`, exiting 128 + the signal's number (130 for SIGINT, 143 for
//! SIGTERM), as a shell reports a process the signal ended. A second signal
//! exits at once.

use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::Notify;

/// The signal that asked the run to stop (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static NOTIFY: Notify = Notify::const_new();

/// A signal that asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// Its name, `SIGTERM` or `SIGINT`.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }

    /// The exit code of a run it stopped: 128 + its number.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(u8::MAX)
    }
}

/// Stops listening when dropped (the run is over).
pub struct Listening(Option<tokio::task::JoinHandle<()>>);

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Handles SIGTERM and SIGINT from now until the guard is dropped; where
/// the handlers cannot be installed, signals keep their default action.
pub fn install() -> Listening {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return Listening(None);
    };
    Listening(Some(tokio::spawn(async move {
        loop {
            let number = tokio::select! {
                _ = term.recv() => libc::SIGTERM,
                _ = int.recv() => libc::SIGINT,
            };
            let signal = Signal(number);
            if SIGNAL
                .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                eprintln!("retort: {} again: exiting at once", signal.name());
                std::process::exit(i32::from(signal.exit_code()));
            }
            eprintln!(
                "retort: {} received: stopping the run (no revision starts now; the statement under way is stopped and what cannot be rolled back is journaled); send it again to exit at once",
                signal.name()
            );
            NOTIFY.notify_waiters();
        }
    })))
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<Signal> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        n => Some(Signal(n)),
    }
}

/// Waits until a signal asks the run to stop.
pub async fn wait() -> Signal {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(signal) = requested() {
            return signal;
        }
        notified.await;
    }
}
