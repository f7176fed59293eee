//! Puts the Python and JavaScript interpreter components inside the binary,
//! so an installed `retort` runs script revisions with no checkout.
//!
//! They come from `target/interpreters/{python,js}.wasm` of this repository
//! (`RETORT_EMBED_INTERPRETERS=<dir>` names another directory), which
//! `scripts/build-interpreters` makes from the pinned sources in
//! `interpreters/` (it needs python3 with pip, and npm). When they are
//! missing the build runs it; when that fails, or `RETORT_EMBED_INTERPRETERS=off`,
//! the binary is built without them and says where to put the files.

use std::path::{Path, PathBuf};
use std::process::Command;

const LANGUAGES: [&str; 2] = ["python", "js"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("host/ is inside the repository");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RETORT_EMBED_INTERPRETERS");
    let setting = std::env::var("RETORT_EMBED_INTERPRETERS").ok();
    let dir = match setting.as_deref() {
        Some("off") => None,
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(root.join("target/interpreters")),
    };
    if let Some(dir) = &dir {
        for lang in LANGUAGES {
            println!(
                "cargo:rerun-if-changed={}",
                dir.join(format!("{lang}.wasm")).display()
            );
        }
        let script = root.join("scripts/build-interpreters");
        if setting.is_none() && script.is_file() {
            for watched in [
                "interpreters",
                "wit/migration.wit",
                "plugin-sdk/wit/migration.wit",
            ] {
                println!("cargo:rerun-if-changed={}", root.join(watched).display());
            }
            build_interpreters(&script);
        }
    }
    let mut code = String::new();
    for lang in LANGUAGES {
        let file = dir.as_ref().map(|d| d.join(format!("{lang}.wasm")));
        let value = match file.filter(|f| f.is_file()) {
            Some(file) => format!("Some(include_bytes!({:?}))", file.display().to_string()),
            None => {
                println!(
                    "cargo:warning=retort is built without the {lang} interpreter: {lang} revisions will need its component at <migrations>/interpreters/{lang}.wasm (build it with ./scripts/build-interpreters, which needs python3 with pip and npm, then rebuild)"
                );
                "None".to_string()
            }
        };
        code.push_str(&format!(
            "/// The {lang} interpreter component built into this binary.\npub const {}: Option<&[u8]> = {value};\n",
            lang.to_uppercase()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("embedded_interpreters.rs"), code).expect("OUT_DIR is writable");
}

/// Runs `scripts/build-interpreters` (it rebuilds only what changed); a
/// failure is a warning, not a failed build.
fn build_interpreters(script: &Path) {
    // Its output goes to stderr: cargo reads a build script's stdout as directives.
    let status = Command::new("bash")
        .arg(script)
        .stdout(std::io::stderr())
        .status();
    let ok = matches!(&status, Ok(s) if s.success());
    if !ok {
        println!(
            "cargo:warning=scripts/build-interpreters failed ({}); it needs python3 (with venv and pip) and npm, and the network the first time",
            match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }
        );
    }
}
