//! The CPU budget's meter: the processor time the guest's thread spends
//! running it, not the time that passes. A loaded machine stretches wall
//! time, never this.
//!
//! The guest runs on whatever thread polls its call, and a busy guest
//! yields at every epoch tick, so a call may move between threads. The
//! call is [`Metered`]: each poll marks (thread, that thread's CPU clock,
//! the wall clock) as it starts and charges what that thread's CPU clock
//! advanced as it ends, so every charge compares one thread's clock with
//! itself; time spent queued between polls, or with the process stopped,
//! is never charged. Should a mark still be compared across threads, the
//! wall time since it is charged: never less than the guest may have used.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// A meter the store's state and the [`Metered`] call share.
pub(super) type SharedMeter = Arc<Mutex<CpuMeter>>;

/// Locks `meter` (a panic elsewhere cannot poison a duration).
pub(super) fn lock(meter: &SharedMeter) -> std::sync::MutexGuard<'_, CpuMeter> {
    meter.lock().unwrap_or_else(|e| e.into_inner())
}

/// A call whose every poll is metered on the thread that polls it.
pub(super) struct Metered<F> {
    meter: SharedMeter,
    inner: Pin<Box<F>>,
}

impl<F: Future> Metered<F> {
    pub(super) fn new(meter: SharedMeter, inner: F) -> Metered<F> {
        Metered {
            meter,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        lock(&self.meter).enter_poll();
        let result = self.inner.as_mut().poll(cx);
        lock(&self.meter).leave_poll();
        result
    }
}

/// CPU time used by one call's guest code.
#[derive(Debug)]
pub(super) struct CpuMeter {
    used: Duration,
    /// Where the guest last started running; `None` while it waits on the
    /// host or between polls.
    mark: Option<Mark>,
    /// In a host call ([`CpuMeter::pause`] .. [`CpuMeter::resume`]).
    in_host: bool,
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    thread: ThreadId,
    cpu: Duration,
    wall: Instant,
}

impl Mark {
    fn now() -> Mark {
        Mark {
            thread: std::thread::current().id(),
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// What ran since this mark, as seen from `now`.
    fn since(&self, now: &Mark) -> Duration {
        if self.thread == now.thread {
            now.cpu.saturating_sub(self.cpu)
        } else {
            now.wall.saturating_duration_since(self.wall)
        }
    }
}

impl CpuMeter {
    /// A meter whose guest starts running now.
    pub(super) fn running() -> CpuMeter {
        CpuMeter {
            used: Duration::ZERO,
            mark: Some(Mark::now()),
            in_host: false,
        }
    }

    /// The guest calls into the host (to wait on the database): what it ran
    /// so far is charged, and nothing is until [`CpuMeter::resume`].
    pub(super) fn pause(&mut self) {
        self.in_host = true;
        self.stop();
    }

    /// The guest runs again, on this thread.
    pub(super) fn resume(&mut self) {
        self.in_host = false;
        self.mark = Some(Mark::now());
    }

    /// A poll of the call starts on this thread: the guest runs in it
    /// unless the call is waiting on the host.
    fn enter_poll(&mut self) {
        if !self.in_host {
            self.mark = Some(Mark::now());
        }
    }

    /// The poll ends: what ran on this thread is charged.
    fn leave_poll(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mark) = self.mark.take() {
            self.used += mark.since(&Mark::now());
        }
    }

    /// Everything used so far; the mark moves to now.
    pub(super) fn charge(&mut self) -> Duration {
        if let Some(mark) = self.mark {
            let now = Mark::now();
            self.used += mark.since(&now);
            self.mark = Some(now);
        }
        self.used
    }
}

/// This thread's CPU clock (user and system time).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is
    // supported on every platform Retort builds for (Linux, macOS).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeping_costs_no_cpu_and_spinning_does() {
        let mut meter = CpuMeter::running();
        std::thread::sleep(Duration::from_millis(300));
        let slept = meter.charge();
        assert!(slept < Duration::from_millis(100), "{slept:?}");
        let until = thread_cpu_time() + Duration::from_millis(50);
        while thread_cpu_time() < until {
            std::hint::black_box(0u64);
        }
        let spun = meter.charge() - slept;
        assert!(spun >= Duration::from_millis(50), "{spun:?}");
    }

    #[test]
    fn a_paused_guest_is_not_charged() {
        let mut meter = CpuMeter::running();
        meter.pause();
        let until = thread_cpu_time() + Duration::from_millis(50);
        while thread_cpu_time() < until {
            std::hint::black_box(0u64);
        }
        let paused = meter.charge();
        assert!(paused < Duration::from_millis(20), "{paused:?}");
        meter.resume();
        let until = thread_cpu_time() + Duration::from_millis(30);
        while thread_cpu_time() < until {
            std::hint::black_box(0u64);
        }
        assert!(meter.charge() >= paused + Duration::from_millis(30));
    }

    #[test]
    fn time_between_polls_on_other_threads_is_not_charged() {
        let meter: SharedMeter = Arc::new(Mutex::new(CpuMeter::running()));
        lock(&meter).leave_poll();
        // Queued (or stopped) between polls: wall time passes, nothing runs.
        std::thread::sleep(Duration::from_millis(200));
        let shared = meter.clone();
        std::thread::spawn(move || {
            lock(&shared).enter_poll();
            let until = thread_cpu_time() + Duration::from_millis(30);
            while thread_cpu_time() < until {
                std::hint::black_box(0u64);
            }
            lock(&shared).leave_poll();
        })
        .join()
        .unwrap();
        let used = lock(&meter).charge();
        assert!(used >= Duration::from_millis(30), "{used:?}");
        assert!(used < Duration::from_millis(150), "{used:?}");
    }

    #[test]
    fn another_thread_is_charged_wall_time() {
        let mut meter = CpuMeter::running();
        std::thread::sleep(Duration::from_millis(50));
        let used = std::thread::spawn(move || meter.charge()).join().unwrap();
        assert!(used >= Duration::from_millis(50), "{used:?}");
    }
}
