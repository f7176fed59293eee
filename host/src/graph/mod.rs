//! The revision graph: a DAG built from each revision's `down-revisions` and
//! `depends-on`, and the plans that move a database from one set of applied
//! revisions to a target. Pure: no wasm, no SQL, no I/O.

mod error;
mod target;

use std::collections::{BTreeSet, HashMap};

pub use error::GraphError;
pub use target::Target;

/// What the graph needs to know about one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The unique id.
    pub id: String,
    /// Parents: none for a base, several for a merge.
    pub down_revisions: Vec<String>,
    /// Revisions that must be applied first without being parents.
    pub depends_on: Vec<String>,
    /// Branch labels.
    pub branch_labels: Vec<String>,
    /// One-line description.
    pub message: String,
}

impl Revision {
    /// A revision with the given id and parents and nothing else (handy in tests).
    pub fn new(id: &str, down_revisions: &[&str]) -> Self {
        Revision {
            id: id.to_string(),
            down_revisions: down_revisions.iter().map(|s| s.to_string()).collect(),
            depends_on: Vec::new(),
            branch_labels: Vec::new(),
            message: String::new(),
        }
    }
}

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

/// A validated revision DAG.
#[derive(Debug, Clone)]
pub struct RevisionGraph {
    revisions: Vec<Revision>,
    index: HashMap<String, usize>,
    /// Parents and dependencies of each revision, as indices.
    requires: Vec<Vec<usize>>,
    /// Revisions that list each revision as a parent.
    children: Vec<Vec<usize>>,
    /// Position of each revision in a deterministic topological order.
    rank: Vec<usize>,
}

impl RevisionGraph {
    /// Builds the graph; fails on duplicate ids, missing parents and cycles.
    pub fn new(revisions: Vec<Revision>) -> Result<Self, GraphError> {
        let mut index = HashMap::with_capacity(revisions.len());
        for (i, rev) in revisions.iter().enumerate() {
            if index.insert(rev.id.clone(), i).is_some() {
                return Err(GraphError::DuplicateId { id: rev.id.clone() });
            }
        }
        let mut requires = vec![Vec::new(); revisions.len()];
        let mut children = vec![Vec::new(); revisions.len()];
        for (i, rev) in revisions.iter().enumerate() {
            let links = rev
                .down_revisions
                .iter()
                .map(|p| (p, "down-revision"))
                .chain(rev.depends_on.iter().map(|d| (d, "depends-on")));
            for (other, relation) in links {
                let &j = index.get(other).ok_or_else(|| GraphError::MissingParent {
                    revision: rev.id.clone(),
                    missing: other.clone(),
                    relation,
                })?;
                if !requires[i].contains(&j) {
                    requires[i].push(j);
                }
                if relation == "down-revision" {
                    children[j].push(i);
                }
            }
        }
        let rank = topological_rank(&revisions, &requires)?;
        Ok(RevisionGraph {
            revisions,
            index,
            requires,
            children,
            rank,
        })
    }

    /// Every revision, in the order given to [`RevisionGraph::new`].
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The revision with exactly this id.
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    /// Revision ids in topological order (parents first, ties by id).
    pub fn ordered(&self) -> Vec<&str> {
        let mut order: Vec<usize> = (0..self.revisions.len()).collect();
        order.sort_by_key(|&i| self.rank[i]);
        order
            .into_iter()
            .map(|i| self.revisions[i].id.as_str())
            .collect()
    }

    /// Revisions that no other revision follows, in topological order.
    pub fn heads(&self) -> Vec<&str> {
        self.ordered()
            .into_iter()
            .filter(|id| self.children[self.index[*id]].is_empty())
            .collect()
    }

