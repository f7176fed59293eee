//! What a revision component may import: the `retort:migration@0.1.0`
//! interfaces and the deny-all WASI set. Anything else is refused at load,
//! naming the import, before the component ever runs.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package version this host serves.
pub const PACKAGE: &str = "retort:migration";
/// Its version.
pub const VERSION: &str = "0.1.0";

/// WASI interfaces a revision may import. They are linked with nothing
/// granted: no preopened directories, no environment, frozen clocks, fixed
/// randomness. Sockets and HTTP are not among them.
const WASI_ALLOWED: &[&str] = &[
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

/// What kind of component is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A revision component: no socket or HTTP imports at all.
    Revision,
    /// An interpreter component (Python, JavaScript). Its language runtime's
    /// libc imports `wasi:sockets` whether or not a script ever opens a
    /// socket, so those imports are accepted here, and linked as every WASI
    /// interface is: granting nothing (no address may be bound or connected
    /// to, no name looked up). `wasi:http` stays refused.
    Interpreter,
}

/// Checks every import of `component`.
pub fn check(component: &Component, engine: &Engine, kind: Kind) -> Result<(), String> {
    for (name, _) in component.component_type().imports(engine) {
        if let Some(rest) = name.strip_prefix(PACKAGE) {
            let version = rest.rsplit_once('@').map(|(_, v)| v);
            if version == Some(VERSION) {
                continue;
            }
            return Err(format!(
                "it imports {name}, but this retort serves {PACKAGE}@{VERSION}: rebuild the revision against that version of the WIT (the retort-sdk that matches this retort)"
            ));
        }
        if WASI_ALLOWED.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        if kind == Kind::Interpreter && name.starts_with("wasi:sockets/") {
            continue;
        }
        if name.starts_with("wasi:sockets/") || name.starts_with("wasi:http/") {
            return Err(format!(
                "it imports {name}: revisions get no network; remove the code (or dependency) that opens connections"
            ));
        }
        return Err(format!(
            "it imports {name}, which retort does not provide: a revision may import only {PACKAGE}@{VERSION} and WASI's io, cli, clocks, random and filesystem (all granting nothing)"
        ));
    }
    Ok(())
}
