//! Which compiler turns revisions into native code.
//!
//! Migrations run once, so compile time counts as much as run time, and the
//! code of a revision mostly waits on the database. Winch, wasmtime's
//! baseline compiler, compiles in one pass without optimising: measured on
//! the benchmark's revisions (a 50 KB Rust component each) it compiles about
//! five times faster than Cranelift (12 ms against 63 ms), while a warm run,
//! which loads cached code and spends its time in the database, costs the
//! same with either. So Winch is the default on x86-64 (where it is
//! complete); `RETORT_COMPILER=cranelift` chooses optimised code, for a
//! revision that computes a lot inside the sandbox. The compile cache keeps
//! the two apart.

use wasmtime::{Config, OptLevel, RegallocAlgorithm, Strategy};

/// The environment variable that picks the compiler.
pub const ENV: &str = "RETORT_COMPILER";

/// Sets the compiler `RETORT_COMPILER` names (the default when unset or
/// unknown) and returns its name.
pub fn configure(config: &mut Config) -> &'static str {
    let name = match std::env::var(ENV).as_deref() {
        Ok("cranelift") => "cranelift",
        Ok("winch") if WINCH_COMPLETE => "winch",
        Ok(other) => {
            tracing::warn!(
                "{ENV}={other:?} is not a compiler Retort offers here (cranelift{}); using {DEFAULT}",
                if WINCH_COMPLETE { ", winch" } else { "" }
            );
            DEFAULT
        }
        Err(_) => DEFAULT,
    };
    match name {
        "winch" => {
            config.strategy(Strategy::Winch);
            // Winch leaves the component's trampolines (about 130 in an SDK
            // component: lifting, lowering, resource drops) to Cranelift.
            // They are short glue, and optimising them cost a quarter of a
            // component's compile time: `examples/compile_cost.rs` measured
            // 38-40 ms CPU per benchmark component with optimised
            // trampolines against 30 ms without.
            config.cranelift_opt_level(OptLevel::None);
            config.cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
        }
        _ => {
            config.strategy(Strategy::Cranelift);
        }
    }
    name
}

/// Whether Winch supports everything revisions need on this architecture.
const WINCH_COMPLETE: bool = cfg!(target_arch = "x86_64");

/// The compiler used when none is chosen.
const DEFAULT: &str = if WINCH_COMPLETE { "winch" } else { "cranelift" };
