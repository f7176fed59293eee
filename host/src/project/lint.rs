//! `retort lint` and `run`'s lint gate: each revision of a plan recorded as
//! `--sql` records it, then judged by [`crate::lint`].
//!
//! With a database (and no `--dialect` or `FROM:` range) the plan is what
//! that database still needs, and the rules assume its server's version;
//! the database is only read, never locked or changed: a rehearsal would
//! take the very locks the rules warn about. Without one, the plan is the
//! range, for the dialect given.

use std::collections::BTreeSet;

use super::{Project, Range, close, database};
use crate::dialect::{Dialect, split};
use crate::error::Error;
use crate::graph::{Direction, Plan};
use crate::lint::{self, Finding, Recorded, Statement};
use crate::runner::{RunError, Runner, TransactionMode};
use crate::sandbox::{SqlSection, Trust};
use crate::sink::{Recorder, Sink, Transcribed};
use crate::value::Value;

/// What `retort lint` found.
#[derive(Debug, Clone)]
pub struct LintReport {
    /// The database the statements were judged for.
    pub dialect: Dialect,
    /// The PostgreSQL major version the rules assumed.
    pub postgres_major: u32,
    /// The revisions linted, in plan order.
    pub revisions: Vec<String>,
    /// What they break.
    pub findings: Vec<Finding>,
}

impl LintReport {
    /// Whether a finding is at `error` level.
    pub fn has_errors(&self) -> bool {
        lint::has_errors(&self.findings)
    }
}

impl Project {
    /// Lints the revisions `range` covers (`TO`, or `FROM:TO`). With the
    /// configured database and neither `dialect` nor a `FROM`, the plan is
    /// what that database still needs to reach `TO`; otherwise it is the
    /// range from base (or `FROM`), for `dialect` (or the URL's).
    pub async fn lint(&self, range: &Range, dialect: Option<Dialect>) -> Result<LintReport, Error> {
        self.lint_with(range, dialect, false).await
    }

    /// [`Project::lint`]; with `rehearse`, the plan's statements come from a
    /// dry run on the configured database instead of a recording: rehearsed
    /// on PostgreSQL and SQLite (in a transaction that is rolled back, so
    /// revisions that read rows see the real ones; it takes the locks the
    /// revisions take: point it at a copy), recorded on MySQL/MariaDB.
    pub async fn lint_with(
        &self,
        range: &Range,
        dialect: Option<Dialect>,
        rehearse: bool,
    ) -> Result<LintReport, Error> {
        if rehearse && (dialect.is_some() || range.from.is_some()) {
            return Err(Error::Usage(
                "--rehearse lints what the configured database still needs: give neither --dialect nor FROM:".into(),
            ));
        }
        let online =
            dialect.is_none() && range.from.is_none() && self.config.database_url.is_some();
        let (plan, dialect, server_major) = if online {
            self.pending(range).await?
        } else {
            let dialect = match dialect.or_else(|| {
                self.config
                    .database_url
                    .as_deref()
                    .and_then(Dialect::from_url)
            }) {
                Some(d) => d,
                None => {
                    return Err(Error::Usage(
                        "lint needs to know the database: give --dialect sqlite|postgres|mysql, or a database URL".into(),
                    ));
                }
            };
            let assumed = match &range.from {
                None => BTreeSet::new(),
                Some(from) => self.graph().reachable(from)?,
            };
            (
                self.plan(Direction::Upgrade, &assumed, &range.to)?,
                dialect,
                None,
            )
        };
        let postgres_major = server_major
            .or_else(|| {
                self.config
                    .lint
                    .postgres_version
                    .as_deref()
                    .and_then(lint::postgres_major)
            })
            .unwrap_or(lint::DEFAULT_POSTGRES_MAJOR);
        self.catalog.prepare(&self.sandbox, &plan.steps).await?;
        let settings = lint::Settings {
            dialect,
            spec: &self.config.lint,
            postgres_major,
            inline_ignores: self
                .config
                .lint
                .inline_ignores
                .unwrap_or(self.config.trust == Trust::FirstParty),
        };
        let recorded = if rehearse {
            self.rehearse_for_lint(&range.to, dialect).await?
        } else {
            self.record_for_lint(&plan.steps, dialect).await?
        };
        let mut findings = Vec::new();
        for revision in &recorded {
            findings.extend(lint::check(&settings, revision));
        }
        Ok(LintReport {
            dialect,
            postgres_major,
            revisions: plan.steps,
            findings,
        })
    }

    /// What the configured database still needs to reach `range.to`, its
    /// dialect, and (PostgreSQL) its server's major version.
    async fn pending(&self, range: &Range) -> Result<(Plan, Dialect, Option<u32>), Error> {
        let db = self.database()?;
        let dialect = Dialect::from_url(&db.url)
            .ok_or_else(|| crate::config::ConfigError::BadDatabaseUrl(db.url.clone()))?;
        let Some(mut sink) = self.read_only(&db).await? else {
            return Ok((
                self.plan(Direction::Upgrade, &BTreeSet::new(), &range.to)?,
                dialect,
                None,
            ));
        };
        let read = async {
            let plan = self
                .plan_from(&mut sink, Direction::Upgrade, &range.to)
                .await?;
            let major = if dialect == Dialect::Postgres {
                let rows = sink
                    .host_query("SELECT current_setting('server_version_num')", &[])
                    .await
                    .map_err(|e| database("reading the server's version", e))?;
                match rows.values.first().and_then(|row| row.first()) {
                    Some(Value::Text(v)) => lint::postgres_major(v),
                    _ => None,
                }
            } else {
                None
            };
            Ok::<_, Error>((plan, major))
        }
        .await;
        close(sink).await;
        let (plan, major) = read?;
        Ok((plan, dialect, major))
    }

