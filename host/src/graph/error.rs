use thiserror::Error;

/// Why a set of revisions does not form a graph, or a target cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two revisions claim the same id.
    #[error("two revisions have the id {id}: every revision needs a unique id")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A revision names a parent (or dependency) that does not exist.
    #[error(
        "revision {revision} names {missing} as its {relation}, but no revision has that id; add the missing revision or fix the id"
    )]
    MissingParent {
        /// The revision that names it.
        revision: String,
        /// The id that was not found.
        missing: String,
        /// `down-revision` or `depends-on`.
        relation: &'static str,
    },
    /// The parent links loop back on themselves.
    #[error("the revisions {} form a cycle; a revision cannot follow itself", .revisions.join(", "))]
    Cycle {
        /// The revisions on (or behind) the cycle.
        revisions: Vec<String>,
    },
    /// A target string that names nothing.
    #[error("unknown target {target:?}: no revision id starts with it")]
    UnknownRevision {
        /// The target as given.
        target: String,
    },
    /// A prefix shared by several revisions.
    #[error("target {target:?} is ambiguous: it matches {}; give more digits", .matches.join(", "))]
    AmbiguousPrefix {
        /// The prefix as given.
        target: String,
        /// Every id it matches.
        matches: Vec<String>,
    },
    /// `head` (or `label@head`) asked for where there are several heads.
    #[error("target `{target}` is ambiguous: there are {} heads ({}); use `heads`, a branch label (label@head) or name one", .heads.len(), .heads.join(", "))]
    MultipleHeads {
        /// The target as given.
        target: String,
        /// The heads.
        heads: Vec<String>,
    },
    /// Two revisions declare the same branch label.
    #[error(
        "branch label {label:?} is declared by both {first} and {second}; a label names one branch: rename one of them"
    )]
    DuplicateLabel {
        /// The label.
        label: String,
        /// The first revision declaring it.
        first: String,
        /// The second revision declaring it.
        second: String,
    },
    /// A branch label that cannot be used in a target.
    #[error(
        "revision {revision} declares the branch label {label:?}, which {reason}; rename the label"
    )]
    BadLabel {
        /// The revision declaring it.
        revision: String,
        /// The label.
        label: String,
        /// Why it is refused.
        reason: String,
    },
    /// `label@...` names a label no revision declares.
    #[error("no revision declares the branch label {label:?} (known labels: {})", if .known.is_empty() { "none".to_string() } else { .known.join(", ") })]
    UnknownLabel {
        /// The label as given.
        label: String,
        /// Every declared label.
        known: Vec<String>,
    },
    /// `id+N` / `id-N` reached a fork (a branch point or a merge).
    #[error("target {target:?} is ambiguous: {at} has {} {} ({}); name one of them, or use label@+N / label@-N", .candidates.len(), if *.forward { "children" } else { "parents" }, .candidates.join(", "))]
    AmbiguousStep {
        /// The target as given.
        target: String,
        /// Where the walk forked.
        at: String,
        /// True walking to children, false walking to parents.
        forward: bool,
        /// The revisions it could go to.
        candidates: Vec<String>,
    },
    /// A target string that is not of any known form.
    #[error("cannot read target {target:?}: {reason}")]
    BadTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The version table lists revisions that no component provides.
    #[error(
        "the version table lists {}, which no component in the migrations directory provides; restore the missing component(s) or point --migrations at the right directory",
        .ids.join(", ")
    )]
    UnknownApplied {
        /// The unknown ids.
        ids: Vec<String>,
    },
    /// A relative step past the end of the graph.
    #[error("cannot move {requested} step(s) {direction}: only {available} available")]
    NotEnoughSteps {
        /// `up` or `down`.
        direction: &'static str,
        /// Steps asked for.
        requested: usize,
        /// Steps possible.
        available: usize,
    },
    /// A downgrade target that is not applied.
    #[error("cannot downgrade to {revision}: it is not applied (applied: {})", if .applied.is_empty() { "none".to_string() } else { .applied.join(", ") })]
    NotApplied {
        /// The target revision.
        revision: String,
        /// The applied revisions.
        applied: Vec<String>,
    },
}
