//! `retort resolve ID --resume`: runs an interrupted revision again from
//! where its journal says it stopped.

use std::collections::BTreeSet;

use super::{Project, close, database};
use crate::error::Error;
use crate::graph::{Direction, Plan};
use crate::runner::{Event, RecordedFailure, Runner, StepReport, TransactionMode};
use crate::sink::{Resume, Sink};

impl Project {
    /// Under the lock: re-runs revision `id`, whose journal record says how
    /// many of its statements ran, skipping those (they must be the same
    /// statements: a revision that sends others is refused) and continuing
    /// from the next. On success the version table records it as a run
    /// that completed would have, and the record is gone.
    pub async fn resume(
        &self,
        id: &str,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<(RecordedFailure, Vec<StepReport>), Error> {
        let id = self.graph().resolve(id)?.to_string();
        let mut sink = self.connect().await?;
        if let Err(e) = self.confine(&mut sink).await {
            close(sink).await;
            return Err(e);
        }
        let table = &self.config.version_table;
        if self.config.lock
            && let Err(e) = sink.lock(table.name(), self.config.lock_timeout).await
        {
            close(sink).await;
            return Err(e.into());
        }
        let prepared = self.prepare_resume(&mut sink, &id).await;
        let (failure, resume, plan) = match prepared {
            Ok(ready) => ready,
            Err(e) => {
                let (sink, result) = self.release(sink, Err(e)).await;
                close(sink).await;
                return result;
            }
        };
        let rules = |id: &str| self.config.rules_for(id);
        let mut runner =
            Runner::new(&self.sandbox, &self.catalog, table, sink, &rules).resuming(resume);
        let result = runner
            .run(&plan, TransactionMode::PerRevision, observer)
            .await
            .map_err(Error::from);
        let (sink, result) = self.release(runner.into_sink(), result).await;
        close(sink).await;
        Ok((failure, result?))
    }

    /// Checks that `id` can be resumed and makes its one-step plan.
    async fn prepare_resume(
        &self,
        sink: &mut Sink,
        id: &str,
    ) -> Result<(RecordedFailure, Resume, Plan), Error> {
        let table = &self.config.version_table;
        table
            .ensure(sink)
            .await
            .map_err(|e| database("creating the version table", e))?;
        let failure = table
            .failures(sink)
            .await
            .map_err(|e| database("reading the failures table", e))?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| {
                Error::Usage(format!("revision {id} has no recorded failure to resume"))
            })?;
        let Some(journal) = failure.journal.clone() else {
            return Err(Error::Usage(format!(
                "revision {id}'s failure was recorded without a statement journal (by a release before it, or for a revision that keeps none), so retort cannot tell which of its statements ran: inspect the database, then `retort resolve {id} --applied` or `--rolled-back`"
            )));
        };
        let entry = self.catalog.get(id).expect("resolved ids exist");
        if !journal.sha256.is_empty() && journal.sha256 != entry.sha256 {
            return Err(Error::Usage(format!(
                "revision {id} changed since the interrupted run: it ran with sha256 {}, and its component now has sha256 {}; resuming needs the revision that ran (restore it), or settle by hand with `retort resolve {id} --applied` or `--rolled-back`",
                journal.sha256, entry.sha256
            )));
        }
        let direction = match failure.direction.as_str() {
            "downgrade" => Direction::Downgrade,
            _ => Direction::Upgrade,
        };
        let mut applied = self.applied(sink).await?;
        self.adopt_legacy_rows(sink, &mut applied).await?;
        let drifts = self.drifts(&applied);
        if !drifts.is_empty() {
            return Err(Error::Drift(drifts));
        }
        let applied: BTreeSet<&str> = applied.iter().map(|r| r.id.as_str()).collect();
        let is_applied = applied.contains(id);
        match direction {
            Direction::Upgrade if is_applied => {
                return Err(Error::Usage(format!(
                    "revision {id} is already in the version table, so its interrupted upgrade cannot be resumed: `retort resolve {id} --applied` settles the record"
                )));
            }
            Direction::Downgrade if !is_applied => {
                return Err(Error::Usage(format!(
                    "revision {id} is not in the version table, so its interrupted downgrade cannot be resumed: `retort resolve {id} --rolled-back` settles the record"
                )));
            }
            _ => {}
        }
        if direction == Direction::Upgrade {
            let missing: Vec<&String> = entry
                .info
                .down_revisions
                .iter()
                .filter(|p| !applied.contains(p.as_str()))
                .collect();
            if !missing.is_empty() {
                return Err(Error::Usage(format!(
                    "revision {id} cannot be resumed: its parent(s) {} are not applied",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let plan = Plan {
            direction,
            steps: vec![id.to_string()],
        };
        self.catalog.prepare(&self.sandbox, &plan.steps).await?;
        self.enter_scope(sink).await?;
        Ok((
            failure,
            Resume {
                skip: journal.statements,
                digest: journal.digest,
            },
            plan,
        ))
    }
}
