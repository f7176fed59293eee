//! The version table's rows against the files: which applied revisions
//! drifted, which have no file, which ran under another interpreter, and
//! which carry the identity an earlier release recorded (rewritten in
//! place, under the lock).

use super::{Drift, Project, database};
use crate::error::Error;
use crate::graph::GraphError;
use crate::runner::AppliedRevision;
use crate::sink::Sink;

/// An applied script whose interpreter differs from the one it ran under:
/// reported, never refused (the script is what the user wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterChange {
    /// The revision id.
    pub id: String,
    /// The digest of the interpreter it ran under.
    pub recorded: String,
    /// The digest of the interpreter that would run it now.
    pub current: String,
}

/// What `verify` found: drifts refuse runs; interpreter changes are news.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Applied revisions whose file changed.
    pub drifts: Vec<Drift>,
    /// Applied scripts that ran under another interpreter.
    pub interpreter_changes: Vec<InterpreterChange>,
    /// Rows that carry an earlier release's identity (the next locked
    /// command rewrites them).
    pub legacy_rows: usize,
}

impl Project {
    /// Whether `row` is a script's row written by an earlier release
    /// (identity over the interpreter too) that still matches its file.
    fn is_legacy(&self, row: &AppliedRevision) -> bool {
        row.interpreter.is_none()
            && self.catalog.get(&row.id).is_some_and(|entry| {
                entry.sha256 != row.sha256
                    && self.catalog.legacy_identity(entry).as_deref() == Some(row.sha256.as_str())
            })
    }

    /// Applied revisions whose file on disk hashes differently now (a
    /// row in an earlier release's identity that matches is not one).
    pub(crate) fn drifts(&self, applied: &[AppliedRevision]) -> Vec<Drift> {
        applied
            .iter()
            .filter_map(|row| {
                let entry = self.catalog.get(&row.id)?;
                (entry.sha256 != row.sha256 && !self.is_legacy(row)).then(|| Drift {
                    id: row.id.clone(),
                    recorded: row.sha256.clone(),
                    current: entry.sha256.clone(),
                    path: entry.path.clone(),
                    applied_by_an_earlier_release: row.interpreter.is_none()
                        && entry.interpreter.is_some(),
                })
            })
            .collect()
    }

    /// Applied scripts whose recorded interpreter is not today's.
    pub(crate) fn interpreter_changes(
        &self,
        applied: &[AppliedRevision],
    ) -> Vec<InterpreterChange> {
        applied
            .iter()
            .filter_map(|row| {
                let entry = self.catalog.get(&row.id)?;
                match (&row.interpreter, &entry.interpreter) {
                    (Some(recorded), Some(current)) if recorded != current => {
                        Some(InterpreterChange {
                            id: row.id.clone(),
                            recorded: recorded.clone(),
                            current: current.clone(),
                        })
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Refuses rows for revisions no file provides, naming them.
    pub(crate) fn require_files(&self, applied: &[AppliedRevision]) -> Result<(), Error> {
        let ids: Vec<String> = applied
            .iter()
            .filter(|row| self.catalog.get(&row.id).is_none())
            .map(|row| row.id.clone())
            .collect();
        if ids.is_empty() {
            Ok(())
        } else {
            Err(Error::Graph(GraphError::UnknownApplied { ids }))
        }
    }

    /// Rewrites every row in an earlier release's identity to today's
    /// (the script's text, its interpreter beside it). Call under the lock.
    pub(crate) async fn adopt_legacy_rows(
        &self,
        sink: &mut Sink,
        applied: &mut [AppliedRevision],
    ) -> Result<(), Error> {
        let table = &self.config.version_table;
        for row in applied.iter_mut() {
            if !self.is_legacy(row) {
                continue;
            }
            let entry = self
                .catalog
                .get(&row.id)
                .expect("a legacy row has its entry");
            let interpreter = entry.interpreter.as_deref().unwrap_or_default();
            table
                .update_identity(sink, &row.id, &entry.sha256, interpreter)
                .await
                .map_err(|e| database("rewriting a script's identity to its text", e))?;
            tracing::info!(
                revision = row.id.as_str(),
                "recorded the script's identity as its text's sha256 (an earlier release hashed its interpreter too)"
            );
            row.sha256 = entry.sha256.clone();
            row.interpreter = entry.interpreter.clone();
        }
        Ok(())
    }

    /// Compares every applied revision's recorded identity with its file
    /// on disk; an applied revision with no file is an error.
    pub async fn verify(&self) -> Result<Verification, Error> {
        let mut sink = self.connect().await?;
        let rows = self.applied(&mut sink).await;
        super::close(sink).await;
        let rows = rows?;
        self.require_files(&rows)?;
        Ok(Verification {
            drifts: self.drifts(&rows),
            interpreter_changes: self.interpreter_changes(&rows),
            legacy_rows: rows.iter().filter(|r| self.is_legacy(r)).count(),
        })
    }
}
