//! `retort import`: another tool's migration history written as Retort
//! revisions, one per migration, keeping the tool's version as the revision
//! id and its order as the chain. Each SQL file is the original SQL byte for
//! byte after a `-- retort:` header, so a reviewer can diff it; an Alembic
//! module stays Python ([`alembic`]).

pub(crate) mod alembic;
pub(crate) mod python;
pub(crate) mod tools;

use std::path::{Path, PathBuf};

use crate::catalog::sql_file;
use crate::sandbox::RevisionInfo;

/// A migration tool whose history can be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// sqlx-cli (`<version>_<desc>.sql`, `.up.sql`/`.down.sql`).
    Sqlx,
    /// Diesel (`<version>_<name>/up.sql`, `down.sql`, `metadata.toml`).
    Diesel,
    /// golang-migrate (`<N>_<name>.up.sql`/`.down.sql`).
    GolangMigrate,
    /// goose (`-- +goose Up` / `Down` in one file).
    Goose,
    /// dbmate (`-- migrate:up` / `down` in one file).
    Dbmate,
    /// Flyway (`V<ver>__<desc>.sql`, `U<ver>__` undo files).
    Flyway,
    /// Alembic (`versions/*.py`), written as Python revision scripts.
    Alembic,
}

impl Tool {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
            Tool::Dbmate => "dbmate",
            Tool::Flyway => "flyway",
            Tool::Alembic => "alembic",
        }
    }
}

/// One migration of the tool's history.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The tool's version: the revision id (made safe: see [`revision_id`]).
    pub version: String,
    /// Its description, from its name.
    pub description: String,
    /// The upgrade's SQL, as written.
    pub up: String,
    /// The downgrade's SQL, as written, if it has one.
    pub down: Option<String>,
    /// Whether the tool runs it in a transaction.
    pub transactional: bool,
    /// The file it came from.
    pub source: PathBuf,
}

/// A file of the history that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl Skipped {
    pub(crate) fn new(path: &Path, reason: &str) -> Skipped {
        Skipped {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// What an import wrote.
#[derive(Debug)]
pub struct Imported {
    /// The revision ids, in chain order.
    pub ids: Vec<String>,
    /// The files written.
    pub written: Vec<PathBuf>,
    /// What was left out.
    pub skipped: Vec<Skipped>,
    /// Calls in the written scripts that need a hand port (Alembic's `op.*`).
    pub to_port: Vec<ToPort>,
}

/// A call in a written revision script that Retort cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToPort {
    /// The script written.
    pub written: PathBuf,
    /// The file it was made from.
    pub source: PathBuf,
    /// Where the call is, and what it is.
    pub call: alembic::HandPort,
}

/// Why an import could not be done; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The history is not laid out as the tool lays it out.
    #[error("{0}")]
    Layout(String),
    /// A file to be written exists already.
    #[error("{} exists already: import into an empty directory (--into DIR), or move the file", .0.display())]
    Exists(PathBuf),
}

impl ImportError {
    fn io(path: &Path, source: std::io::Error) -> ImportError {
        ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The revision id of a tool's version: the version itself where it is a
/// valid id, dots (Flyway's `1.2`) written as `_`.
pub fn revision_id(version: &str) -> String {
    version.replace('.', "_")
}

/// Reads `tool`'s history in `dir` and writes it into `into`: a SQL tool's
/// as SQL revisions, the first a base, each following the one before;
/// Alembic's as Python revision scripts with its graph. Nothing is written
/// if any file would be overwritten or any migration is unreadable.
pub fn import(tool: Tool, dir: &Path, into: &Path) -> Result<Imported, ImportError> {
    if !dir.is_dir() {
        return Err(ImportError::Layout(format!(
            "{} is not a directory: point at the {} migrations directory",
            dir.display(),
            tool.name()
        )));
    }
    let (files, ids, skipped, to_port) = match tool {
        Tool::Alembic => alembic_files(dir, into)?,
        _ => sql_files(tool, dir, into)?,
    };
    for (path, _) in &files {
        if path.exists() {
            return Err(ImportError::Exists(path.clone()));
        }
    }
    std::fs::create_dir_all(into).map_err(|e| ImportError::io(into, e))?;
    let mut written = Vec::new();
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|e| ImportError::io(&path, e))?;
        written.push(path);
    }
    Ok(Imported {
        ids,
        written,
        skipped,
        to_port,
    })
}

