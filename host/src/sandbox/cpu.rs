//! The CPU budget's meter: the processor time the guest's thread spends
//! running it, not the time that passes. A loaded machine stretches wall
//! time, never this.
//!
//! The guest runs on whatever thread polls its call. The meter keeps a mark
//! (thread, that thread's CPU clock, the wall clock) where the guest starts
//! or resumes; charging adds what the thread's CPU clock advanced since. If
//! the call moved to another thread in between, thread clocks cannot be
//! compared and the wall time since the mark is charged instead: never less
//! than the guest may have used.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// CPU time used by one call's guest code.
#[derive(Debug)]
pub(super) struct CpuMeter {
    used: Duration,
    /// Where the guest last started running; `None` while it waits on the host.
    mark: Option<Mark>,
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
        }
    }

    /// The guest calls into the host (to wait on the database): what it ran
    /// so far is charged, and nothing is until [`CpuMeter::resume`].
    pub(super) fn pause(&mut self) {
        if let Some(mark) = self.mark.take() {
            self.used += mark.since(&Mark::now());
        }
    }

    /// The guest runs again, on this thread.
    pub(super) fn resume(&mut self) {
        self.mark = Some(Mark::now());
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
    fn another_thread_is_charged_wall_time() {
        let mut meter = CpuMeter::running();
        std::thread::sleep(Duration::from_millis(50));
        let used = std::thread::spawn(move || meter.charge()).join().unwrap();
        assert!(used >= Duration::from_millis(50), "{used:?}");
    }
}
