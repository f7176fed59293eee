//! The project's Rust revision crates (`revisions/*`): `retort build`
//! builds them for `wasm32-wasip2` and places each component in the
//! migrations directory, and every run warns about a crate whose sources
//! changed since its component was built (the forgotten build that would
//! otherwise apply the old component without a word).
//!
//! `retort build` records, per crate, the digest of its sources and of the
//! component it placed in `<migrations>/.retort-sources.json` (commit it with
//! the components): a clone then knows the components match their sources
//! without trusting file times, which a checkout sets arbitrarily. A crate
//! with no record (built by hand) is judged by file times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The record of what `retort build` placed, in the migrations directory.
pub const RECORD_FILE: &str = ".retort-sources.json";

/// One revision crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionCrate {
    /// The package name (also its component's file stem).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The workspace that builds it: the project's (above the revisions
    /// directory), or the crate itself.
    pub workspace: PathBuf,
}

impl RevisionCrate {
    /// Where its component goes: `<migrations>/<name>.wasm`.
    pub fn component(&self, migrations: &Path) -> PathBuf {
        migrations.join(format!("{}.wasm", self.name))
    }
}

/// Why a crate's component may not be what its sources build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// The migrations directory has no component for it.
    NotBuilt,
    /// Its sources changed after its component was placed.
    Changed,
}

/// A crate whose component is missing or older than its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The crate.
    pub krate: RevisionCrate,
    /// Why.
    pub why: Staleness,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.krate.dir.display();
        match self.why {
            Staleness::NotBuilt => write!(
                f,
                "revision crate {} ({dir}) has no component in the migrations directory yet, so it does not run: `retort build` builds it",
                self.krate.name
            ),
            Staleness::Changed => write!(
                f,
                "revision crate {} ({dir}) changed after its component was built, so the old component runs: `retort build` rebuilds it",
                self.krate.name
            ),
        }
    }
}

/// What `retort build` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    /// Components written into the migrations directory (new or changed).
    pub placed: Vec<PathBuf>,
    /// Components that were already there, byte for byte.
    pub unchanged: Vec<PathBuf>,
}

/// A build that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be started.
    #[error(
        "cannot run cargo ({cargo}): {source}; Rust revisions need a Rust toolchain (https://rustup.rs) with `rustup target add wasm32-wasip2`"
    )]
    NoCargo {
        /// The command tried.
        cargo: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// cargo failed (its own messages are above).
    #[error("cargo build failed for {} (its messages are above); if it says the target is missing: `rustup target add wasm32-wasip2`", .workspace.display())]
    Cargo {
        /// The workspace being built.
        workspace: PathBuf,
    },
    /// cargo built no component for a crate.
    #[error(
        "cargo built no component for revision crate {name}: its Cargo.toml needs `[lib] crate-type = [\"cdylib\"]`"
    )]
    NoComponent {
        /// The crate.
        name: String,
    },
    /// A file could not be read or written.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The revision crates under `revisions` (directories with a `Cargo.toml`),
/// in name order; none when the directory does not exist.
pub fn find(revisions: &Path) -> Vec<RevisionCrate> {
    let Ok(listing) = std::fs::read_dir(revisions) else {
        return Vec::new();
    };
    let shared = revisions
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .filter(|p| is_workspace(&p.join("Cargo.toml")))
        .map(Path::to_path_buf);
    let mut crates: Vec<RevisionCrate> = listing
        .flatten()
        .map(|e| e.path())
        .filter_map(|dir| {
            let name = package_name(&dir.join("Cargo.toml"))?;
            let workspace = shared.clone().unwrap_or_else(|| dir.clone());
            Some(RevisionCrate {
                name,
                dir,
                workspace,
            })
        })
        .collect();
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    crates
}

fn manifest(path: &Path) -> Option<toml::Table> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn is_workspace(path: &Path) -> bool {
    manifest(path).is_some_and(|t| t.contains_key("workspace"))
}

fn package_name(path: &Path) -> Option<String> {
    let table = manifest(path)?;
    Some(table.get("package")?.get("name")?.as_str()?.to_string())
}

/// The crates whose component is missing or older than their sources.
pub fn stale(revisions: &Path, migrations: &Path) -> Vec<Stale> {
    let record = Record::read(migrations);
    find(revisions)
        .into_iter()
        .filter_map(|krate| {
            let why = staleness(&krate, migrations, &record)?;
            Some(Stale { krate, why })
        })
        .collect()
}

