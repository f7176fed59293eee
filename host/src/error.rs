//! The error every library operation returns, and the exit code it maps to.

use crate::catalog::CatalogError;
use crate::config::ConfigError;
use crate::graph::GraphError;
use crate::runner::RunError;
use crate::scaffold::ScaffoldError;
use crate::sink::ConnectError;
use crate::value::DbError;

/// Anything that can stop a Retort operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A revision component could not be loaded.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The graph is broken or a target cannot be planned.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The database could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A statement the host itself sent failed.
    #[error("{action}: {error}")]
    Database {
        /// What the host was doing.
        action: String,
        /// What the database said.
        error: DbError,
    },
    /// A run stopped at a failing revision.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// Another run holds the migration lock.
    #[error(transparent)]
    Lock(#[from] crate::sink::LockError),
    /// A revision failed part-way earlier and has not been resolved.
    #[error("{}", describe_dirty(.table, .failures))]
    Dirty {
        /// The failures table.
        table: String,
        /// The unresolved failures.
        failures: Vec<crate::runner::RecordedFailure>,
    },
    /// A new revision crate could not be written.
    #[error(transparent)]
    Scaffold(#[from] ScaffoldError),
    /// Applied revisions whose components changed on disk since.
    #[error("{}", describe_drift(.0))]
    Drift(Vec<crate::project::Drift>),
    /// The WebAssembly engine could not start.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// `run`'s lint gate found errors: nothing ran.
    #[error("{}", describe_lint(.0))]
    Lint(Vec<crate::lint::Finding>),
    /// Third-party revisions over a connection whose role reaches outside
    /// its database.
    #[error("{}", describe_unconfined(.findings, .role_sql))]
    Unconfined {
        /// Each way out, as a sentence.
        findings: Vec<String>,
        /// The SQL that creates a role that has none.
        role_sql: String,
    },
}

impl Error {
    /// The process exit code for this error: 1 when a run failed (a revision
    /// or the database), 2 for usage, configuration and input errors.
    pub fn exit_code(&self) -> u8 {
        if let Some(signal) = self.interrupted() {
            return signal.exit_code();
        }
        match self {
            Error::Run(crate::runner::RunError::Mode(_)) => 2,
            Error::Run(_) | Error::Database { .. } | Error::Connect(_) | Error::Engine(_) => 1,
            Error::Config(_)
            | Error::Catalog(_)
            | Error::Graph(_)
            | Error::Usage(_)
            | Error::Scaffold(_) => 2,
            Error::Lock(crate::sink::LockError::Unusable(_)) => 2,
            Error::Lock(_) => 3,
            Error::Dirty { .. } | Error::Drift(_) | Error::Unconfined { .. } | Error::Lint(_) => 4,
        }
    }
}

impl Error {
    /// The signal (SIGTERM, SIGINT) that stopped a run, if one did.
    pub fn interrupted(&self) -> Option<crate::interrupt::Signal> {
        match self {
            Error::Run(e) => e.interrupted(),
            _ => None,
        }
    }
}

fn describe_lint(findings: &[crate::lint::Finding]) -> String {
    let errors: Vec<&crate::lint::Finding> = findings
        .iter()
        .filter(|f| f.level == crate::lint::Level::Error)
        .collect();
    let mut out = format!(
        "refusing to migrate: lint found {} error(s), so nothing ran:",
        errors.len()
    );
    for f in errors {
        out.push_str(&format!("\n  - {} [{}]: {}", f.revision, f.rule, f.message));
    }
    out.push_str("\nfix the revisions, lower the rules' levels under [lint.rules], exempt a revision under [lint.revisions.<id>], or run with --lint=warn");
    out
}

fn describe_unconfined(findings: &[String], role_sql: &str) -> String {
    let mut out = String::from(
        "refusing to run third-party revisions: the connection's role can reach outside its database, and a session that can cannot be confined from inside it:",
    );
    for finding in findings {
        out.push_str(&format!("\n  - it {finding}"));
    }
    out.push_str(
        "\nconnect as a role that owns only the migrations' schema (or database) instead; this creates one (`retort doctor` prints it again):\n",
    );
    for line in role_sql.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out.trim_end().to_string()
}

fn describe_dirty(table: &str, failures: &[crate::runner::RecordedFailure]) -> String {
    let interrupted = failures.iter().filter(|f| f.interrupted()).count();
    let mut out = if interrupted == failures.len() {
        format!(
            "refusing to run: a previous run was interrupted while {} revision(s) ran that can commit part-way, so some of their statements may be in the database (journaled in {table})",
            failures.len()
        )
    } else {
        format!(
            "refusing to run: {} revision(s) failed part-way earlier and may have left changes behind (recorded in {table})",
            failures.len()
        )
    };
    for f in failures {
        out.push_str("\n  ");
        out.push_str(&f.describe());
        if let Some(statement) = &f.statement {
            let label = if f.interrupted() {
                "last statement that ran"
            } else {
                "statement"
            };
            out.push_str(&format!("\n    {label}: {}", statement.trim()));
        }
    }
    let id = failures.first().map_or("ID", |f| f.id.as_str());
    match failures.iter().find_map(|f| f.journal.as_ref().map(|j| (f, j))) {
        Some((f, j)) => out.push_str(&format!(
            "\n  ways out: `retort resolve {} --resume` runs it again, skipping the {} statement(s) that ran (checked to be the same ones) and continuing from statement {}; or inspect the database and run `retort resolve {} --applied` if its changes are all in place, or `retort resolve {} --rolled-back` once you have undone them",
            f.id,
            j.statements,
            j.statements + 1,
            f.id,
            f.id
        )),
        None => out.push_str(&format!(
            "\n  inspect the database, then run `retort resolve {id} --applied` if the revision's changes are all in place, or `retort resolve {id} --rolled-back` once you have undone them"
        )),
    }
    out
}

fn describe_drift(drifts: &[crate::project::Drift]) -> String {
    let mut out = format!(
        "refusing to run: {} applied revision(s) no longer match the component they were applied from",
        drifts.len()
    );
    for d in drifts {
        out.push_str(&format!(
            "\n  {}: applied from sha256 {}, but {} now has sha256 {}",
            d.id,
            d.recorded,
            d.path.display(),
            d.current
        ));
    }
    if drifts.iter().any(|d| d.applied_by_an_earlier_release) {
        out.push_str(
            "\n  a script applied by an earlier Retort release (one without the interpreter column) was identified together with its interpreter: put the interpreter components that release used in <migrations>/interpreters/ for one run, and the rows are rewritten to the script's own sha256",
        );
    }
    let ids: Vec<&str> = drifts.iter().map(|d| d.id.as_str()).collect();
    out.push_str(&format!(
        "\n  restore the components that were applied, or, if the rebuild is deliberate and does the same thing, accept it with `retort verify --accept {}`",
        ids.join(" ")
    ));
    out
}
