//! Host bindings for `retort:migration@0.1.0`, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "revision",
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The `script-runner` world of interpreter components. Its imports are the
/// very interfaces of the `revision` world, so one host implementation
/// serves both.
pub mod script_runner {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "script-runner",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "retort:migration/types": super::retort::migration::types,
            "retort:migration/database": super::retort::migration::database,
            "retort:migration/log": super::retort::migration::log,
        },
    });
}
