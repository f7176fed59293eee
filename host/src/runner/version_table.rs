//! The version table: one row per applied revision, written through the same
//! sink as the revisions' own statements so the offline script carries it too.

use crate::sink::Sink;
use crate::value::{DbError, Value};

/// The version table's default name.
pub const DEFAULT_NAME: &str = "retort_version";

/// A version-table name that is not a plain identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "version table name {0:?} is not valid: use letters, digits and `_`, starting with a letter or `_` (at most 63)"
)]
pub struct BadTableName(pub String);

/// One applied revision, as the table records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRevision {
    /// The revision id.
    pub id: String,
    /// Hex sha256 of the component that was applied (of a script: its text).
    pub sha256: String,
    /// For a script applied online: the digest of the interpreter it ran under.
    pub interpreter: Option<String>,
    /// When it was applied (database time, `YYYY-MM-DD HH:MM:SS`).
    pub applied_at: String,
    /// How long `upgrade` took, in milliseconds (unknown for offline scripts).
    pub duration_ms: Option<i64>,
}

/// A revision that failed part-way and may have left changes behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFailure {
    /// The revision id.
    pub id: String,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// When it failed (database time).
    pub failed_at: String,
    /// The statement the database refused, if one was.
    pub statement: Option<String>,
    /// What went wrong.
    pub error: String,
    /// The journal of a revision that can commit part-way, when it kept one.
    pub journal: Option<JournalRecord>,
}

/// What the journal says of a revision that could commit part-way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// `running` while (or when interrupted while) the revision ran;
    /// `failed` once a failure was recorded.
    pub state: String,
    /// The run that started it.
    pub run_id: String,
    /// The sha256 of the revision it ran.
    pub sha256: String,
    /// Statements of it that ran and are committed.
    pub statements: u64,
    /// The journal digest over them.
    pub digest: String,
}

impl RecordedFailure {
    /// Whether the process stopped while the revision ran (killed, its
    /// connection lost): nothing recorded how it ended.
    pub fn interrupted(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.state == RUNNING)
    }

    /// One line: what happened to the revision, and how far it got.
    pub fn describe(&self) -> String {
        let (id, direction) = (&self.id, &self.direction);
        match &self.journal {
            Some(j) if j.state == RUNNING => {
                let run = if j.run_id.is_empty() {
                    String::new()
                } else {
                    format!(" (run {})", j.run_id)
                };
                let progress = match j.statements {
                    0 => "before any of its statements had run".to_string(),
                    k => format!(
                        "after statement {k} of it had run and committed (the interrupted run was at statement {})",
                        k + 1
                    ),
                };
                format!(
                    "{id}: the previous run{run} was interrupted in its {direction}, started at {}, {progress}",
                    self.failed_at
                )
            }
            Some(j) => {
                let error = self.error.lines().next().unwrap_or("");
                format!(
                    "{id} failed in {direction} at {} after {} of its statement(s) had run and committed: {error}",
                    self.failed_at, j.statements
                )
            }
            None => {
                let error = self.error.lines().next().unwrap_or("");
                format!("{id} failed in {direction} at {}: {error}", self.failed_at)
            }
        }
    }
}

/// The journal's state of a revision under way (or interrupted).
pub const RUNNING: &str = "running";

/// What a journal record says until the run records how the revision ended.
pub const INTERRUPTED_ERROR: &str = "the run was interrupted while this revision ran (the process was killed or its connection lost) before it could record how the revision ended";

/// The failures table's columns: those of the first release, then the journal's.
const FAILURES_COLUMNS: &str = "revision_id VARCHAR(64) NOT NULL PRIMARY KEY,\n    direction VARCHAR(16) NOT NULL,\n    failed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    statement TEXT,\n    error TEXT NOT NULL";

/// Added to a failures table an earlier release made.
const JOURNAL_COLUMNS: [(&str, &str); 5] = [
    ("state", "state VARCHAR(16)"),
    ("run_id", "run_id VARCHAR(40)"),
    ("sha256", "sha256 VARCHAR(64)"),
    ("statements", "statements BIGINT"),
    ("digest", "digest VARCHAR(64)"),
];

