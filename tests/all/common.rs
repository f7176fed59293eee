//! Shared fixtures: scratch directories of components, a SQLite database in
//! them, and an independent client (the sqlite3 CLI) to inspect it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use retort::{Config, Event, Overrides, Project};
use tempfile::TempDir;

/// A temporary project: a migrations directory and a database file.
pub struct Scratch {
    /// Keeps the directory alive.
    pub dir: TempDir,
    /// Where the components are copied.
    pub migrations: PathBuf,
}

impl Scratch {
    /// A scratch project holding copies of `components`.
    pub fn new(components: &[&str]) -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).expect("mkdir");
        let scratch = Scratch { dir, migrations };
        for component in components {
            scratch.add(component);
        }
        scratch
    }

    /// Copies one more revision (component or script) into the migrations
    /// directory; a script's interpreter is linked into
    /// `migrations/interpreters/`, its default place.
    pub fn add(&self, component: &str) {
        let name = Path::new(component).file_name().expect("file name");
        std::fs::copy(component, self.migrations.join(name)).expect("copy component");
        if let Some(interpreter) = retort_tests::interpreter_for(Path::new(component)) {
            let dir = self.migrations.join("interpreters");
            let link = dir.join(Path::new(interpreter).file_name().expect("file name"));
            if !link.exists() {
                std::fs::create_dir_all(&dir).expect("mkdir interpreters");
                std::os::unix::fs::symlink(interpreter, &link).expect("link the interpreter");
            }
        }
    }

    /// Writes raw bytes as a component file.
    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.migrations.join(name), bytes).expect("write component");
    }

    /// The path of a database file in the scratch directory.
    pub fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default database's URL.
    pub fn url(&self) -> String {
        format!("sqlite:{}", self.db("app.db").display())
    }

    /// A configuration for the default database.
    pub fn config(&self) -> Config {
        Config::load_with_env(
            &Overrides {
                database_url: Some(self.url()),
                migrations: Some(self.migrations.clone()),
                ..Overrides::default()
            },
            &|_| None,
        )
        .expect("config")
    }

    /// Opens the project (loads every component).
    pub async fn project(&self) -> Project {
        Project::open(self.config()).await.expect("project opens")
    }

    /// Opens the project against `url`, with further overrides.
    pub async fn project_at(&self, url: &str, overrides: Overrides) -> Project {
        let config = Config::load_with_env(
            &Overrides {
                database_url: Some(url.to_string()),
                migrations: Some(self.migrations.clone()),
                ..overrides
            },
            &|_| None,
        )
        .expect("config");
        Project::open(config).await.expect("project opens")
    }

    /// The project's offline SQLite script for `range` (`heads`, `base:heads`, …).
    pub async fn sqlite_script(&self, direction: retort::Direction, range: &str) -> String {
        let range: retort::Range = range.parse().expect("a valid range");
        self.project()
            .await
            .script(direction, &range, retort::Dialect::Sqlite, &mut quiet())
            .await
            .expect("the offline script renders")
    }

    /// Runs `sql` on the default database with the sqlite3 CLI.
    pub fn sql(&self, sql: &str) -> String {
        sqlite3(&self.db("app.db"), sql)
    }
}

/// Runs `sql` with the sqlite3 command-line client; rows as `a|b` lines.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .args(["-batch", "-bail", "-noheader"])
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 client is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "sqlite3 failed on {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Applies a script file to a database with the sqlite3 client.
pub fn sqlite3_script(db: &Path, script: &str) {
    use std::io::Write;
    let mut child = Command::new("sqlite3")
        .args(["-batch", "-bail"])
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("sqlite3 ends");
    assert!(
        out.status.success(),
        "sqlite3 rejected the script: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The schema of a SQLite database, comparable across databases.
pub fn schema(db: &Path) -> String {
    sqlite3(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
    )
}

/// The version table's ids, sorted.
pub fn version_ids(db: &Path) -> Vec<String> {
    sqlite3(
        db,
        "SELECT revision_id FROM retort_version ORDER BY revision_id",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// An observer that ignores events.
pub fn quiet() -> impl FnMut(Event<'_>) {
    |_| {}
}

/// The `retort` binary built beside this test binary.
pub fn retort_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("retort");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build --release -p retort)",
        bin.display()
    );
    bin
}

/// The CLI as a command in `cwd` with a clean environment, ready to run.
pub fn retort_command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(retort_bin());
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("RETORT_DATABASE_URL")
        .env_remove("RETORT_CONFIG")
        .env_remove("RETORT_MIGRATIONS")
        .env_remove("RETORT_VERSION_TABLE")
        .env_remove("RETORT_SCHEMA")
        .env_remove("RETORT_LOCK_TIMEOUT")
        .env_remove("RETORT_TRANSACTION_MODE")
        .env_remove("RUST_LOG");
    command
}

/// Runs the CLI in `cwd` with a clean environment.
pub fn retort(cwd: &Path, args: &[&str]) -> Output {
    retort_command(cwd, args).output().expect("retort runs")
}

/// `retort --database-url URL --migrations migrations ARGS…` in `cwd`.
pub fn retort_on(cwd: &Path, url: &str, args: &[&str]) -> Output {
    let mut all = vec!["--database-url", url, "--migrations", "migrations"];
    all.extend_from_slice(args);
    retort(cwd, &all)
}

/// stdout and stderr of a finished command, as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
