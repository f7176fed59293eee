//! `retort init`: a new project directory with a `retort.toml`, a
//! migrations directory and a first revision (scaffolded exactly as
//! `retort revision` does). In Rust, a cargo workspace of revision crates
//! holds it (`retort build` places its component); in Python, JavaScript or
//! WAT it is written into the migrations directory, where it runs as it is
//! (no Rust toolchain needed), beside type stubs for editors.

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
    /// The first revision: its crate, or its file in the migrations directory.
    pub revision: Scaffolded,
    /// Where `cargo build --release` in the project puts the component
    /// (for a script or WAT revision: the file itself).
    pub component: PathBuf,
    /// How the Rust workspace depends on retort-sdk (`None` for scripts).
    pub sdk: Option<SdkDependency>,
}

/// Where a new Rust workspace takes `retort-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkDependency {
    /// A path relative to the project: the SDK is in the same repository
    /// (or was given with `--sdk`), so every clone finds it.
    Path(PathBuf),
    /// A version requirement on the published crate.
    Version(String),
}

/// The type stubs for Python revision scripts (`from retort import db`).
pub const PYTHON_STUB: &str = include_str!("scaffold/stubs/retort.pyi");
/// The type declarations for JavaScript revision scripts (`db`, `exports`).
pub const JS_STUB: &str = include_str!("scaffold/stubs/retort.d.ts");
/// Lets editors check JavaScript revisions against [`JS_STUB`].
const JSCONFIG: &str = "{\n  \"compilerOptions\": { \"checkJs\": true, \"noEmit\": true, \"lib\": [\"es2020\"] },\n  \"include\": [\"*.js\", \"retort.d.ts\"]\n}\n";

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
    let migrations = dir.join("migrations");
    let revision = NewRevision {
        id: scaffold::fresh_id(FIRST_MESSAGE, &|_| false),
        message: FIRST_MESSAGE.to_string(),
        down_revisions: Vec::new(),
        branch_labels: Vec::new(),
        depends_on: Vec::new(),
        lang: options.lang,
    };
    if options.lang.file_extension().is_some() {
        for d in [dir, &migrations] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let config = dir.join("retort.toml");
        write(&config, RETORT_TOML)?;
        write(&dir.join(".gitignore"), GITIGNORE)?;
        match options.lang {
            Lang::Python => write(&migrations.join("retort.pyi"), PYTHON_STUB)?,
            Lang::JavaScript => {
                write(&migrations.join("retort.d.ts"), JS_STUB)?;
                write(&migrations.join("jsconfig.json"), JSCONFIG)?;
            }
            _ => {}
        }
        let revision = scaffold::write_crate(&migrations, &revision, None)?;
        return Ok(Initialized {
            dir: dir.clone(),
            config,
            migrations,
            component: revision.dir.clone(),
            revision,
            sdk: None,
        });
    }
    let revisions = dir.join("revisions");
    for d in [dir, &migrations, &revisions, &dir.join(".cargo")] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let sdk = sdk_dependency(options.sdk.as_deref(), dir)?;
    let config = dir.join("retort.toml");
    write(&config, RETORT_TOML)?;
    write(&dir.join("Cargo.toml"), &workspace_toml(&sdk))?;
    write(&dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
    write(&dir.join(".gitignore"), GITIGNORE)?;
    write(&migrations.join(".gitkeep"), "")?;
    let revision = scaffold::write_crate(&revisions, &revision, None)?;
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
        sdk: Some(sdk),
    })
}

/// How the workspace in `dir` depends on retort-sdk: `--sdk` as a path
/// (relative to `dir` when it can be); else the SDK this retort was built
/// from when it is in the same git repository as `dir`, as a relative
/// path; else the published crate of this version.
fn sdk_dependency(given: Option<&Path>, dir: &Path) -> Result<SdkDependency, Error> {
    let dir = dir.canonicalize().map_err(io(dir))?;
    if let Some(sdk) = given {
        let sdk = sdk.canonicalize().map_err(|source| ScaffoldError::Io {
            path: sdk.to_path_buf(),
            source,
        })?;
        if !sdk.join("Cargo.toml").is_file() {
            return Err(Error::Usage(format!(
                "--sdk {}: there is no Cargo.toml there; give the plugin-sdk directory of a Retort checkout",
                sdk.display()
            )));
        }
        let shared = repository(&dir).is_some_and(|repo| sdk.starts_with(repo));
        return Ok(SdkDependency::Path(if shared {
            scaffold::relative_to(&sdk, &dir)
        } else {
            sdk
        }));
    }
    if let (Some(sdk), Some(repo)) = (scaffold::built_in_sdk(), repository(&dir))
        && sdk.starts_with(&repo)
    {
        return Ok(SdkDependency::Path(scaffold::relative_to(&sdk, &dir)));
    }
    Ok(SdkDependency::Version(
        env!("CARGO_PKG_VERSION")
            .rsplit_once('.')
            .map_or(env!("CARGO_PKG_VERSION"), |(major_minor, _)| major_minor)
            .to_string(),
    ))
}

/// The root of the git repository `dir` is in, if any.
fn repository(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

const RETORT_TOML: &str = r#"# Retort configuration. Flags and RETORT_* / DATABASE_URL variables (also from .env) override it.
database_url = "sqlite:app.db"   # relative to this file; postgres://… or mysql://… work too
migrations = "migrations"        # the revisions that run (*.wasm, *.py, *.js, *.wat): commit them
revisions = "revisions"          # where `retort revision` writes new Rust revision crates
# version_table = "retort_version"
# lock_timeout = 60
# transaction_mode = "per-revision"
"#;

const CARGO_CONFIG: &str = "# Revisions are WebAssembly components: `cargo build --release` builds them for wasm32-wasip2.\n[build]\ntarget = \"wasm32-wasip2\"\n";

const GITIGNORE: &str = "/target\n*.db\n*.retort-lock\n";

fn workspace_toml(sdk: &SdkDependency) -> String {
    let dependency = match sdk {
        SdkDependency::Path(path) => format!(
            "{{ path = {} }}",
            toml::Value::String(path.display().to_string())
        ),
        SdkDependency::Version(version) => toml::Value::String(version.clone()).to_string(),
    };
    format!(
        "# The revision crates of this project: each one builds into one component.\n\
         # `retort build` builds them and places the components in migrations/.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\"revisions/*\"]\n\n\
         [workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [workspace.dependencies]\nretort-sdk = {dependency}\n\n\
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
            sdk: Some(sdk.clone()),
        };
        std::fs::write(sdk.join("Cargo.toml"), "").unwrap();
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
