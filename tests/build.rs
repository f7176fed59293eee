//! Builds the guest components the tests run (the example chain and the
//! failure fixtures in tests/guests) for wasm32-wasip2, once, in a target
//! directory of their own so the nested cargo never waits on the outer one's
//! lock. Writes `guests.rs` with one path constant per component.
//!
//! One fixture, `no_wasi`, is also built for wasm32-unknown-unknown and
//! componentized here with `wit-component`: the host must run components
//! that import no WASI at all as well as wasip2 ones.
//!
//! The interpreter components of script revisions (`*.py`, `*.js`) come from
//! `scripts/build-interpreters`, which rebuilds them only when they changed.

use std::path::{Path, PathBuf};
use std::process::Command;

const WORKSPACES: &[&str] = &[
    "example-plugins/rust",
    "example-plugins/branching",
    "example-plugins/mixed",
    "tests/guests",
];

fn main() {
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("the repository root exists");
    let target_dir = root.join("target").join("guests");
    for watched in [
        "wit",
        "plugin-sdk/wit",
        "plugin-sdk/src",
        "plugin-sdk/Cargo.toml",
        "example-plugins/rust/revisions",
        "example-plugins/rust/Cargo.toml",
        "example-plugins/branching/revisions",
        "example-plugins/branching/Cargo.toml",
        "example-plugins/mixed/revisions",
        "example-plugins/mixed/Cargo.toml",
        "tests/guests/revisions",
        "tests/guests/Cargo.toml",
        "interpreters",
        "scripts/build-interpreters",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut constants = String::new();
    for workspace in WORKSPACES {
        let dir = root.join(workspace);
        build(&dir, &target_dir, "wasm32-wasip2", &[]);
        for name in members(&dir) {
            let wasm = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{name}.wasm"));
            assert!(
                wasm.is_file(),
                "guest {name} did not produce {}",
                wasm.display()
            );
            constants.push_str(&format!(
                "/// The built component of guest `{name}`.\npub const {}: &str = {:?};\n",
                name.to_uppercase(),
                wasm.display().to_string()
            ));
        }
    }
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let core = componentize_core_guest(&root.join("tests/guests"), &target_dir, &out_dir);
    constants.push_str(&format!(
        "/// `no_wasi` built for wasm32-unknown-unknown and componentized: no WASI imports.\npub const NO_WASI_CORE: &str = {:?};\n",
        core.display().to_string()
    ));
    for (lang, path) in build_interpreters(&root) {
        constants.push_str(&format!(
            "/// The {lang} interpreter component (scripts/build-interpreters).\npub const {}_INTERPRETER: &str = {:?};\n",
            lang.to_uppercase(),
            path.display().to_string()
        ));
    }
    std::fs::write(out_dir.join("guests.rs"), constants).expect("OUT_DIR is writable");
}

/// Runs `scripts/build-interpreters` and returns each interpreter's path.
fn build_interpreters(root: &Path) -> Vec<(&'static str, PathBuf)> {
    let status = Command::new("bash")
        .arg(root.join("scripts/build-interpreters"))
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "scripts/build-interpreters failed: it needs python3 (with venv and pip) and npm"
    );
    ["python", "js"]
        .into_iter()
        .map(|lang| {
            let path = root
                .join("target/interpreters")
                .join(format!("{lang}.wasm"));
            assert!(path.is_file(), "{} was not built", path.display());
            (lang, path)
        })
        .collect()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

fn componentize_core_guest(workspace: &Path, target_dir: &Path, out_dir: &Path) -> PathBuf {
    build(
        workspace,
        target_dir,
        "wasm32-unknown-unknown",
        &["-p", "no_wasi"],
    );
    let module_path = target_dir.join("wasm32-unknown-unknown/release/no_wasi.wasm");
    let module = std::fs::read(&module_path).expect("the core module was built");
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| panic!("componentizing {}: {e:?}", module_path.display()));
    let out = out_dir.join("no_wasi_core.wasm");
    std::fs::write(&out, component).expect("OUT_DIR is writable");
    out
}

fn build(workspace: &Path, target_dir: &Path, target: &str, extra: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--target", target, "--quiet"])
        .args(extra)
        .env("CARGO_TARGET_DIR", target_dir)
        // The outer build's flags are for the host, not for wasm guests.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the guests in {} for {target} failed; is the target installed? (rustup target add {target})",
        workspace.display()
    );
}

/// The crate names of a guest workspace's `revisions/*` members.
fn members(workspace: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace.join("revisions"))
        .expect("the workspace has revisions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
