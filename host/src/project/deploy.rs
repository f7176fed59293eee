//! Runs as deploy tooling needs them: against a given database (one of many
//! in a fan-out), reporting the digest of what the revisions sent, or as a
//! dry run that changes nothing ([`super::dry_run`]).

use super::{Project, close};
use crate::error::Error;
use crate::graph::{Direction, Target};
use crate::runner::{Event, StepReport};
use crate::sink::{OnlineSink, RunDigest, Sink};

/// One database a run goes to: a URL and, on PostgreSQL, a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The database URL (`sqlite:`, `postgres://`, `mysql://`).
    pub url: String,
    /// The PostgreSQL schema for the version table and `search_path`.
    pub schema: Option<String>,
}

impl Database {
    /// A name for messages: the URL with any password hidden, and the schema.
    pub fn display_name(&self) -> String {
        let url = crate::sink::redact(&self.url);
        match &self.schema {
            Some(schema) => format!("{url} schema={schema}"),
            None => url,
        }
    }
}

/// How a dry run came by its statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRunMethod {
    /// The plan ran online inside one transaction that was then rolled back:
    /// the revisions saw the real data and ran in online mode, so the digest
    /// is the one a real run sends (PostgreSQL, SQLite).
    Rehearsal,
    /// The plan ran offline into a recorder (nothing was sent): the
    /// revisions ran in offline mode. `reason` says why it could not be
    /// rehearsed (MySQL/MariaDB commit DDL at once; a revision that must run
    /// outside a transaction).
    Recording {
        /// Why it was not rehearsed.
        reason: String,
    },
}

impl DryRunMethod {
    /// `rehearsal` or `recording`.
    pub fn name(&self) -> &'static str {
        match self {
            DryRunMethod::Rehearsal => "rehearsal",
            DryRunMethod::Recording { .. } => "recording",
        }
    }
}

/// What a dry run saw besides the steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// How the statements were obtained.
    pub method: DryRunMethod,
    /// The revisions' statements as SQL, parameters rendered as literals,
    /// with a comment before each revision. Bookkeeping (transactions, the
    /// version table) is left out, as it is from the digest.
    pub script: String,
    /// Revisions that asked whether they run online or offline. In a
    /// recording these may send other statements in a real run.
    pub mode_dependent: Vec<String>,
    /// Each revision's statements, parameters rendered as literals, in run
    /// order: what `retort lint --rehearse` judges.
    pub statements: Vec<(String, Vec<String>)>,
}

/// A finished run (or dry run) on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The steps that completed, in order.
    pub steps: Vec<StepReport>,
    /// The digest of the statements the revisions sent (or would send).
    pub digest: RunDigest,
    /// For a dry run, what it saw.
    pub dry_run: Option<DryRun>,
}

impl Project {
    /// The configured database (`database_url` and `schema`).
    pub fn database(&self) -> Result<Database, Error> {
        Ok(Database {
            url: self.config.require_url()?.to_string(),
            schema: self.config.schema.clone(),
        })
    }

    /// Upgrades or downgrades `database` to `target` like
    /// [`Project::upgrade`]/[`Project::downgrade`] (lock, version table,
    /// transactions), or with `dry_run` changes nothing and reports what
    /// would be sent. Either way the result carries the digest of the
    /// revisions' statements.
    pub async fn deploy(
        &self,
        database: &Database,
        direction: Direction,
        target: &Target,
        dry_run: bool,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Deployment, Error> {
        if dry_run {
            return self.dry_run(database, direction, target, observer).await;
        }
        let online = OnlineSink::connect(&database.url, database.schema.as_deref()).await?;
        let (sink, result) = self
            .run_online(Sink::Online(online), direction, target, observer)
            .await;
        let digest = sink.tap().digest();
        close(sink).await;
        Ok(Deployment {
            steps: result?,
            digest,
            dry_run: None,
        })
    }
}
