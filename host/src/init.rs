//! `retort init`: a new project directory with a `retort.toml`, an empty
//! migrations directory, and a cargo workspace of revision crates holding a
//! first revision that builds (scaffolded exactly as `retort revision` does).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::scaffold::{self, Lang, NewRevision, ScaffoldError, Scaffolded};

/// What `retort init` should create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The project directory (created if missing).
    pub dir: PathBuf,
    /// The first revision's language.
    pub lang: Lang,
    /// The `plugin-sdk` directory to depend on; by default the one this
    /// `retort` was built from.
    pub sdk: Option<PathBuf>,
}

/// What `retort init` created.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The project directory.
    pub dir: PathBuf,
    /// Its `retort.toml`.
    pub config: PathBuf,
    /// The migrations directory (empty: built components go here).
    pub migrations: PathBuf,
    /// The first revision's crate.
    pub revision: Scaffolded,
    /// Where `cargo build --release` in the project puts the component.
    pub component: PathBuf,
}

/// The message of the first revision.
pub const FIRST_MESSAGE: &str = "initial schema";

/// Creates a new project in `options.dir` (see the module documentation).
/// Refuses a directory that already has a `retort.toml` or a `Cargo.toml`.
pub fn init_project(options: &InitOptions) -> Result<Initialized, Error> {
    let dir = &options.dir;
    for taken in ["retort.toml", "Cargo.toml"] {
        let path = dir.join(taken);
        if path.exists() {
            return Err(Error::Usage(format!(
                "{} exists already: `retort init` makes a new project; give it a new directory (e.g. `retort init db`)",
                path.display()
            )));
        }
    }
    let sdk = options
        .sdk
        .clone()
        .or_else(scaffold::built_in_sdk)
        .ok_or(ScaffoldError::NoSdk)?;
    let sdk = sdk.canonicalize().map_err(|source| ScaffoldError::Io {
        path: sdk.clone(),
        source,
    })?;
    let migrations = dir.join("migrations");
    let revisions = dir.join("revisions");
    for d in [dir, &migrations, &revisions, &dir.join(".cargo")] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let config = dir.join("retort.toml");
    write(&config, RETORT_TOML)?;
    write(&dir.join("Cargo.toml"), &workspace_toml(&sdk, dir))?;
    write(&dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
    write(&dir.join(".gitignore"), GITIGNORE)?;
    write(&migrations.join(".gitkeep"), "")?;
    let revision = NewRevision {
        id: scaffold::fresh_id(FIRST_MESSAGE, &|_| false),
        message: FIRST_MESSAGE.to_string(),
        down_revisions: Vec::new(),
        branch_labels: Vec::new(),
        depends_on: Vec::new(),
        lang: options.lang,
    };
    let revision = scaffold::write_crate(&revisions, &revision, Some(&sdk))?;
    let component = dir.join(format!(
        "target/wasm32-wasip2/release/{}.wasm",
        revision.crate_name
    ));
    Ok(Initialized {
        dir: dir.clone(),
        config,
        migrations,
        revision,
        component,
    })
}

const RETORT_TOML: &str = r#"# Retort configuration. Flags and RETORT_* / DATABASE_URL variables override it.
database_url = "sqlite:app.db"   # relative to this file; postgres://… or mysql://… work too
migrations = "migrations"        # built revision components (*.wasm): commit them
revisions = "revisions"          # where `retort revision` writes new revision crates
# version_table = "retort_version"
# lock_timeout = 60
# transaction_mode = "per-revision"
"#;

const CARGO_CONFIG: &str = "# Revisions are WebAssembly components: `cargo build --release` builds them for wasm32-wasip2.\n[build]\ntarget = \"wasm32-wasip2\"\n";

const GITIGNORE: &str = "/target\n*.db\n*.retort-lock\n";

fn workspace_toml(sdk: &Path, dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let sdk = sdk
        .strip_prefix(&dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| sdk.to_path_buf());
    let sdk = toml::Value::String(sdk.display().to_string());
    format!(
        "# The revision crates of this project: each one builds into one component.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\"revisions/*\"]\n\n\
         [workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [workspace.dependencies]\nretort-sdk = {{ path = {sdk} }}\n\n\
         # Small components: about 50 KB each.\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n"
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError {
    let path = path.to_path_buf();
    move |source| ScaffoldError::Io { path, source }
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    std::fs::write(path, text).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_project_and_a_refusal() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("app");
        let sdk = tmp.path().join("sdk");
        std::fs::create_dir(&sdk).unwrap();
        let options = InitOptions {
            dir: dir.clone(),
            lang: Lang::Rust,
            sdk: Some(sdk),
        };
        let made = init_project(&options).unwrap();
        assert!(made.config.is_file());
        assert!(made.migrations.is_dir());
        let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(toml.contains("members = [\"revisions/*\"]"), "{toml}");
        let member = std::fs::read_to_string(made.revision.dir.join("Cargo.toml")).unwrap();
        assert!(member.contains("retort-sdk.workspace = true"), "{member}");
        assert!(made.revision.down_revisions.is_empty());
        let again = init_project(&options).unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
    }
}