/// The files to write, the ids in chain order, what was skipped and what
/// needs a hand port.
type Plan = (
    Vec<(PathBuf, String)>,
    Vec<String>,
    Vec<Skipped>,
    Vec<ToPort>,
);

/// An error unless `id` (made from `source`'s version) can be a revision id.
fn check_id(id: &str, version: &str, source: &Path) -> Result<(), ImportError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ImportError::Layout(format!(
            "{}: its version {version:?} cannot be a revision id (letters, digits, `_` and `-`, at most 64)",
            source.display(),
        )));
    }
    Ok(())
}

/// The file name (without extension) of revision `id`.
fn stem(id: &str, message: &str) -> String {
    let stem = crate::scaffold::crate_name(id, message);
    stem.strip_prefix('r').unwrap_or(&stem).to_string()
}

/// A SQL tool's history as SQL revisions, a chain in the tool's order.
fn sql_files(tool: Tool, dir: &Path, into: &Path) -> Result<Plan, ImportError> {
    let (migrations, skipped) = tools::read(tool, dir)?;
    if migrations.is_empty() {
        return Err(empty(tool, dir, &skipped));
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut ids = Vec::new();
    let mut parent: Option<String> = None;
    for migration in &migrations {
        let id = revision_id(&migration.version);
        check_id(&id, &migration.version, &migration.source)?;
        let info = RevisionInfo {
            id: id.clone(),
            down_revisions: parent.iter().cloned().collect(),
            message: migration.description.clone(),
            branch_labels: Vec::new(),
            depends_on: Vec::new(),
            transactional: migration.transactional,
        };
        let stem = stem(&id, &migration.description);
        let header = format!(
            "{}-- imported from {} ({})\n",
            sql_file::header_lines(&info),
            tool.name(),
            migration
                .source
                .strip_prefix(dir)
                .unwrap_or(&migration.source)
                .display()
        );
        files.push((
            into.join(format!("{stem}.up.sql")),
            format!("{header}{}", migration.up),
        ));
        if let Some(down) = &migration.down {
            files.push((into.join(format!("{stem}.down.sql")), down.clone()));
        }
        ids.push(id.clone());
        parent = Some(id);
    }
    Ok((files, ids, skipped, Vec::new()))
}

/// An Alembic history as Python revision scripts, its graph as it is.
fn alembic_files(dir: &Path, into: &Path) -> Result<Plan, ImportError> {
    let (revisions, skipped) = alembic::read(dir)?;
    if revisions.is_empty() {
        return Err(empty(Tool::Alembic, dir, &skipped));
    }
    let mut files = Vec::new();
    let mut ids = Vec::new();
    let mut to_port = Vec::new();
    for revision in &revisions {
        check_id(&revision.id, &revision.id, &revision.source)?;
        let written = into.join(format!("{}.py", stem(&revision.id, &revision.message)));
        let shown = revision
            .source
            .strip_prefix(dir)
            .unwrap_or(&revision.source);
        let (text, calls) = alembic::script(revision, &shown.display().to_string())?;
        to_port.extend(calls.into_iter().map(|call| ToPort {
            written: written.clone(),
            source: revision.source.clone(),
            call,
        }));
        files.push((written, text));
        ids.push(revision.id.clone());
    }
    Ok((files, ids, skipped, to_port))
}

fn empty(tool: Tool, dir: &Path, skipped: &[Skipped]) -> ImportError {
    ImportError::Layout(format!(
        "no {} migrations in {}{}",
        tool.name(),
        dir.display(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} file(s) skipped)", skipped.len())
        }
    ))
}
