//! `--dry-run`: the plan and the statements a run would send, without
//! changing the database.
//!
//! On PostgreSQL and SQLite, whose DDL is transactional, the plan is
//! *rehearsed*: it runs online, in one transaction that is always rolled
//! back, so the revisions see the real data (a revision that reads rows to
//! compute its updates computes the real ones) and the digest is the one the
//! real run will send. A SQLite file that does not exist yet is rehearsed in
//! memory, so not even the file is created.
//!
//! On MySQL/MariaDB, which commit each DDL statement at once, and for a plan
//! with a revision that must run outside a transaction, nothing can be
//! rolled back: the plan is *recorded* offline instead (the version table is
//! only read). The revisions then run in offline mode; those that ask for
//! the mode are named, since they may send other statements in a real run.

use std::collections::BTreeSet;

use super::deploy::{Database, Deployment, DryRun, DryRunMethod};
use super::{Project, close, database};
use crate::dialect::Dialect;
use crate::error::Error;
use crate::graph::{Direction, Plan, Target};
use crate::runner::{Event, Runner, TransactionMode};
use crate::sink::{OnlineSink, Recorder, Sink, Transcribed, sqlite_file};
use crate::value::Value;

impl Project {
    /// Plans and runs `direction` to `target` on `db` without changing it
    /// (see the module documentation for how).
    pub(super) async fn dry_run(
        &self,
        db: &Database,
        direction: Direction,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Deployment, Error> {
        let dialect = Dialect::from_url(&db.url)
            .ok_or_else(|| crate::config::ConfigError::BadDatabaseUrl(db.url.clone()))?;
        if !dialect.transactional_ddl() {
            let reason = format!(
                "{dialect} commits each DDL statement at once, so a rehearsal could not be rolled back"
            );
            return self.record(db, direction, target, reason, observer).await;
        }
        match self.rehearse(db, direction, target, observer).await? {
            Rehearsal::Ran(deployment) => Ok(deployment),
            Rehearsal::Impossible(reason) => {
                self.record(db, direction, target, reason, observer).await
            }
        }
    }

    /// Runs the plan online inside a transaction that is rolled back.
    /// [`Rehearsal::Impossible`] when the plan cannot run inside one transaction.
    async fn rehearse(
        &self,
        db: &Database,
        direction: Direction,
        target: &Target,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Rehearsal<Deployment>, Error> {
        // A SQLite file that does not exist is a fresh database: rehearse in
        // memory rather than create it.
        let url = match sqlite_file(&db.url) {
            Some(file) if !file.exists() => "sqlite::memory:".to_string(),
            _ => db.url.clone(),
        };
        let mut sink = Sink::Online(OnlineSink::connect(&url, None).await?);
        // The schema is entered inside the rehearsal's transaction, later;
        // the role is judged against it now.
        if let Some(schema) = &db.schema {
            sink.set_host_schema(schema);
        }
        if let Err(e) = self.confine(&mut sink).await {
            end_rehearsal(sink).await;
            return Err(e);
        }
        let plan = match self.open_rehearsal(&mut sink, db, direction, target).await {
            Ok(Rehearsal::Ran(plan)) => plan,
            Ok(Rehearsal::Impossible(reason)) => {
                end_rehearsal(sink).await;
                return Ok(Rehearsal::Impossible(reason));
            }
            Err(e) => {
                end_rehearsal(sink).await;
                return Err(e);
            }
        };
        if let Err(e) = self.enter_scope(&mut sink).await {
            end_rehearsal(sink).await;
            return Err(e);
        }
        sink.tap_mut().keep_transcript();
        let rules = |id: &str| self.config.rehearsal_rules_for(id);
        let table = &self.config.version_table;
        let mut runner = Runner::new(&self.sandbox, &self.catalog, table, sink, &rules)
            .within_caller_transaction();
        let result = runner.run(&plan, TransactionMode::All, observer).await;
        let sink = runner.into_sink();
        let dry_run = self.describe(&sink, DryRunMethod::Rehearsal).await;
        let digest = sink.tap().digest();
        end_rehearsal(sink).await;
        Ok(Rehearsal::Ran(Deployment {
            steps: result?,
            digest,
            dry_run: Some(dry_run),
        }))
    }

    /// Begins the rehearsal's transaction, takes the lock, and plans from
    /// the version table. [`Rehearsal::Impossible`] when the plan cannot be rehearsed.
    async fn open_rehearsal(
        &self,
        sink: &mut Sink,
        db: &Database,
        direction: Direction,
        target: &Target,
    ) -> Result<Rehearsal<Plan>, Error> {
        let dialect = sink.dialect();
        let table = &self.config.version_table;
        let lock = async |sink: &mut Sink| -> Result<(), Error> {
            if self.config.lock {
                sink.lock(table.name(), self.config.lock_timeout).await?;
            }
            Ok(())
        };
        if dialect == Dialect::Postgres {
            // The schema (created inside the transaction if it is missing, so
            // the rollback removes it again) decides the lock's key.
            begin(sink).await?;
            if let Some(schema) = &db.schema {
                sink.execute(&dialect.enter_schema(schema, true), &[])
                    .await
                    .map_err(|e| database(&format!("using schema {schema:?}"), e))?;
                sink.set_host_schema(schema);
            }
            lock(sink).await?;
        } else {
            lock(sink).await?;
            begin(sink).await?;
        }
        table
            .ensure(sink)
            .await
            .map_err(|e| database("creating the version table", e))?;
        self.refuse_if_dirty(sink).await?;
        let plan = self.plan_from(sink, direction, target).await?;
        let outside: Vec<&str> = plan
            .steps
            .iter()
            .filter(|id| self.catalog.get(id).is_some_and(|e| !e.info.transactional))
            .map(String::as_str)
            .collect();
        if !outside.is_empty() {
            return Ok(Rehearsal::Impossible(format!(
                "{} must run outside a transaction (transactional: false), so a rehearsal could not be rolled back",
                outside.join(", ")
            )));
        }
        self.catalog.prepare(&self.sandbox, &plan.steps).await?;
        Ok(Rehearsal::Ran(plan))
    }

    /// Records the plan offline, reading (never writing) the version table.
    async fn record(
        &self,
        db: &Database,
        direction: Direction,
        target: &Target,
        reason: String,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Deployment, Error> {
        let dialect = Dialect::from_url(&db.url)
            .ok_or_else(|| crate::config::ConfigError::BadDatabaseUrl(db.url.clone()))?;
        let plan = match self.read_only(db).await? {
            Some(mut sink) => {
                let plan = async {
                    // As a real run would be refused, so is its dry run.
                    self.confine(&mut sink).await?;
                    self.refuse_if_dirty(&mut sink).await?;
                    self.plan_from(&mut sink, direction, target).await
                }
                .await;
                close(sink).await;
                plan?
            }
            None => self.plan(direction, &BTreeSet::new(), target)?,
        };
        self.catalog.prepare(&self.sandbox, &plan.steps).await?;
        let mut sink = Sink::Offline(Recorder::new(dialect));
        self.enter_scope(&mut sink).await?;
        sink.tap_mut().keep_transcript();
        let rules = |id: &str| self.config.rehearsal_rules_for(id);
        let table = &self.config.version_table;
        let mut runner = Runner::new(&self.sandbox, &self.catalog, table, sink, &rules);
        let result = runner
            .run(&plan, self.config.transaction_mode, observer)
            .await;
        let sink = runner.into_sink();
        let dry_run = self
            .describe(&sink, DryRunMethod::Recording { reason })
            .await;
        Ok(Deployment {
            steps: result?,
            digest: sink.tap().digest(),
            dry_run: Some(dry_run),
        })
    }

    /// A connection that only reads: `None` when there is nothing to read
    /// (a SQLite file or PostgreSQL schema that does not exist yet).
    pub(super) async fn read_only(&self, db: &Database) -> Result<Option<Sink>, Error> {
        if sqlite_file(&db.url).is_some_and(|file| !file.exists()) {
            return Ok(None);
        }
        let mut sink = Sink::Online(OnlineSink::connect(&db.url, None).await?);
        if let Some(schema) = &db.schema {
            let exists = sink
                .host_query(
                    "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                    &[Value::Text(schema.clone())],
                )
                .await
                .map_err(|e| database(&format!("looking for schema {schema:?}"), e));
            match exists {
                Ok(rows) if rows.values.is_empty() => {
                    close(sink).await;
                    return Ok(None);
                }
                Ok(_) => {}
                Err(e) => {
                    close(sink).await;
                    return Err(e);
                }
            }
            if let Err(e) = sink
                .execute(&Dialect::Postgres.enter_schema(schema, false), &[])
                .await
            {
                close(sink).await;
                return Err(database(&format!("using schema {schema:?}"), e));
            }
            // The host's tables (and the role's own schema) are there too,
            // as in a real run connected with the schema.
            sink.set_host_schema(schema);
        }
        Ok(Some(sink))
    }

    /// Refuses (exit 4) while a part-way failure is unresolved or an applied
    /// component has drifted, as a real run would.
    async fn refuse_if_dirty(&self, sink: &mut Sink) -> Result<(), Error> {
        let table = &self.config.version_table;
        let failures = table
            .failures(sink)
            .await
            .map_err(|e| database("reading the failures table", e))?;
        if !failures.is_empty() {
            return Err(Error::Dirty {
                table: table.failures_name(),
                failures,
            });
        }
        let drifts = self.drifts(&self.applied(sink).await?);
        if drifts.is_empty() {
            Ok(())
        } else {
            Err(Error::Drift(drifts))
        }
    }

    /// The plan from what the version table says is applied.
    pub(super) async fn plan_from(
        &self,
        sink: &mut Sink,
        direction: Direction,
        target: &Target,
    ) -> Result<Plan, Error> {
        let applied: BTreeSet<String> = self
            .applied(sink)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        self.plan(direction, &applied, target)
    }

    /// The transcript as SQL, and what the tap noticed.
    async fn describe(&self, sink: &Sink, method: DryRunMethod) -> DryRun {
        let tap = sink.tap();
        DryRun {
            method,
            script: render(sink.dialect(), tap.transcript(), self).await,
            mode_dependent: tap.mode_dependent().to_vec(),
            statements: super::lint::by_revision(tap.transcript(), sink.dialect()),
        }
    }
}

/// Whether a plan could be rehearsed.
enum Rehearsal<T> {
    /// It could: what came of it.
    Ran(T),
    /// It cannot run in one transaction that is rolled back: why.
    Impossible(String),
}

async fn begin(sink: &mut Sink) -> Result<(), Error> {
    sink.begin()
        .await
        .map_err(|e| database("beginning the dry run's transaction", e))
}

/// Rolls the rehearsal back and closes its connection (which releases the
/// lock). After a failure the runner has rolled back already; a second
/// ROLLBACK is harmless and its complaint is ignored.
async fn end_rehearsal(mut sink: Sink) {
    if !sink.is_broken()
        && let Err(e) = sink.execute("ROLLBACK", &[]).await
    {
        tracing::debug!("rolling back the dry run: {e}");
    }
    close(sink).await;
}

/// Renders a transcript through an offline recorder: a comment naming each
/// revision, then its statements with literal parameters.
async fn render(dialect: Dialect, transcript: &[Transcribed], project: &Project) -> String {
    let mut sink = Sink::Offline(Recorder::new(dialect));
    for entry in transcript {
        match entry {
            Transcribed::Revision { id, direction } => {
                let message = project
                    .catalog
                    .get(id)
                    .map_or("", |e| e.info.message.lines().next().unwrap_or(""));
                sink.comment(&format!("{direction} {id}: {message}"));
            }
            Transcribed::Statement { query, sql, params } => {
                if *query {
                    sink.comment("reads rows:");
                }
                if let Err(e) = sink.execute(sql, params).await {
                    sink.comment(&format!("(cannot be written as SQL: {e}) {sql}"));
                }
            }
        }
    }
    match sink {
        Sink::Offline(recorder) => recorder.into_script(),
        Sink::Online(_) => String::new(),
    }
}
