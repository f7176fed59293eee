//! Host bindings for `retort:migration@0.1.0`, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "revision",
    imports: { default: async | trappable },
    exports: { default: async },
});