fn staleness(krate: &RevisionCrate, migrations: &Path, record: &Record) -> Option<Staleness> {
    let component = krate.component(migrations);
    let Ok(meta) = std::fs::metadata(&component) else {
        return Some(Staleness::NotBuilt);
    };
    if let Some(entry) = record.crates.get(&krate.name)
        && std::fs::read(&component).is_ok_and(|bytes| sha256(&bytes) == entry.component)
    {
        let changed = sources_digest(&krate.dir) != entry.sources;
        return changed.then_some(Staleness::Changed);
    }
    // Built by hand: by file times, with a second's slack (a checkout
    // writes files in no particular order within moments).
    let built = meta.modified().ok()?;
    let newest = newest_source(&krate.dir)?;
    let slack = std::time::Duration::from_secs(1);
    (newest.duration_since(built).is_ok_and(|d| d > slack)).then_some(Staleness::Changed)
}

/// The files a crate builds from: its `Cargo.toml` and everything under
/// `src/`, relative to the crate, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("Cargo.toml")];
    let mut pending = vec![PathBuf::from("src")];
    while let Some(rel) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for entry in listing.flatten() {
            let rel = rel.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(rel),
                Ok(t) if t.is_file() => files.push(rel),
                _ => {}
            }
        }
    }
    files.sort();
    files
}

