//! The revision graph: a DAG built from each revision's `down-revisions` and
//! `depends-on`, its branch labels, and the plans that move a database from
//! one set of applied revisions to a target. Pure: no wasm, no SQL, no I/O.
//!
//! Vocabulary (as in Alembic):
//! - a revision's **parents** are its down-revisions; a **base** has none, a
//!   **merge** has several; a **branch point** has several children;
//! - a **head** is a revision that no revision names as a parent
//!   (`depends-on` links do not make heads);
//! - a revision **requires** its parents and its `depends-on` revisions: they
//!   are applied before it and reverted after it;
//! - a **branch label** declared by revision R names the branch made of R and
//!   every revision descended from R through parent links.

mod error;
mod plan;
mod target;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

pub use error::GraphError;
pub use plan::{Direction, Plan, StampPlan};
pub use target::Target;

/// Words with a meaning of their own in targets, which a label cannot take.
const RESERVED: [&str; 4] = ["heads", "head", "base", "current"];

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

    /// The same revision with these branch labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.branch_labels = labels.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The same revision with these `depends-on` revisions.
    pub fn depends(mut self, on: &[&str]) -> Self {
        self.depends_on = on.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// A validated revision DAG.
#[derive(Debug, Clone)]
pub struct RevisionGraph {
    revisions: Vec<Revision>,
    index: HashMap<String, usize>,
    /// Branch label → the revision declaring it.
    labels: HashMap<String, usize>,
    /// Parents (down-revisions) of each revision.
    parents: Vec<Vec<usize>>,
    /// Revisions that name each revision as a parent.
    children: Vec<Vec<usize>>,
    /// Parents and dependencies of each revision.
    requires: Vec<Vec<usize>>,
    /// Revisions that require each revision (children and `depends-on` users).
    required_by: Vec<Vec<usize>>,
    /// Position of each revision in a deterministic topological order.
    rank: Vec<usize>,
    /// Revision indices in that order.
    order: Vec<usize>,
}

impl RevisionGraph {
    /// Builds the graph; fails on duplicate ids, missing parents or
    /// dependencies, cycles, and duplicate or unusable branch labels.
    pub fn new(revisions: Vec<Revision>) -> Result<Self, GraphError> {
        let n = revisions.len();
        let mut index = HashMap::with_capacity(n);
        for (i, rev) in revisions.iter().enumerate() {
            if index.insert(rev.id.clone(), i).is_some() {
                return Err(GraphError::DuplicateId { id: rev.id.clone() });
            }
        }
        let labels = collect_labels(&revisions, &index)?;
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        let mut requires = vec![Vec::new(); n];
        let mut required_by = vec![Vec::new(); n];
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
                if relation == "down-revision" && !parents[i].contains(&j) {
                    parents[i].push(j);
                    children[j].push(i);
                }
                if !requires[i].contains(&j) {
                    requires[i].push(j);
                    required_by[j].push(i);
                }
            }
        }
        let rank = topological_rank(&revisions, &requires, &required_by)?;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| rank[i]);
        Ok(RevisionGraph {
            revisions,
            index,
            labels,
            parents,
            children,
            requires,
            required_by,
            rank,
            order,
        })
    }

    /// A graph without revisions.
    pub fn empty() -> Self {
        RevisionGraph {
            revisions: Vec::new(),
            index: HashMap::new(),
            labels: HashMap::new(),
            parents: Vec::new(),
            children: Vec::new(),
            requires: Vec::new(),
            required_by: Vec::new(),
            rank: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Every revision, in the order given to [`RevisionGraph::new`].
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// How many revisions there are.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// Whether there are no revisions at all.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The revision with exactly this id.
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    /// Revision ids in topological order (what a revision requires comes
    /// first; ties are broken by id, so the order never depends on file order).
    pub fn ordered(&self) -> Vec<&str> {
        self.ids(self.order.iter().copied())
    }

    /// Revisions that no revision names as a parent, in topological order.
    pub fn heads(&self) -> Vec<&str> {
        self.ids(self.head_indices())
    }

    /// Revisions without parents, in topological order.
    pub fn bases(&self) -> Vec<&str> {
        self.ids(
            self.order
                .iter()
                .copied()
                .filter(|&i| self.parents[i].is_empty()),
        )
    }

    /// Revisions with more than one child, in topological order.
    pub fn branch_points(&self) -> Vec<&str> {
        self.ids(
            self.order
                .iter()
                .copied()
                .filter(|&i| self.children[i].len() > 1),
        )
    }

    /// The revisions that name `id` as a parent, in topological order.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.related(id, &self.children)
    }

    /// The revisions that list `id` in their `depends-on`, in topological order.
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        let mut v: Vec<usize> = self.required_by[i]
            .iter()
            .copied()
            .filter(|c| !self.children[i].contains(c))
            .collect();
        v.sort_by_key(|&j| self.rank[j]);
        self.ids(v)
    }

    /// Every branch label with the revision that declares it, sorted by label.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(label, &i)| (label.as_str(), self.revisions[i].id.as_str()))
            .collect();
        v.sort_unstable();
        v
    }

    /// The labels of every branch `id` belongs to (its own and those of the
    /// revisions it descends from), sorted.
    pub fn branches_of(&self, id: &str) -> Vec<&str> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        let ancestors = self.closure(&[i], &self.parents);
        let mut v: Vec<&str> = self
            .labels
            .iter()
            .filter(|&(_, &root)| ancestors[root])
            .map(|(label, _)| label.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// The revisions of the branch `label`: the revision declaring it and
    /// every descendant, in topological order.
    pub fn branch(&self, label: &str) -> Result<Vec<&str>, GraphError> {
        let members = self.branch_members(label)?;
        Ok(self.ids(self.sorted(members)))
    }

    /// The ids of `applied` that no other applied revision follows.
    pub fn applied_heads<'a>(&'a self, applied: &BTreeSet<String>) -> Vec<&'a str> {
        self.ids(self.order.iter().copied().filter(|&i| {
            applied.contains(&self.revisions[i].id)
                && !self.children[i]
                    .iter()
                    .any(|&c| applied.contains(&self.revisions[c].id))
        }))
    }

    /// Resolves a full id, then a branch label (to the revision declaring
    /// it), then a unique id prefix.
    pub fn resolve(&self, text: &str) -> Result<&str, GraphError> {
        self.resolve_index(text)
            .map(|i| self.revisions[i].id.as_str())
    }

    /// The one revision a target names: `head`, an id, label or prefix,
    /// `label@head` or `id±N`. Other targets name no single revision.
    pub fn resolve_target(&self, target: &Target) -> Result<&str, GraphError> {
        self.single(target).map(|i| self.revisions[i].id.as_str())
    }

    /// The revisions a target names, for commands that take several
    /// (`merge`, `revision --head`): `heads` is every head, `base` none.
    pub fn resolve_all(&self, target: &Target) -> Result<Vec<&str>, GraphError> {
        Ok(match target {
            Target::Heads => self.heads(),
            Target::Base => Vec::new(),
            _ => vec![self.resolve_target(target)?],
        })
    }

    /// The revision and everything it requires, transitively, as ids.
    pub fn ancestry(&self, id: &str) -> BTreeSet<String> {
        match self.index.get(id) {
            Some(&i) => self.id_set(&self.closure(&[i], &self.requires)),
            None => BTreeSet::new(),
        }
    }

    /// Whether `ancestor` is `id` itself or something `id` requires, transitively.
    pub fn requires(&self, id: &str, ancestor: &str) -> bool {
        match (self.index.get(id), self.index.get(ancestor)) {
            (Some(&i), Some(&a)) => self.closure(&[i], &self.requires)[a],
            _ => false,
        }
    }

    /// Whether `ancestor` is `id` itself or one of its ancestors through
    /// parent links only (`depends-on` does not count).
    pub fn descends_from_id(&self, id: &str, ancestor: &str) -> bool {
        match (self.index.get(id), self.index.get(ancestor)) {
            (Some(&i), Some(&a)) => self.descends_from(i, a),
            _ => false,
        }
    }

    /// The revisions shown by `history -r FROM:TO`, newest first: those that
    /// `to` needs (every revision when `None`) and that are `from` or come
    /// after it (no limit when `None`). Both ends are absolute targets.
    pub fn range(
        &self,
        from: Option<&Target>,
        to: Option<&Target>,
    ) -> Result<Vec<&str>, GraphError> {
        let mut keep = vec![true; self.len()];
        if let Some(to) = to {
            let wanted = self.wanted(to)?;
            keep = self.closure(&wanted, &self.requires);
        }
        if let Some(from) = from {
            let start = self.wanted(from)?;
            let after = self.closure(&start, &self.required_by);
            keep.iter_mut().zip(after).for_each(|(k, a)| *k &= a);
        }
        Ok(self.ids(self.order.iter().rev().copied().filter(|&i| keep[i])))
    }

    /// `ids` sorted in topological order (unknown ids last).
    pub fn in_order(&self, ids: &BTreeSet<String>) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().cloned().collect();
        v.sort_by_key(|id| self.index.get(id).map_or(usize::MAX, |&i| self.rank[i]));
        v
    }

    // ---- internals shared with plan.rs ----

    fn ids(&self, indices: impl IntoIterator<Item = usize>) -> Vec<&str> {
        indices
            .into_iter()
            .map(|i| self.revisions[i].id.as_str())
            .collect()
    }

    fn id_set(&self, flags: &[bool]) -> BTreeSet<String> {
        flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| self.revisions[i].id.clone())
            .collect()
    }

    fn related(&self, id: &str, links: &[Vec<usize>]) -> Vec<&str> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        self.ids(self.sorted(links[i].clone()))
    }

    fn sorted(&self, mut indices: Vec<usize>) -> Vec<usize> {
        indices.sort_by_key(|&i| self.rank[i]);
        indices
    }

    fn head_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.children[i].is_empty())
    }

    /// Everything reachable from `start` through `links`, `start` included.
    fn closure(&self, start: &[usize], links: &[Vec<usize>]) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack = start.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&links[i]);
            }
        }
        seen
    }

    fn descends_from(&self, i: usize, root: usize) -> bool {
        self.closure(&[i], &self.parents)[root]
    }

    fn resolve_index(&self, text: &str) -> Result<usize, GraphError> {
        if let Some(&i) = self.index.get(text) {
            return Ok(i);
        }
        if let Some(&i) = self.labels.get(text) {
            return Ok(i);
        }
        let mut matches: Vec<&str> = self
            .revisions
            .iter()
            .map(|r| r.id.as_str())
            .filter(|id| id.starts_with(text))
            .collect();
        matches.sort_unstable();
        match matches.as_slice() {
            [] => Err(GraphError::UnknownRevision {
                target: text.to_string(),
            }),
            [one] => Ok(self.index[*one]),
            _ => Err(GraphError::AmbiguousPrefix {
                target: text.to_string(),
                matches: matches.into_iter().map(str::to_string).collect(),
            }),
        }
    }

    fn label_root(&self, label: &str) -> Result<usize, GraphError> {
        self.labels
            .get(label)
            .copied()
            .ok_or_else(|| GraphError::UnknownLabel {
                label: label.to_string(),
                known: self
                    .labels()
                    .into_iter()
                    .map(|(l, _)| l.to_string())
                    .collect(),
            })
    }

    fn branch_members(&self, label: &str) -> Result<Vec<usize>, GraphError> {
        let root = self.label_root(label)?;
        let flags = self.closure(&[root], &self.children);
        Ok((0..self.len()).filter(|&i| flags[i]).collect())
    }

    fn branch_heads(&self, label: &str) -> Result<Vec<usize>, GraphError> {
        let members = self.branch_members(label)?;
        Ok(self.sorted(
            members
                .into_iter()
                .filter(|&i| self.children[i].is_empty())
                .collect(),
        ))
    }

    fn one_head(&self, heads: Vec<usize>, target: &Target) -> Result<usize, GraphError> {
        match heads.as_slice() {
            [] => Err(GraphError::BadTarget {
                target: target.to_string(),
                reason: "there are no revisions".to_string(),
            }),
            [one] => Ok(*one),
            _ => Err(GraphError::MultipleHeads {
                target: target.to_string(),
                heads: self.ids(heads).into_iter().map(str::to_string).collect(),
            }),
        }
    }

    /// The one revision a target names.
    fn single(&self, target: &Target) -> Result<usize, GraphError> {
        match target {
            Target::Head => self.one_head(self.head_indices().collect(), target),
            Target::Revision(text) => self.resolve_index(text),
            Target::BranchHead(label) => self.one_head(self.branch_heads(label)?, target),
            Target::Offset(id, n) => self.resolve_offset(target, id, *n),
            _ => Err(GraphError::BadTarget {
                target: target.to_string(),
                reason: "it does not name one revision; use head, label@head, an id, a branch label or id±N".to_string(),
            }),
        }
    }

    /// `id+N` / `id-N`: walks N parent links down or child links up.
    fn resolve_offset(&self, target: &Target, id: &str, n: i64) -> Result<usize, GraphError> {
        // An id may itself end in `-N`: the whole text as an id wins.
        if let Some(&i) = self.index.get(&target.to_string()) {
            return Ok(i);
        }
        let mut at = self.resolve_index(id)?;
        let forward = n > 0;
        let requested = n.unsigned_abs() as usize;
        for taken in 0..requested {
            let next = if forward {
                &self.children[at]
            } else {
                &self.parents[at]
            };
            match next.as_slice() {
                [one] => at = *one,
                [] => {
                    return Err(GraphError::NotEnoughSteps {
                        direction: if forward { "up" } else { "down" },
                        requested,
                        available: taken,
                    });
                }
                many => {
                    return Err(GraphError::AmbiguousStep {
                        target: target.to_string(),
                        at: self.revisions[at].id.clone(),
                        forward,
                        candidates: self
                            .ids(self.sorted(many.to_vec()))
                            .into_iter()
                            .map(str::to_string)
                            .collect(),
                    });
                }
            }
        }
        Ok(at)
    }

    /// The revisions that must be applied for the database to stand at an
    /// absolute target (with everything they require).
    fn wanted(&self, target: &Target) -> Result<Vec<usize>, GraphError> {
        match target {
            Target::Heads => Ok(self.head_indices().collect()),
            Target::Base => Ok(Vec::new()),
            Target::BranchBase(label) => Ok(self.requires[self.label_root(label)?].clone()),
            Target::Relative(_) | Target::BranchRelative(..) => Err(GraphError::BadTarget {
                target: target.to_string(),
                reason: "a relative move needs a starting point; use an absolute target here"
                    .to_string(),
            }),
            _ => Ok(vec![self.single(target)?]),
        }
    }

    fn check_applied(&self, applied: &BTreeSet<String>) -> Result<Vec<bool>, GraphError> {
        let mut flags = vec![false; self.len()];
        let mut unknown = Vec::new();
        for id in applied {
            match self.index.get(id) {
                Some(&i) => flags[i] = true,
                None => unknown.push(id.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(flags)
        } else {
            Err(GraphError::UnknownApplied { ids: unknown })
        }
    }
}

/// Checks every branch label and maps it to the revision declaring it.
fn collect_labels(
    revisions: &[Revision],
    index: &HashMap<String, usize>,
) -> Result<HashMap<String, usize>, GraphError> {
    let mut labels: HashMap<String, usize> = HashMap::new();
    for (i, rev) in revisions.iter().enumerate() {
        for label in &rev.branch_labels {
            let bad = |reason: &str| GraphError::BadLabel {
                revision: rev.id.clone(),
                label: label.clone(),
                reason: reason.to_string(),
            };
            if !target::is_name(label) {
                return Err(bad("is not 1-64 letters, digits, `_` or `-`"));
            }
            if RESERVED.contains(&label.as_str()) {
                return Err(bad(
                    "is a reserved word in targets (heads, head, base, current)",
                ));
            }
            if let Some(&other) = index.get(label) {
                return Err(bad(&format!(
                    "is also the id of revision {}",
                    revisions[other].id
                )));
            }
            if let Some(&first) = labels.get(label)
                && first != i
            {
                return Err(GraphError::DuplicateLabel {
                    label: label.clone(),
                    first: revisions[first].id.clone(),
                    second: rev.id.clone(),
                });
            }
            labels.insert(label.clone(), i);
        }
    }
    Ok(labels)
}

/// Kahn's algorithm, taking ready revisions by id so the order is stable
/// whatever order the files were read in.
fn topological_rank(
    revisions: &[Revision],
    requires: &[Vec<usize>],
    required_by: &[Vec<usize>],
) -> Result<Vec<usize>, GraphError> {
    let n = revisions.len();
    let mut pending: Vec<usize> = requires.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<(&str, usize)> = (0..n)
        .filter(|&i| pending[i] == 0)
        .map(|i| (revisions[i].id.as_str(), i))
        .collect();
    let mut rank = vec![usize::MAX; n];
    let mut next = 0;
    while let Some((_, i)) = ready.pop_first() {
        rank[i] = next;
        next += 1;
        for &d in &required_by[i] {
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
