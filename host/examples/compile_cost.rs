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

fn base() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(false);
    config
}

fn variants() -> Vec<(&'static str, Config)> {
    let mut out = Vec::new();
    let mut c = base();
    c.strategy(Strategy::Winch);
    out.push(("winch (shipped until now)", c));
    let mut c = base();
    c.strategy(Strategy::Winch);
    c.cranelift_opt_level(OptLevel::None);
    c.cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
    out.push(("winch, trampolines unoptimised + single-pass regalloc", c));
    let mut c = base();
    c.strategy(Strategy::Winch);
    c.cranelift_opt_level(OptLevel::None);
    c.cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
    c.generate_address_map(false);
    out.push(("  … and no address map", c));
    let mut c = base();
    c.strategy(Strategy::Cranelift);
    out.push(("cranelift", c));
    let mut c = base();
    c.strategy(Strategy::Cranelift);
    c.cranelift_opt_level(OptLevel::None);
    c.cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
    out.push(("cranelift unoptimised + single-pass regalloc", c));
    out
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