/// What [`VersionTable::journal_start`] writes.
#[derive(Debug, Clone)]
pub struct JournalStart<'a> {
    /// The revision id.
    pub id: &'a str,
    /// `upgrade` or `downgrade`.
    pub direction: &'a str,
    /// This run's id.
    pub run_id: &'a str,
    /// The revision's sha256.
    pub sha256: &'a str,
    /// The journal's digest of no statements.
    pub digest: &'a str,
    /// Whether an interrupted run's record is resumed (kept, not replaced).
    pub resume: bool,
}

/// The version table of one database, as one chain (source) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTable {
    name: String,
    /// With `[[sources]]`: the chain whose rows this is (the table then has
    /// a `source` column, added when missing, and each chain reads and
    /// writes its own rows).
    source: Option<String>,
}

impl VersionTable {
    /// A version table with a validated name.
    pub fn new(name: &str) -> Result<Self, BadTableName> {
        let mut chars = name.chars();
        // 54 leaves room for the `_failures` table beside it within PostgreSQL's 63.
        let ok = name.len() <= 54
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(VersionTable {
                name: name.to_string(),
                source: None,
            })
        } else {
            Err(BadTableName(name.to_string()))
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same table as chain `source` sees it (`None`: no sources).
    pub fn for_source(&self, source: Option<&str>) -> VersionTable {
        VersionTable {
            name: self.name.clone(),
            source: source.map(str::to_string),
        }
    }

    /// The chain whose rows this is, with `[[sources]]`.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The names of the host's tables: the version table and its failures table.
    pub fn host_tables(&self) -> Vec<String> {
        vec![self.name.clone(), self.failures_name()]
    }

    /// `name`, quoted and qualified with the schema (or database) that holds
    /// the host's tables where the sink knows it: no table a revision
    /// creates elsewhere (a TEMP one, one earlier on a search_path) can stand
    /// in for it.
    pub fn qualify(sink: &Sink, name: &str) -> String {
        let dialect = sink.dialect();
        match sink.host_schema() {
            Some(schema) => format!(
                "{}.{}",
                dialect.quote_ident(schema),
                dialect.quote_ident(name)
            ),
            None => dialect.quote_ident(name),
        }
    }

    fn quoted(&self, sink: &Sink) -> String {
        VersionTable::qualify(sink, &self.name)
    }

    /// `CREATE TABLE IF NOT EXISTS` for the table, as `sink` addresses it.
    pub fn create_sql(&self, sink: &Sink) -> String {
        let source = if self.source.is_some() {
            format!(",\n    {SOURCE_COLUMN}")
        } else {
            String::new()
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    revision_id VARCHAR(64) NOT NULL PRIMARY KEY,\n    sha256 CHAR(64) NOT NULL,\n    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    duration_ms BIGINT,\n    {INTERPRETER_COLUMN}{source}\n)",
            self.quoted(sink)
        )
    }

    /// Creates the table if it does not exist, and adds the columns a table
    /// made by an earlier release lacks: `interpreter`, and with sources
    /// `source` (its rows are then the project's own); then the same for
    /// the failures table (the journal). Online only for the additions;
    /// call it under the lock.
    pub async fn ensure(&self, sink: &mut Sink) -> Result<(), DbError> {
        let sql = self.create_sql(sink);
        sink.execute(&sql, &[]).await?;
        if sink.mode() != crate::sink::Mode::Online {
            return self.ensure_failures(sink).await;
        }
        let columns = self.column_names(sink).await?;
        let mut missing = Vec::new();
        if !columns.iter().any(|c| c == "interpreter") {
            missing.push(INTERPRETER_COLUMN);
        }
        if self.source.is_some() && !columns.iter().any(|c| c == "source") {
            missing.push(SOURCE_COLUMN);
        }
        for column in missing {
            let alter = format!("ALTER TABLE {} ADD COLUMN {column}", self.quoted(sink));
            sink.execute(&alter, &[]).await?;
        }
        self.ensure_failures(sink).await
    }

    async fn has_source_column(&self, sink: &mut Sink) -> Result<bool, DbError> {
        Ok(self.column_names(sink).await?.iter().any(|c| c == "source"))
    }

    /// The table's column names, lower case.
    async fn column_names(&self, sink: &mut Sink) -> Result<Vec<String>, DbError> {
        let name = self.name.clone();
        self.column_names_of(sink, &name).await
    }