    /// The ids of `applied` that no other applied revision follows.
    pub fn applied_heads<'a>(&'a self, applied: &BTreeSet<String>) -> Vec<&'a str> {
        self.ordered()
            .into_iter()
            .filter(|id| applied.contains(*id))
            .filter(|id| {
                !self.children[self.index[*id]]
                    .iter()
                    .any(|&c| applied.contains(&self.revisions[c].id))
            })
            .collect()
    }

    /// Resolves a full id or a unique prefix.
    pub fn resolve(&self, prefix: &str) -> Result<&str, GraphError> {
        if let Some(&i) = self.index.get(prefix) {
            return Ok(&self.revisions[i].id);
        }
        let mut matches: Vec<&str> = self
            .revisions
            .iter()
            .map(|r| r.id.as_str())
            .filter(|id| id.starts_with(prefix))
            .collect();
        matches.sort_unstable();
        match matches.len() {
            0 => Err(GraphError::UnknownRevision {
                target: prefix.to_string(),
            }),
            1 => Ok(matches[0]),
            _ => Err(GraphError::AmbiguousPrefix {
                target: prefix.to_string(),
                matches: matches.into_iter().map(str::to_string).collect(),
            }),
        }
    }

    /// The revision and everything it requires, transitively, as ids.
    pub fn ancestry(&self, id: &str) -> BTreeSet<String> {
        let Some(&start) = self.index.get(id) else {
            return BTreeSet::new();
        };
        let mut seen = vec![false; self.revisions.len()];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&self.requires[i]);
            }
        }
        self.ids_where(&seen)
    }

    /// Every revision that is applied once the database stands at `target`
    /// (the target and all it requires); used for the start of offline ranges.
    pub fn reachable(&self, target: &Target) -> Result<BTreeSet<String>, GraphError> {
        Ok(self
            .plan_upgrade(&BTreeSet::new(), target)?
            .steps
            .into_iter()
            .collect())
    }

    /// The steps that take `applied` to `target`, applying revisions.
    pub fn plan_upgrade(
        &self,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<Plan, GraphError> {
        self.check_applied(applied)?;
        let wanted: Vec<String> = match target {
            Target::Heads => self.heads().into_iter().map(str::to_string).collect(),
            Target::Head => vec![self.single_head()?.to_string()],
            Target::Base => Vec::new(),
            Target::Revision(prefix) => vec![self.resolve(prefix)?.to_string()],
            Target::Relative(n) if *n > 0 => {
                let all = self.plan_upgrade(applied, &Target::Heads)?.steps;
                let n = *n as usize;
                if n > all.len() {
                    return Err(GraphError::NotEnoughSteps {
                        direction: "up",
                        requested: n,
                        available: all.len(),
                    });
                }
                return Ok(upgrade(all.into_iter().take(n).collect()));
            }
            Target::Relative(_) => {
                return Err(GraphError::BadTarget {
                    target: target.to_string(),
                    reason: "upgrade takes +N; use downgrade for -N".to_string(),
                });
            }
        };
        let mut needed = BTreeSet::new();
        for id in &wanted {
            needed.extend(self.ancestry(id));
        }
        let mut steps: Vec<&String> = needed.iter().filter(|id| !applied.contains(*id)).collect();
        steps.sort_by_key(|id| self.rank[self.index[id.as_str()]]);
        Ok(upgrade(steps.into_iter().cloned().collect()))
    }

    /// The steps that take `applied` down to `target`, reverting revisions
    /// (dependents before what they depend on).
    pub fn plan_downgrade(
        &self,
        applied: &BTreeSet<String>,
        target: &Target,
    ) -> Result<Plan, GraphError> {
        self.check_applied(applied)?;
        let mut removable: Vec<&String> = applied.iter().collect();
        removable.sort_by_key(|id| std::cmp::Reverse(self.rank[self.index[id.as_str()]]));
        let keep = match target {
            Target::Base => BTreeSet::new(),
            Target::Revision(prefix) => {
                let id = self.resolve(prefix)?;
                if !applied.contains(id) {
                    return Err(GraphError::NotApplied {
                        revision: id.to_string(),
                        applied: self.in_order(applied),
                    });
                }
                self.ancestry(id)
            }
            Target::Relative(n) if *n < 0 => {
                let n = n.unsigned_abs() as usize;
                if n > removable.len() {
                    return Err(GraphError::NotEnoughSteps {
                        direction: "down",
                        requested: n,
                        available: removable.len(),
                    });
                }
                return Ok(downgrade(removable.into_iter().take(n).cloned().collect()));
            }
            Target::Heads | Target::Head | Target::Relative(_) => {
                return Err(GraphError::BadTarget {
                    target: target.to_string(),
                    reason: "downgrade takes base, a revision id or -N".to_string(),
                });
            }
        };
        Ok(downgrade(
            removable
                .into_iter()
                .filter(|id| !keep.contains(*id))
                .cloned()
                .collect(),
        ))
    }

    /// `ids` sorted in topological order.
    pub fn in_order(&self, ids: &BTreeSet<String>) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().cloned().collect();
        v.sort_by_key(|id| self.index.get(id).map_or(usize::MAX, |&i| self.rank[i]));
        v
    }

    fn single_head(&self) -> Result<&str, GraphError> {
        match self.heads().as_slice() {
            [] => Err(GraphError::BadTarget {
                target: "head".to_string(),
                reason: "there are no revisions".to_string(),
            }),
            [one] => Ok(one),
            many => Err(GraphError::MultipleHeads {
                heads: many.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    fn check_applied(&self, applied: &BTreeSet<String>) -> Result<(), GraphError> {
        let unknown: Vec<String> = applied
            .iter()
            .filter(|id| !self.index.contains_key(*id))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(GraphError::UnknownApplied { ids: unknown })
        }
    }

    fn ids_where(&self, flags: &[bool]) -> BTreeSet<String> {
        flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| self.revisions[i].id.clone())
            .collect()
    }
}

fn upgrade(steps: Vec<String>) -> Plan {
    Plan {
        direction: Direction::Upgrade,
        steps,
    }
}

fn downgrade(steps: Vec<String>) -> Plan {
    Plan {
        direction: Direction::Downgrade,
        steps,
    }
}

/// Kahn's algorithm, taking ready revisions by id so the order is stable
/// whatever order the files were read in.
fn topological_rank(
    revisions: &[Revision],
    requires: &[Vec<usize>],
) -> Result<Vec<usize>, GraphError> {
    let n = revisions.len();
    let mut pending: Vec<usize> = requires.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, reqs) in requires.iter().enumerate() {
        for &r in reqs {
            dependents[r].push(i);
        }
    }
    let mut ready: BTreeSet<(&str, usize)> = (0..n)
        .filter(|&i| pending[i] == 0)
        .map(|i| (revisions[i].id.as_str(), i))
        .collect();
    let mut rank = vec![usize::MAX; n];
    let mut next = 0;
    while let Some((_, i)) = ready.pop_first() {
        rank[i] = next;
        next += 1;
        for &d in &dependents[i] {
            pending[d] -= 1;
            if pending[d] == 0 {
                ready.insert((revisions[d].id.as_str(), d));
            }
        }
    }
    if next < n {
        let mut stuck: Vec<String> = (0..n)
            .filter(|&i| rank[i] == usize::MAX)
            .map(|i| revisions[i].id.clone())
            .collect();
        stuck.sort();
        return Err(GraphError::Cycle { revisions: stuck });
    }
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> RevisionGraph {
        RevisionGraph::new(vec![
            Revision::new("c3", &["b2"]),
            Revision::new("a1", &[]),
            Revision::new("d4", &["c3"]),
            Revision::new("b2", &["a1"]),
        ])
        .unwrap()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn orders_parents_first_whatever_the_input_order() {
        let g = chain();
        assert_eq!(g.ordered(), vec!["a1", "b2", "c3", "d4"]);
        assert_eq!(g.heads(), vec!["d4"]);
    }

    #[test]
    fn upgrade_plans() {
        let g = chain();
        let none = set(&[]);
        assert_eq!(
            g.plan_upgrade(&none, &t("heads")).unwrap().steps,
            ["a1", "b2", "c3", "d4"]
        );
        assert_eq!(
            g.plan_upgrade(&none, &t("head")).unwrap().steps,
            ["a1", "b2", "c3", "d4"]
        );
        assert_eq!(g.plan_upgrade(&none, &t("b")).unwrap().steps, ["a1", "b2"]);
        assert_eq!(
            g.plan_upgrade(&set(&["a1", "b2"]), &t("heads"))
                .unwrap()
                .steps,
            ["c3", "d4"]
        );
        assert_eq!(
            g.plan_upgrade(&set(&["a1"]), &t("+2")).unwrap().steps,
            ["b2", "c3"]
        );
        assert!(g.plan_upgrade(&none, &t("base")).unwrap().steps.is_empty());
        let all = set(&["a1", "b2", "c3", "d4"]);
        assert!(g.plan_upgrade(&all, &t("heads")).unwrap().steps.is_empty());
        assert!(matches!(
            g.plan_upgrade(&all, &t("+1")),
            Err(GraphError::NotEnoughSteps { available: 0, .. })
        ));
        assert!(matches!(
            g.plan_upgrade(&none, &t("-1")),
            Err(GraphError::BadTarget { .. })
        ));
    }

    #[test]
    fn downgrade_plans() {
        let g = chain();
        let all = set(&["a1", "b2", "c3", "d4"]);
        assert_eq!(
            g.plan_downgrade(&all, &t("base")).unwrap().steps,
            ["d4", "c3", "b2", "a1"]
        );
        assert_eq!(
            g.plan_downgrade(&all, &t("b2")).unwrap().steps,
            ["d4", "c3"]
        );
        assert_eq!(g.plan_downgrade(&all, &t("-1")).unwrap().steps, ["d4"]);
        assert!(matches!(
            g.plan_downgrade(&set(&["a1"]), &t("-2")),
            Err(GraphError::NotEnoughSteps {
                requested: 2,
                available: 1,
                ..
            })
        ));
        assert!(matches!(
            g.plan_downgrade(&set(&["a1"]), &t("c3")),
            Err(GraphError::NotApplied { .. })
        ));
        assert!(matches!(
            g.plan_downgrade(&all, &t("heads")),
            Err(GraphError::BadTarget { .. })
        ));
    }

    #[test]
    fn branches_and_merges() {
        let g = RevisionGraph::new(vec![
            Revision::new("base", &[]),
            Revision::new("left", &["base"]),
            Revision::new("right", &["base"]),
            Revision::new("merge", &["left", "right"]),
            Revision::new("other", &["base"]),
        ])
        .unwrap();
        assert_eq!(g.heads(), vec!["other", "merge"]);
        assert!(matches!(
            g.plan_upgrade(&set(&[]), &t("head")),
            Err(GraphError::MultipleHeads { .. })
        ));
        assert_eq!(
            g.plan_upgrade(&set(&[]), &t("merge")).unwrap().steps,
            ["base", "left", "right", "merge"]
        );
        let applied = set(&["base", "left", "right", "merge", "other"]);
        assert_eq!(g.applied_heads(&applied), vec!["other", "merge"]);
        assert_eq!(
            g.plan_downgrade(&applied, &t("left")).unwrap().steps,
            ["merge", "right", "other"]
        );
    }

    #[test]
    fn depends_on_is_applied_first() {
        let mut needs = Revision::new("b", &[]);
        needs.depends_on = vec!["a".into()];
        let g = RevisionGraph::new(vec![needs, Revision::new("a", &[])]).unwrap();
        assert_eq!(
            g.plan_upgrade(&set(&[]), &t("b")).unwrap().steps,
            ["a", "b"]
        );
        assert_eq!(
            g.plan_downgrade(&set(&["a", "b"]), &t("base"))
                .unwrap()
                .steps,
            ["b", "a"]
        );
    }

    #[test]
    fn bad_graphs_are_named() {
        let dup = RevisionGraph::new(vec![Revision::new("a", &[]), Revision::new("a", &[])]);
        assert_eq!(dup.unwrap_err(), GraphError::DuplicateId { id: "a".into() });
        let missing = RevisionGraph::new(vec![Revision::new("b", &["zz"])]).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("revision b names zz as its down-revision"),
            "{missing}"
        );
        let cycle = RevisionGraph::new(vec![
            Revision::new("a", &["c"]),
            Revision::new("b", &["a"]),
            Revision::new("c", &["b"]),
            Revision::new("x", &[]),
        ])
        .unwrap_err();
        assert_eq!(
            cycle,
            GraphError::Cycle {
                revisions: vec!["a".into(), "b".into(), "c".into()]
            }
        );
    }

    #[test]
    fn prefixes_and_unknown_ids() {
        let g = RevisionGraph::new(vec![
            Revision::new("ab12", &[]),
            Revision::new("ab34", &["ab12"]),
        ])
        .unwrap();
        assert_eq!(g.resolve("ab3").unwrap(), "ab34");
        let err = g.resolve("ab").unwrap_err();
        assert!(err.to_string().contains("matches ab12, ab34"), "{err}");
        assert!(matches!(
            g.resolve("zz"),
            Err(GraphError::UnknownRevision { .. })
        ));
        assert!(matches!(
            g.plan_upgrade(&set(&["gone"]), &t("heads")),
            Err(GraphError::UnknownApplied { .. })
        ));
    }
}