    /// The upgrades of `steps` recorded offline, in one run as `--sql`
    /// records them; a revision that cannot be recorded (it reads rows) is
    /// noted as such, and the recording goes on after it.
    async fn record_for_lint(
        &self,
        steps: &[String],
        dialect: Dialect,
    ) -> Result<Vec<Recorded>, Error> {
        let mut recorded = Vec::with_capacity(steps.len());
        let mut rest = steps;
        while !rest.is_empty() {
            let mut sink = Sink::Offline(
                Recorder::new(dialect).with_host_schema(self.config.schema.as_deref()),
            );
            self.enter_scope(&mut sink).await?;
            sink.tap_mut().keep_transcript();
            let rules = |id: &str| self.config.rules_for(id);
            let plan = Plan {
                direction: Direction::Upgrade,
                steps: rest.to_vec(),
            };
            let mut runner = Runner::new(
                &self.sandbox,
                &self.catalog,
                &self.config.version_table,
                sink,
                &rules,
            );
            let ran = runner
                .run(&plan, TransactionMode::PerRevision, &mut |_| {})
                .await;
            let sink = runner.into_sink();
            let mut calls = by_revision(sink.tap().transcript(), dialect);
            let failed = match &ran {
                Ok(_) => None,
                Err(RunError::Revision(f)) => rest.iter().position(|id| *id == f.id),
                Err(RunError::Bookkeeping { id, .. }) => rest.iter().position(|s| s == id),
                Err(_) => None,
            };
            let done = failed.unwrap_or(rest.len());
            for (id, statements) in calls.drain(..).take(done) {
                let statements = statements.into_iter().map(Statement::new).collect();
                recorded.push(self.recorded(&id, Ok(statements), dialect)?);
            }
            match (ran, failed) {
                (Ok(_), _) => break,
                (Err(e), Some(at)) => {
                    recorded.push(self.recorded(&rest[at], Err(e.to_string()), dialect)?);
                    rest = &rest[at + 1..];
                }
                (Err(e), None) => return Err(e.into()),
            }
        }
        Ok(recorded)
    }

    /// The plan's statements from a dry run on the configured database.
    async fn rehearse_for_lint(
        &self,
        to: &crate::graph::Target,
        dialect: Dialect,
    ) -> Result<Vec<Recorded>, Error> {
        let db = self.database()?;
        let deployment = self
            .dry_run(&db, Direction::Upgrade, to, &mut |_| {})
            .await?;
        let Some(dry) = deployment.dry_run else {
            return Ok(Vec::new());
        };
        dry.statements
            .into_iter()
            .map(|(id, statements)| {
                let statements = statements.into_iter().map(Statement::new).collect();
                self.recorded(&id, Ok(statements), dialect)
            })
            .collect()
    }

    /// What lint judges of revision `id`: its recorded calls (with their
    /// places in the file, for a SQL revision), or why there are none.
    fn recorded(
        &self,
        id: &str,
        statements: Result<Vec<Statement>, String>,
        dialect: Dialect,
    ) -> Result<Recorded, Error> {
        let entry = self
            .catalog
            .get(id)
            .expect("plans only name revisions of the catalog");
        let mut statements = statements;
        if let Ok(list) = &mut statements
            && entry.is_sql()
        {
            let program = self.catalog.program(&self.sandbox, id)?;
            if let Some(sql) = program.sql_revision() {
                place(list, &sql.up, dialect);
            }
        }
        Ok(Recorded {
            id: id.to_string(),
            file: entry.path.display().to_string(),
            transactional: entry.info.transactional,
            statements,
        })
    }
}

/// A transcript split at each revision's start: the statements of each,
/// parameters rendered as literals (as they are, when they cannot be).
pub(super) fn by_revision(
    transcript: &[Transcribed],
    dialect: Dialect,
) -> Vec<(String, Vec<String>)> {
    let mut calls: Vec<(String, Vec<String>)> = Vec::new();
    for entry in transcript {
        match entry {
            Transcribed::Revision { id, .. } => calls.push((id.clone(), Vec::new())),
            Transcribed::Statement { sql, params, .. } => {
                let text = if params.is_empty() {
                    sql.clone()
                } else {
                    dialect
                        .inline_params(sql, params)
                        .unwrap_or_else(|_| sql.clone())
                };
                if let Some((_, statements)) = calls.last_mut() {
                    statements.push(text);
                }
            }
        }
    }
    calls
}

/// Gives a SQL revision's recorded statements their lines in its file and
/// the comments before each (the host sends neither), when the recording
/// is the file's statements one for one.
fn place(statements: &mut [Statement], section: &SqlSection, dialect: Dialect) {
    let located = split::statements(&section.text, dialect);
    if located.len() != statements.len() {
        return;
    }
    let base = section.text.as_ptr() as usize;
    let mut previous_end = 0;
    for (statement, at) in statements.iter_mut().zip(&located) {
        let start = at.text.as_ptr() as usize - base;
        statement.line = Some(section.first_line + at.line - 1);
        statement.comments = section.text[previous_end..start].to_string();
        previous_end = start + at.text.len();
    }
}