    /// The column names of the host's table `name`, lower case.
    async fn column_names_of(&self, sink: &mut Sink, name: &str) -> Result<Vec<String>, DbError> {
        let dialect = sink.dialect();
        let schema = sink.host_schema().unwrap_or("main").to_string();
        let (sql, params) = match dialect {
            crate::dialect::Dialect::Sqlite => (
                // The name is a validated identifier: no quote to escape.
                format!("SELECT name FROM pragma_table_info('{name}')"),
                vec![],
            ),
            _ => (
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2".to_string(),
                vec![Value::Text(schema), Value::Text(name.to_string())],
            ),
        };
        Ok(sink
            .host_query(&sql, &params)
            .await?
            .values
            .into_iter()
            .filter_map(|row| match row.into_iter().next() {
                Some(Value::Text(name)) => Some(name.to_ascii_lowercase()),
                _ => None,
            })
            .collect())
    }

    /// `WHERE source = …` for this chain's rows, with its parameter.
    fn source_filter(&self, first_param: usize) -> (String, Vec<Value>) {
        match &self.source {
            Some(source) => (
                format!(" WHERE source = ${first_param}"),
                vec![Value::Text(source.clone())],
            ),
            None => (String::new(), Vec::new()),
        }
    }

    /// Whether the table exists (online only).
    pub async fn exists(&self, sink: &mut Sink) -> Result<bool, DbError> {
        table_exists(sink, &self.name).await
    }

    /// Every applied revision; empty when the table does not exist yet.
    pub async fn read(&self, sink: &mut Sink) -> Result<Vec<AppliedRevision>, DbError> {
        if !self.exists(sink).await? {
            return Ok(Vec::new());
        }
        let (filter, params) = self.source_filter(1);
        if self.source.is_some() && !self.has_source_column(sink).await? {
            // Made before there were sources: every row is the project's own.
            if self.source.as_deref() != Some(crate::config::APP_SOURCE) {
                return Ok(Vec::new());
            }
            return self.for_source(None).read_rows(sink, "", &[]).await;
        }
        self.read_rows(sink, &filter, &params).await
    }

    async fn read_rows(
        &self,
        sink: &mut Sink,
        filter: &str,
        params: &[Value],
    ) -> Result<Vec<AppliedRevision>, DbError> {
        let dialect = sink.dialect();
        // A table an earlier release made has no `interpreter` column
        // until a locked command adds it.
        let has_interpreter = sink.mode() == crate::sink::Mode::Online
            && self
                .column_names(sink)
                .await?
                .iter()
                .any(|c| c == "interpreter");
        let sql = format!(
            "SELECT revision_id, sha256, {}, duration_ms{} FROM {}{filter} ORDER BY applied_at, revision_id",
            dialect.timestamp_as_text("applied_at"),
            if has_interpreter { ", interpreter" } else { "" },
            self.quoted(sink)
        );
        let rows = sink.host_query(&sql, params).await?;
        let interpreter = has_interpreter.then_some(4);
        rows.values
            .into_iter()
            .map(|row| match row.get(..4) {
                Some(
                    [
                        Value::Text(id),
                        Value::Text(sha256),
                        Value::Text(at),
                        duration,
                    ],
                ) => Ok(AppliedRevision {
                    id: id.clone(),
                    sha256: sha256.trim().to_string(),
                    interpreter: match interpreter.and_then(|i| row.get(i)) {
                        Some(Value::Text(digest)) => Some(digest.trim().to_string()),
                        _ => None,
                    },
                    applied_at: at.clone(),
                    duration_ms: match duration {
                        Value::Integer(ms) => Some(*ms),
                        _ => None,
                    },
                }),
                other => Err(DbError::host(format!(
                    "the version table {} holds a row Retort did not write: {other:?}",
                    self.name
                ))),
            })
            .collect()
    }

    /// The table of failures that may have left changes behind: `<name>_failures`.
    pub fn failures_name(&self) -> String {
        format!("{}_failures", self.name)
    }

