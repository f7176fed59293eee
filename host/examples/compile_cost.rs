//! The CPU cost of compiling components, per compiler configuration: what a
//! cold run pays per revision. Compiles every file with each configuration
//! (one thread, so CPU time is the process's) and prints the median CPU ms
//! per component.
//!
//! ```sh
//! cargo run --release -p retort --example compile_cost -- A.wasm B.wasm …
//! ```

use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel, RegallocAlgorithm, Strategy};

fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One configuration: the compiler, whether Cranelift runs unoptimised
/// with its single-pass register allocator (for Winch: its trampolines),
/// and whether the address map is generated.
fn config(strategy: Strategy, unoptimised: bool, address_map: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(false);
    config.strategy(strategy);
    if unoptimised {
        config.cranelift_opt_level(OptLevel::None);
        config.cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
    }
    config.generate_address_map(address_map);
    config
}

fn variants() -> Vec<(&'static str, Config)> {
    vec![
        (
            "winch, wasmtime's defaults (shipped before 2026-12-04)",
            config(Strategy::Winch, false, true),
        ),
        (
            "winch, trampolines unoptimised + single-pass regalloc",
            config(Strategy::Winch, true, true),
        ),
        (
            "  … and no address map",
            config(Strategy::Winch, true, false),
        ),
        ("cranelift", config(Strategy::Cranelift, false, true)),
        (
            "cranelift unoptimised + single-pass regalloc",
            config(Strategy::Cranelift, true, true),
        ),
    ]
}

fn main() {
    let files: Vec<Vec<u8>> = std::env::args()
        .skip(1)
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    assert!(!files.is_empty(), "usage: compile_cost FILE.wasm…");
    for (name, config) in variants() {
        let engine = Engine::new(&config).expect("engine");
        let mut costs = Vec::new();
        let mut size = 0;
        for bytes in &files {
            let start = process_cpu();
            let artifact = engine.precompile_component(bytes).expect("compiles");
            costs.push(process_cpu() - start);
            size += artifact.len();
        }
        costs.sort();
        let median = costs[costs.len() / 2];
        println!(
            "{name:55} {:7.2} ms CPU per component (median of {}), artifacts {} KB on average",
            median.as_secs_f64() * 1e3,
            costs.len(),
            size / files.len() / 1024
        );
    }
}