fn sources_digest(dir: &Path) -> String {
    let mut hasher = Sha256::new();
    for rel in sources(dir) {
        let bytes = std::fs::read(dir.join(&rel)).unwrap_or_default();
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update(b"\0");
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hex::encode(hasher.finalize())
}

fn newest_source(dir: &Path) -> Option<SystemTime> {
    sources(dir)
        .iter()
        .filter_map(|rel| std::fs::metadata(dir.join(rel)).ok()?.modified().ok())
        .max()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `<migrations>/.retort-sources.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// By crate name.
    crates: BTreeMap<String, RecordEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordEntry {
    /// [`sources_digest`] of the crate when it was built.
    sources: String,
    /// sha256 of the component placed.
    component: String,
}

impl Record {
    fn read(migrations: &Path) -> Record {
        std::fs::read_to_string(migrations.join(RECORD_FILE))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn write(&self, migrations: &Path) -> Result<(), BuildError> {
        let text = serde_json::to_string_pretty(self).expect("a record serializes");
        write_atomically(
            &migrations.join(RECORD_FILE),
            format!("{text}\n").as_bytes(),
        )
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Builds every crate under `revisions` with cargo (release, for
/// `wasm32-wasip2`; cargo's output goes to stderr as it comes) and places
/// each component in `migrations`. cargo's own artifact messages say where
/// it put each component, so `CARGO_TARGET_DIR` and `build.target-dir`
/// are honoured.
pub fn build(revisions: &Path, migrations: &Path) -> Result<Built, BuildError> {
    let crates = find(revisions);
    let mut workspaces: Vec<&Path> = crates.iter().map(|c| c.workspace.as_path()).collect();
    workspaces.dedup();
    let mut artifacts: BTreeMap<String, PathBuf> = BTreeMap::new();
    for workspace in workspaces {
        artifacts.extend(cargo_build(workspace)?);
    }
    std::fs::create_dir_all(migrations).map_err(|source| BuildError::Io {
        path: migrations.to_path_buf(),
        source,
    })?;
    let mut record = Record::read(migrations);
    let mut built = Built::default();
    for krate in &crates {
        // cargo names a cdylib's target after the package, with `-` as `_`.
        let artifact = artifacts
            .get(&krate.name.replace('-', "_"))
            .ok_or_else(|| BuildError::NoComponent {
                name: krate.name.clone(),
            })?;
        let bytes = std::fs::read(artifact).map_err(|source| BuildError::Io {
            path: artifact.clone(),
            source,
        })?;
        let target = krate.component(migrations);
        if std::fs::read(&target).is_ok_and(|old| old == bytes) {
            built.unchanged.push(target);
        } else {
            write_atomically(&target, &bytes)?;
            built.placed.push(target);
        }
        record.crates.insert(
            krate.name.clone(),
            RecordEntry {
                sources: sources_digest(&krate.dir),
                component: sha256(&bytes),
            },
        );
    }
    record
        .crates
        .retain(|name, _| crates.iter().any(|c| &c.name == name));
    if !crates.is_empty() {
        record.write(migrations)?;
    }
    Ok(built)
}

/// Runs `cargo build --release --target wasm32-wasip2` in `workspace`;
/// returns each cdylib target's `.wasm` by target name.
fn cargo_build(workspace: &Path) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut child = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BuildError::NoCargo {
            cargo: cargo.clone(),
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut artifacts = BTreeMap::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
        if let Some((name, path)) = component_artifact(&line) {
            artifacts.insert(name, path);
        }
    }
    let status = child.wait().map_err(|source| BuildError::NoCargo {
        cargo: cargo.clone(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Cargo {
            workspace: workspace.to_path_buf(),
        });
    }
    Ok(artifacts)
}

/// From one line of cargo's JSON messages: a cdylib target's name and its
/// `.wasm` file.
fn component_artifact(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = message.get("target")?;
    let kinds = target.get("kind")?.as_array()?;
    if !kinds.iter().any(|k| k.as_str() == Some("cdylib")) {
        return None;
    }
    let name = target.get("name")?.as_str()?.to_string();
    let wasm = message
        .get("filenames")?
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))?;
    Some((name, PathBuf::from(wasm)))
}

/// What a crate not built yet declares, read from the constants
/// `retort revision` writes in its `src/lib.rs` (`ID`, `DOWN_REVISIONS`,
/// `MESSAGE`, `BRANCH_LABELS`, `DEPENDS_ON`); `None` when `ID` or
/// `DOWN_REVISIONS` cannot be read.
pub fn declared(krate: &RevisionCrate) -> Option<crate::graph::Revision> {
    let text = std::fs::read_to_string(krate.dir.join("src/lib.rs")).ok()?;
    let list = |name: &str| constant(&text, name).map(strings).unwrap_or_default();
    Some(crate::graph::Revision {
        id: strings(constant(&text, "ID")?).into_iter().next()?,
        down_revisions: strings(constant(&text, "DOWN_REVISIONS")?),
        depends_on: list("DEPENDS_ON"),
        branch_labels: list("BRANCH_LABELS"),
        message: list("MESSAGE").into_iter().next().unwrap_or_default(),
    })
}

/// The text after `const NAME: …=` up to its `;`.
fn constant<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("const {name}:"))?;
    let rest = &text[start..];
    let value = &rest[rest.find('=')? + 1..];
    // The `;` that ends it is the first outside a string literal.
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ';' if !in_string => return Some(&value[..i]),
            _ => {}
        }
    }
    None
}

/// The string literals in `value`, unescaped (`\"`, `\\`, `\n`, `\t`).
fn strings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some(other) => literal.push(other),
                    None => {}
                },
                c => literal.push(c),
            }
        }
        out.push(literal);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn cargo_artifact_messages_name_the_component() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"],"name":"r1_init"},"filenames":["/t/wasm32-wasip2/release/r1_init.wasm"]}"#;
        assert_eq!(
            component_artifact(line),
            Some((
                "r1_init".to_string(),
                PathBuf::from("/t/wasm32-wasip2/release/r1_init.wasm")
            ))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"retort_sdk"},"filenames":["/t/libretort_sdk.rlib"]}"#;
        assert_eq!(component_artifact(lib), None);
        assert_eq!(component_artifact("not json"), None);
    }

    #[test]
    fn an_unbuilt_crate_declares_what_its_constants_say() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("src/lib.rs"),
            "impl Revision for M {\n    const ID: &'static str = \"ab12\";\n    const DOWN_REVISIONS: &'static [&'static str] = &[\"p1\", \"p2\"];\n    const MESSAGE: &'static str = \"say \\\"hi\\\"; then go\";\n}\n",
        );
        let krate = RevisionCrate {
            name: "rab12".into(),
            dir: tmp.path().to_path_buf(),
            workspace: tmp.path().to_path_buf(),
        };
        let rev = declared(&krate).unwrap();
        assert_eq!(rev.id, "ab12");
        assert_eq!(rev.down_revisions, ["p1", "p2"]);
        assert_eq!(rev.message, "say \"hi\"; then go");
        assert!(rev.branch_labels.is_empty());
    }

    #[test]
    fn a_crate_is_stale_when_missing_or_changed_since_its_recorded_build() {
        let tmp = tempfile::tempdir().unwrap();
        let revisions = tmp.path().join("revisions");
        let migrations = tmp.path().join("migrations");
        write(
            &tmp.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"revisions/*\"]\n",
        );
        write(
            &revisions.join("r1/Cargo.toml"),
            "[package]\nname = \"r1_init\"\n",
        );
        write(&revisions.join("r1/src/lib.rs"), "// v1\n");
        let crates = find(&revisions);
        assert_eq!(crates.len(), 1);
        assert_eq!(crates[0].workspace, tmp.path());
        let whys = || -> Vec<Staleness> {
            stale(&revisions, &migrations)
                .into_iter()
                .map(|s| s.why)
                .collect()
        };
        assert_eq!(whys(), [Staleness::NotBuilt]);
        // Placed as `retort build` would, with its record.
        write(&migrations.join("r1_init.wasm"), "component");
        let mut record = Record::default();
        record.crates.insert(
            "r1_init".into(),
            RecordEntry {
                sources: sources_digest(&revisions.join("r1")),
                component: sha256(b"component"),
            },
        );
        record.write(&migrations).unwrap();
        assert_eq!(whys(), []);
        write(&revisions.join("r1/src/lib.rs"), "// v2\n");
        assert_eq!(whys(), [Staleness::Changed]);
        // A component copied by hand (not the recorded one): file times judge.
        write(&migrations.join("r1_init.wasm"), "copied by hand");
        assert_eq!(whys(), []);
    }
}