    /// Creates the failures table if it does not exist, with the journal's
    /// columns, and adds them to a table an earlier release made (online).
    pub async fn ensure_failures(&self, sink: &mut Sink) -> Result<(), DbError> {
        let table = VersionTable::qualify(sink, &self.failures_name());
        let journal: Vec<&str> = JOURNAL_COLUMNS.iter().map(|(_, ddl)| *ddl).collect();
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    {FAILURES_COLUMNS},\n    {}\n)",
            journal.join(",\n    ")
        );
        sink.execute(&create, &[]).await?;
        if sink.mode() != crate::sink::Mode::Online {
            return Ok(());
        }
        let columns = self.column_names_of(sink, &self.failures_name()).await?;
        for (name, ddl) in JOURNAL_COLUMNS {
            if !columns.iter().any(|c| c == name) {
                sink.execute(&format!("ALTER TABLE {table} ADD COLUMN {ddl}"), &[])
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes, in autocommit, that revision `id` starts to run `direction`
    /// (its journal record, with no statements yet); a resume marks the
    /// interrupted run's record as running again, keeping its count.
    pub async fn journal_start(
        &self,
        sink: &mut Sink,
        start: &JournalStart<'_>,
    ) -> Result<(), DbError> {
        let table = VersionTable::qualify(sink, &self.failures_name());
        if start.resume {
            let sql = format!(
                "UPDATE {table} SET state = $1, run_id = $2, error = $3 WHERE revision_id = $4"
            );
            let params = [
                Value::Text(RUNNING.into()),
                Value::Text(start.run_id.into()),
                Value::Text(INTERRUPTED_ERROR.into()),
                Value::Text(start.id.into()),
            ];
            return sink.execute(&sql, &params).await.map(drop);
        }
        // Under the lock no record exists: a run refuses while one does.
        let insert = format!(
            "INSERT INTO {table} (revision_id, direction, error, state, run_id, sha256, statements, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let params = [
            Value::Text(start.id.into()),
            Value::Text(start.direction.into()),
            Value::Text(INTERRUPTED_ERROR.into()),
            Value::Text(RUNNING.into()),
            Value::Text(start.run_id.into()),
            Value::Text(start.sha256.into()),
            Value::Integer(0),
            Value::Text(start.digest.into()),
        ];
        sink.execute(&insert, &params).await.map(drop)
    }

    /// Records that `id` failed part-way: its journal record, if it has one,
    /// is marked failed (keeping how far it got); otherwise a record is made.
    pub async fn record_failure(
        &self,
        sink: &mut Sink,
        id: &str,
        direction: &str,
        statement: Option<&str>,
        error: &str,
    ) -> Result<(), DbError> {
        self.ensure_failures(sink).await?;
        let table = VersionTable::qualify(sink, &self.failures_name());
        let statement = statement.map_or(Value::Null, |s| Value::Text(s.into()));
        let update = format!(
            "UPDATE {table} SET state = $1, failed_at = CURRENT_TIMESTAMP, statement = $2, error = $3 WHERE revision_id = $4"
        );
        let params = [
            Value::Text("failed".into()),
            statement.clone(),
            Value::Text(error.into()),
            Value::Text(id.into()),
        ];
        if sink.execute(&update, &params).await? > 0 {
            return Ok(());
        }
        let insert = format!(
            "INSERT INTO {table} (revision_id, direction, statement, error, state) VALUES ($1, $2, $3, $4, $5)"
        );
        let params = [
            Value::Text(id.into()),
            Value::Text(direction.into()),
            statement,
            Value::Text(error.into()),
            Value::Text("failed".into()),
        ];
        sink.execute(&insert, &params).await.map(drop)
    }

    /// Every recorded failure; empty when there is no failures table.
    pub async fn failures(&self, sink: &mut Sink) -> Result<Vec<RecordedFailure>, DbError> {
        let dialect = sink.dialect();
        let name = self.failures_name();
        if !table_exists(sink, &name).await? {
            return Ok(Vec::new());
        }
        let columns = self.column_names_of(sink, &name).await?;
        let journal = JOURNAL_COLUMNS
            .iter()
            .all(|(c, _)| columns.iter().any(|have| have == c));
        let sql = format!(
            "SELECT revision_id, direction, {}, statement, error{} FROM {} ORDER BY revision_id",
            dialect.timestamp_as_text("failed_at"),
            if journal {
                ", state, run_id, sha256, statements, digest"
            } else {
                ""
            },
            VersionTable::qualify(sink, &name)
        );
        let text = |v: Option<&Value>| match v {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(sink
            .host_query(&sql, &[])
            .await?
            .values
            .iter()
            .map(|row| RecordedFailure {
                id: text(row.first()).unwrap_or_default(),
                direction: text(row.get(1)).unwrap_or_default(),
                failed_at: text(row.get(2)).unwrap_or_default(),
                statement: text(row.get(3)),
                error: text(row.get(4)).unwrap_or_default(),
                journal: text(row.get(5)).map(|state| JournalRecord {
                    state,
                    run_id: text(row.get(6)).unwrap_or_default(),
                    sha256: text(row.get(7)).unwrap_or_default(),
                    statements: match row.get(8) {
                        Some(Value::Integer(n)) => (*n).max(0) as u64,
                        _ => 0,
                    },
                    digest: text(row.get(9)).unwrap_or_default(),
                }),
            })
            .collect())
    }

    /// Forgets the recorded failure (or finished journal record) of `id`.
    pub async fn clear_failure(&self, sink: &mut Sink, id: &str) -> Result<(), DbError> {
        let sql = format!(
            "DELETE FROM {} WHERE revision_id = $1",
            VersionTable::qualify(sink, &self.failures_name())
        );
        sink.execute(&sql, &[Value::Text(id.into())])
            .await
            .map(drop)
    }

    /// Records `id` as applied.
    pub async fn insert(
        &self,
        sink: &mut Sink,
        id: &str,
        sha256: &str,
        interpreter: Option<&str>,
        duration_ms: Option<i64>,
    ) -> Result<(), DbError> {
        let duration = duration_ms.map_or(Value::Null, Value::Integer);
        let mut columns = vec!["revision_id", "sha256", "duration_ms"];
        let mut params = vec![Value::Text(id.into()), Value::Text(sha256.into()), duration];
        // Offline, the script may run against a table an earlier release
        // made (no `interpreter` column): the interpreter is recorded online only.
        if let Some(interpreter) = interpreter
            && sink.mode() == crate::sink::Mode::Online
        {
            columns.push("interpreter");
            params.push(Value::Text(interpreter.into()));
        }
        if let Some(source) = &self.source {
            columns.push("source");
            params.push(Value::Text(source.clone()));
        }
        let placeholders: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.quoted(sink),
            columns.join(", "),
            placeholders.join(", ")
        );
        sink.execute(&sql, &params).await.map(drop)
    }

    /// Replaces the recorded sha256 of `id` (a deliberate rebuild was accepted).
    pub async fn update_sha256(
        &self,
        sink: &mut Sink,
        id: &str,
        sha256: &str,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET sha256 = $1 WHERE revision_id = $2",
            self.quoted(sink)
        );
        let params = [Value::Text(sha256.into()), Value::Text(id.into())];
        sink.execute(&sql, &params).await.map(drop)
    }

    /// Rewrites `id`'s identity, as recorded by an earlier release, to
    /// the present rule, with the interpreter it ran under.
    pub async fn update_identity(
        &self,
        sink: &mut Sink,
        id: &str,
        sha256: &str,
        interpreter: &str,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET sha256 = $1, interpreter = $2 WHERE revision_id = $3",
            self.quoted(sink)
        );
        let params = [
            Value::Text(sha256.into()),
            Value::Text(interpreter.into()),
            Value::Text(id.into()),
        ];
        sink.execute(&sql, &params).await.map(drop)
    }

    /// Removes `id`'s row.
    pub async fn delete(&self, sink: &mut Sink, id: &str) -> Result<(), DbError> {
        let sql = format!("DELETE FROM {} WHERE revision_id = $1", self.quoted(sink));
        sink.execute(&sql, &[Value::Text(id.into())])
            .await
            .map(drop)
    }
}

/// The `interpreter` column: for a script, the digest (BLAKE3) of the
/// interpreter component it ran under; informational, never its identity.
const INTERPRETER_COLUMN: &str = "interpreter VARCHAR(64)";

/// The `source` column: which chain a row belongs to (`app` for the
/// project's own, which is what rows from before there were sources are).
const SOURCE_COLUMN: &str = "source VARCHAR(64) NOT NULL DEFAULT 'app'";

/// Whether table `name` exists where the sink keeps the host's tables (online only).
pub async fn table_exists(sink: &mut Sink, name: &str) -> Result<bool, DbError> {
    let (sql, params) = sink.dialect().table_exists_query(sink.host_schema(), name);
    Ok(!sink.host_query(&sql, &params).await?.values.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(VersionTable::new("retort_version").is_ok());
        assert!(VersionTable::new("_v2").is_ok());
        for bad in ["", "1abc", "a-b", "a;drop", "x".repeat(55).as_str()] {
            assert!(VersionTable::new(bad).is_err(), "{bad}");
        }
    }
}
