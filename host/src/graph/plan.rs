//! Plans: which revisions to apply or revert, in which order, to move a set
//! of applied revisions to a target.
//!
//! Semantics on a branched graph (documented in the README):
//! - upgrade to a revision applies it and everything it requires, nothing else;
//! - downgrade to a revision reverts what requires it (its descendants and
//!   `depends-on` users), dependents first, and leaves other branches alone;
//! - `+N` takes the first N steps of the plan to `heads`, `-N` reverts the N
//!   applied revisions that come last in topological order;
//! - `label@+N` applies the branch's next N revisions (and what they require
//!   from elsewhere), `label@-N` reverts its N newest applied revisions (and
//!   what requires them).

use std::collections::BTreeSet;

use super::{GraphError, RevisionGraph, Target};

/// Which way a plan moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applying revisions.
    Upgrade,
    /// Reverting revisions.
    Downgrade,
}

/// The ordered revision ids a run will upgrade or downgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Which way.
    pub direction: Direction,
    /// Revision ids in execution order.
    pub steps: Vec<String>,
}

/// The version-table rows `stamp` writes: no revision runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampPlan {
    /// Ids to record as applied, in upgrade order.
    pub insert: Vec<String>,
    /// Ids to record as reverted, in downgrade order.
    pub delete: Vec<String>,
}

impl RevisionGraph {
    /// Every revision that is applied once the database stands at `target`
    /// (the target and all it requires); used for the start of offline ranges.
    pub fn reachable(&self, target: &Target) -> Result<BTreeSet<String>, GraphError> {
        Ok(self
            .plan_upgrade(&BTreeSet::new(), target)?
            .steps
            .into_iter()
            .collect())
    }

    /// The steps that take `applied` to `target`, applying revisions (what a
    /// revision requires before it).
    pub fn plan_upgrade(
        &self,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<Plan, GraphError> {
        let is_applied = self.check_applied(applied)?;
        let (wanted, take) = match target {
            Target::Relative(n) if *n > 0 => (self.head_indices().collect(), Some(*n)),
            Target::BranchRelative(label, n) if *n > 0 => {
                // The branch's next N revisions, with whatever they require.
                let members = self.branch_members(label)?;
                let pending =
                    self.sorted(members.into_iter().filter(|&i| !is_applied[i]).collect());
                let n = n.unsigned_abs() as usize;
                if n > pending.len() {
                    return Err(GraphError::NotEnoughSteps {
                        direction: "up",
                        requested: n,
                        available: pending.len(),
                    });
                }
                (pending[..n].to_vec(), None)
            }
            Target::Relative(_) | Target::BranchRelative(..) => {
                return Err(GraphError::BadTarget {
                    target: target.to_string(),
                    reason: "upgrade takes +N or label@+N; use downgrade for -N".to_string(),
                });
            }
            _ => (self.wanted(target)?, None),
        };
        let needed = self.closure(&wanted, &self.requires);
        let mut steps: Vec<usize> = self
            .order
            .iter()
            .copied()
            .filter(|&i| needed[i] && !is_applied[i])
            .collect();
        if let Some(n) = take {
            let n = n as usize;
            if n > steps.len() {
                return Err(GraphError::NotEnoughSteps {
                    direction: "up",
                    requested: n,
                    available: steps.len(),
                });
            }
            steps.truncate(n);
        }
        Ok(self.plan(Direction::Upgrade, steps))
    }

    /// The steps that take `applied` down to `target`, reverting revisions
    /// (what requires a revision before it).
    pub fn plan_downgrade(
        &self,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<Plan, GraphError> {
        let is_applied = self.check_applied(applied)?;
        // Applied revisions, latest first.
        let newest_first = || self.order.iter().rev().copied().filter(|&i| is_applied[i]);
        let remove: Vec<bool> = match target {
            Target::Base => is_applied.clone(),
            Target::BranchBase(label) => {
                let members = self.branch_members(label)?;
                self.closure(&members, &self.required_by)
            }
            Target::Relative(n) if *n < 0 => {
                let picked = self.pick(newest_first(), *n)?;
                self.closure(&picked, &self.required_by)
            }
            Target::BranchRelative(label, n) if *n < 0 => {
                let members = self.branch_members(label)?;
                let picked = self.pick(newest_first().filter(|i| members.contains(i)), *n)?;
                self.closure(&picked, &self.required_by)
            }
            Target::Revision(_) | Target::Offset(..) | Target::BranchHead(_) => {
                let i = self.single(target)?;
                if !is_applied[i] {
                    return Err(GraphError::NotApplied {
                        revision: self.revisions[i].id.clone(),
                        applied: self.in_order(applied),
                    });
                }
                let mut after = self.closure(&[i], &self.required_by);
                after[i] = false;
                after
            }
            Target::Heads | Target::Head | Target::Relative(_) | Target::BranchRelative(..) => {
                return Err(GraphError::BadTarget {
                    target: target.to_string(),
                    reason: "downgrade takes base, a revision id or label, -N, label@base, label@-N or id-N".to_string(),
                });
            }
        };
        let steps = newest_first().filter(|&i| remove[i]).collect();
        Ok(self.plan(Direction::Downgrade, steps))
    }

    /// The version-table changes that leave `applied` where an upgrade or a
    /// downgrade to `target` would, without running anything: rows for what
    /// the target needs are added, rows for what comes after a revision
    /// target are removed.
    pub fn plan_stamp(
        &self,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<StampPlan, GraphError> {
        let downward =
            matches!(target, Target::Relative(n) | Target::BranchRelative(_, n) if *n < 0);
        let insert = if downward {
            Vec::new()
        } else {
            self.plan_upgrade(applied, target)?.steps
        };
        let delete = match target {
            Target::Heads | Target::Head => Vec::new(),
            Target::Relative(n) | Target::BranchRelative(_, n) if *n > 0 => Vec::new(),
            _ => {
                let mut after = applied.clone();
                after.extend(insert.iter().cloned());
                self.plan_downgrade(&after, target)?.steps
            }
        };
        Ok(StampPlan { insert, delete })
    }

    /// The first `n` (given negative, as in `-N`) of `candidates`.
    fn pick(
        &self,
        candidates: impl Iterator<Item = usize>,
        n: i64,
    ) -> Result<Vec<usize>, GraphError> {
        let candidates: Vec<usize> = candidates.collect();
        let n = n.unsigned_abs() as usize;
        if n > candidates.len() {
            return Err(GraphError::NotEnoughSteps {
                direction: "down",
                requested: n,
                available: candidates.len(),
            });
        }
        Ok(candidates[..n].to_vec())
    }

    fn plan(&self, direction: Direction, steps: Vec<usize>) -> Plan {
        Plan {
            direction,
            steps: steps
                .into_iter()
                .map(|i| self.revisions[i].id.clone())
                .collect(),
        }
    }
}
