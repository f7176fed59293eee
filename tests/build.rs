//! Builds the guest components the tests run (the example chain and the
//! failure fixtures in tests/guests) for wasm32-wasip2, once, in a target
//! directory of their own so the nested cargo never waits on the outer one's
//! lock. Writes `guests.rs` with one path constant per component.

use std::path::{Path, PathBuf};
use std::process::Command;

const WORKSPACES: &[&str] = &[
    "example-plugins/rust",
    "example-plugins/branching",
    "tests/guests",
];

fn main() {
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("the repository root exists");
    let target_dir = root.join("target").join("guests");
    for watched in [
        "wit",
        "plugin-sdk/src",
        "plugin-sdk/Cargo.toml",
        "example-plugins/rust/revisions",
        "example-plugins/rust/Cargo.toml",
        "example-plugins/branching/revisions",
        "example-plugins/branching/Cargo.toml",
        "tests/guests/revisions",
        "tests/guests/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut constants = String::new();
    for workspace in WORKSPACES {
        let dir = root.join(workspace);
        build(&dir, &target_dir);
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
    let out = PathBuf::from(env("OUT_DIR")).join("guests.rs");
    std::fs::write(out, constants).expect("OUT_DIR is writable");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

fn build(workspace: &Path, target_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
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
        "building the guests in {} failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)",
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
