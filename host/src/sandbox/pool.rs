//! Instance allocation: a pooling allocator, so that the store each call gets
//! reuses memory, table, instance and async-stack slots instead of mapping
//! (and unmapping) fresh ones. A run instantiates every revision once for its
//! `info()` check and once for its call, so this is on the hot path.
//!
//! The pool's per-slot sizes are the WebAssembly maxima, not the budgets:
//! budgets (`[limits]` in retort.toml) stay the only limit a revision meets,
//! enforced by the store's limiter. Slots are reserved address space and cost
//! memory only while used. Counts are sized for a few stores alive at once
//! (the runner's, and the `info()` checks of the loading threads).

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Stores alive at once, at most: the runner's, the prefetch thread's and one
/// per compiling thread, with room to spare.
const STORES: u32 = 32;
/// Core instances, memories and tables one component may hold (a component
/// from an interpreter toolchain bundles a dozen modules or more).
const PER_COMPONENT: u32 = 64;

/// Switches `config` to the pooling allocator.
pub fn configure(config: &mut Config) {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(STORES)
        .total_core_instances(STORES * PER_COMPONENT)
        .total_memories(STORES * 4)
        .total_tables(STORES * 4)
        .total_stacks(STORES)
        .max_core_instances_per_component(PER_COMPONENT)
        .max_memories_per_component(PER_COMPONENT)
        .max_tables_per_component(PER_COMPONENT)
        // A 32-bit memory can never grow past 4 GiB; the budget stops it first.
        .max_memory_size(4 << 30)
        .table_elements(1 << 20)
        // Memory is given back (madvise) when a store ends rather than kept
        // and zeroed: a revision touches few of its pages, and zeroing a
        // megabyte per store cost more than faulting those few in again.
        .max_unused_warm_slots(4);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
}
