//! `stamp` and `check`: the version table, read or written, without running
//! any revision. Stamping writes through the same [`Sink`] as a run, so
//! `stamp --sql` records its rows into a script like any offline run.

use std::collections::BTreeSet;

use super::{Project, Range, close, database};
use crate::dialect::Dialect;
use crate::error::Error;
use crate::graph::{StampPlan, Target};
use crate::sink::{Recorder, Sink};
use crate::value::DbError;

/// What `retort check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The applied revisions that no applied revision follows.
    pub applied_heads: Vec<String>,
    /// What `upgrade heads` would apply, in order.
    pub pending: Vec<String>,
}

impl Check {
    /// Whether every head is applied.
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty()
    }
}

impl Project {
    /// Reads the version table and says whether every head is applied.
    pub async fn check(&self) -> Result<Check, Error> {
        let rows = self.current().await?;
        let applied: BTreeSet<String> = rows.into_iter().map(|r| r.id).collect();
        let graph = self.graph();
        let pending = graph.plan_upgrade(&applied, &Target::Heads)?.steps;
        Ok(Check {
            applied_heads: graph
                .applied_heads(&applied)
                .into_iter()
                .map(str::to_string)
                .collect(),
            pending,
        })
    }

    /// Sets the version table to where an upgrade or downgrade to `target`
    /// would leave it, without running any revision. Returns the rows written.
    /// Holds the migration lock like any run (stamping over a recorded
    /// part-way failure is refused: resolve it first).
    pub async fn stamp(&self, target: &Target) -> Result<StampPlan, Error> {
        let sink = self.connect().await?;
        let (sink, result) = self
            .locked(sink, async |sink: &mut Sink| {
                self.stamp_on(sink, target).await
            })
            .await;
        let (sink, result) = match result {
            Ok(plan) => self.release(sink, Ok(plan)).await,
            Err(e) => (sink, Err(e)), // `locked` released it already
        };
        close(sink).await;
        result
    }

    pub(super) async fn stamp_on(
        &self,
        sink: &mut Sink,
        target: &Target,
    ) -> Result<StampPlan, Error> {
        self.config
            .version_table
            .ensure(sink)
            .await
            .map_err(|e| database("creating the version table", e))?;
        let applied: BTreeSet<String> = self
            .applied(sink)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let plan = self.graph().plan_stamp(&applied, target)?;
        self.write_stamp(sink, target, &plan)
            .await
            .map_err(|e| database("stamping the version table", e))?;
        Ok(plan)
    }

    /// Records the version-table statements of `stamp` over `range` (`FROM:TO`,
    /// FROM assumed applied, base when omitted) as a script for `dialect`.
    pub async fn stamp_script(&self, range: &Range, dialect: Dialect) -> Result<String, Error> {
        let assumed = match &range.from {
            None => BTreeSet::new(),
            Some(from) => self.graph().reachable(from)?,
        };
        let plan = self.graph().plan_stamp(&assumed, &range.to)?;
        let mut recorder = Recorder::new(dialect);
        recorder.comment(&format!(
            "Retort offline script: stamp {range} ({dialect}); no revision runs, only the version table changes.\nReview it, then apply it with your database's own client."
        ));
        let mut sink = Sink::Offline(recorder);
        sink.comment("the version table");
        let table = &self.config.version_table;
        table
            .ensure(&mut sink)
            .await
            .map_err(|e| database("recording the version table", e))?;
        self.write_stamp(&mut sink, &range.to, &plan)
            .await
            .map_err(|e| database("recording the stamp", e))?;
        match sink {
            Sink::Offline(recorder) => Ok(recorder.into_script()),
            Sink::Online(_) => unreachable!("an offline stamp keeps its recorder"),
        }
    }

    /// The stamp's rows in one transaction: deletions first, then insertions.
    async fn write_stamp(
        &self,
        sink: &mut Sink,
        target: &Target,
        plan: &StampPlan,
    ) -> Result<(), DbError> {
        if plan.insert.is_empty() && plan.delete.is_empty() {
            return Ok(());
        }
        sink.comment(&format!(
            "stamp {target}: remove {} row(s), add {} row(s)",
            plan.delete.len(),
            plan.insert.len()
        ));
        let dialect = sink.dialect();
        sink.execute(dialect.begin(), &[]).await?;
        let table = &self.config.version_table;
        let mut written = Ok(());
        for id in &plan.delete {
            written = table.delete(sink, id).await;
            if written.is_err() {
                break;
            }
        }
        if written.is_ok() {
            for id in &plan.insert {
                // Nothing ran: no interpreter to record.
                let sha256 = self.catalog.get(id).map_or("", |e| e.sha256.as_str());
                written = table.insert(sink, id, sha256, None, None).await;
                if written.is_err() {
                    break;
                }
            }
        }
        match written {
            Ok(()) => sink.execute("COMMIT", &[]).await.map(drop),
            Err(e) => {
                let _ = sink.execute("ROLLBACK", &[]).await;
                Err(e)
            }
        }
    }
}
