//! WASI for revisions: linked so that components built for `wasm32-wasip2`
//! instantiate, with nothing granted.
//!
//! No preopened directories, no environment, no arguments, no network, no
//! stdin. Clocks read a fixed instant (the Unix epoch) and randomness is a
//! fixed byte, so a revision cannot observe the machine and behaves the same
//! on every run: what makes an offline script a faithful preview.

use std::time::Duration;

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx};

/// How much of a revision's stderr (panic messages) is kept for error reports.
pub const STDERR_CAPACITY: usize = 64 * 1024;

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A WASI context that grants nothing; stderr goes to `stderr` so a panic
/// message can be shown, stdout is discarded.
pub fn deny_all(stderr: MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder()
        .stderr(stderr)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(Deterministic::new(vec![0]))
        .insecure_random(Deterministic::new(vec![0]))
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}
