//! Property tests over random DAGs: plans respect every parent and
//! `depends-on` link, any walk of upgrades and downgrades can always return to
//! an empty version table, and `heads` are exactly the leaves.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// One generated revision: parent picks, an optional dependency pick, and
/// whether it declares a branch label.
type Shape = (Vec<Index>, Option<Index>, bool);

/// Random DAGs of 1 to 40 revisions: each revision picks up to three parents
/// and maybe one dependency among the revisions before it (so there are
/// bases, branches, merges and cross-branch dependencies), ids unrelated to
/// that order, and the list given to the graph in a shuffled order.
fn dag() -> impl Strategy<Value = Vec<Revision>> {
    let shape = (
        prop::collection::vec(any::<Index>(), 0..=3),
        prop::option::weighted(0.3, any::<Index>()),
        prop::bool::weighted(0.2),
    );
    (
        prop::collection::vec(shape, 1..40),
        any::<u64>(),
        any::<Index>(),
    )
        .prop_map(|(shapes, salt, rotate): (Vec<Shape>, u64, Index)| {
            let id = |i: usize| {
                let mixed = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
                format!("{:04x}{i}", mixed >> 48)
            };
            let mut revisions: Vec<Revision> = shapes
                .iter()
                .enumerate()
                .map(|(i, (parents, dep, label))| {
                    let mut rev = Revision::new(&id(i), &[]);
                    if i > 0 {
                        let mut ps: Vec<usize> = parents.iter().map(|p| p.index(i)).collect();
                        ps.sort_unstable();
                        ps.dedup();
                        rev.down_revisions = ps.iter().map(|&p| id(p)).collect();
                        if let Some(d) = dep {
                            let d = d.index(i);
                            if !ps.contains(&d) {
                                rev.depends_on = vec![id(d)];
                            }
                        }
                    }
                    if *label {
                        rev.branch_labels = vec![format!("label{i}")];
                    }
                    rev
                })
                .collect();
            let at = rotate.index(revisions.len());
            revisions.rotate_left(at);
            revisions
        })
}

/// A target form, picked at random and made concrete for the graph.
fn pick_target(g: &RevisionGraph, kind: u8, which: Index, n: u8) -> Target {
    let ids = g.ordered();
    let id = ids[which.index(ids.len())].to_string();
    let labels = g.labels();
    let label = (!labels.is_empty()).then(|| labels[which.index(labels.len())].0.to_string());
    let n = i64::from(n % 4) + 1;
    match (kind % 10, label) {
        (0, _) => Target::Heads,
        (1, _) => Target::Base,
        (2, _) => Target::Relative(n),
        (3, _) => Target::Relative(-n),
        (4, _) => Target::Offset(id, if n % 2 == 0 { n } else { -n }),
        (5, Some(l)) => Target::BranchHead(l),
        (6, Some(l)) => Target::BranchBase(l),
        (7, Some(l)) => Target::BranchRelative(l, n),
        (8, Some(l)) => Target::BranchRelative(l, -n),
        _ => Target::Revision(id),
    }
}

struct Db<'a> {
    by_id: HashMap<&'a str, &'a Revision>,
    applied: BTreeSet<String>,
}

impl Db<'_> {
    fn requires(&self, id: &str) -> Vec<String> {
        let r = self.by_id[id];
        r.down_revisions
            .iter()
            .chain(&r.depends_on)
            .cloned()
            .collect()
    }

    fn run(&mut self, plan: &Plan) -> Result<(), TestCaseError> {
        for id in &plan.steps {
            match plan.direction {
                Direction::Upgrade => {
                    for req in self.requires(id) {
                        prop_assert!(
                            self.applied.contains(&req),
                            "{id} is applied before {req}, which it requires"
                        );
                    }
                    prop_assert!(self.applied.insert(id.clone()), "{id} applied twice");
                }
                Direction::Downgrade => {
                    prop_assert!(self.applied.remove(id), "{id} reverted but not applied");
                    for other in &self.applied {
                        prop_assert!(
                            !self.requires(other).contains(id),
                            "{id} is reverted while {other}, which requires it, stays"
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn heads_are_the_leaves(revisions in dag()) {
        let g = RevisionGraph::new(revisions.clone()).unwrap();
        let parents: BTreeSet<&str> = revisions
            .iter()
            .flat_map(|r| r.down_revisions.iter().map(String::as_str))
            .collect();
        let leaves: BTreeSet<&str> = revisions
            .iter()
            .map(|r| r.id.as_str())
            .filter(|id| !parents.contains(id))
            .collect();
        let heads: BTreeSet<&str> = g.heads().into_iter().collect();
        prop_assert_eq!(heads, leaves);
        prop_assert!(!g.heads().is_empty());
    }

    #[test]
    fn the_order_respects_every_link(revisions in dag()) {
        let g = RevisionGraph::new(revisions.clone()).unwrap();
        let order = g.ordered();
        let pos: HashMap<&str, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        for r in &revisions {
            for req in r.down_revisions.iter().chain(&r.depends_on) {
                prop_assert!(pos[req.as_str()] < pos[r.id.as_str()]);
            }
        }
    }

    #[test]
    fn any_walk_of_plans_respects_links_and_returns_to_base(
        revisions in dag(),
        moves in prop::collection::vec((any::<u8>(), any::<Index>(), any::<u8>(), any::<bool>()), 1..8),
    ) {
        let g = RevisionGraph::new(revisions.clone()).unwrap();
        let mut db = Db {
            by_id: revisions.iter().map(|r| (r.id.as_str(), r)).collect(),
            applied: BTreeSet::new(),
        };
        for (kind, which, n, downward) in moves {
            let target = pick_target(&g, kind, which, n);
            let plan = if downward {
                g.plan_downgrade(&db.applied, &target)
            } else {
                g.plan_upgrade(&db.applied, &target)
            };
            // Some targets legitimately fail (several heads, too many steps);
            // a failure must leave nothing half-planned.
            if let Ok(plan) = plan {
                db.run(&plan)?;
            }
            // Upgrading to a revision leaves it applied; stamping agrees with the plans.
            if !downward && let Ok(id) = g.resolve_target(&target) {
                let stamp = g.plan_stamp(&db.applied, &target).unwrap();
                prop_assert!(stamp.insert.is_empty(), "{target}: {stamp:?}");
                prop_assert!(db.applied.contains(id));
            }
        }
        let back = g.plan_downgrade(&db.applied, &Target::Base).unwrap();
        prop_assert_eq!(back.steps.len(), db.applied.len());
        db.run(&back)?;
        prop_assert!(db.applied.is_empty());
    }

    #[test]
    fn upgrade_to_a_revision_applies_exactly_its_ancestry(revisions in dag(), which in any::<Index>()) {
        let g = RevisionGraph::new(revisions).unwrap();
        let ids = g.ordered();
        let id = ids[which.index(ids.len())];
        let plan = g.plan_upgrade(&BTreeSet::new(), &Target::Revision(id.to_string())).unwrap();
        let applied: BTreeSet<String> = plan.steps.iter().cloned().collect();
        prop_assert_eq!(applied, g.ancestry(id));
        prop_assert_eq!(plan.steps.last().map(String::as_str), Some(id));
        // Downgrading to it again removes nothing; downgrading to base removes all.
        let again = g.plan_downgrade(&g.ancestry(id), &Target::Revision(id.to_string())).unwrap();
        prop_assert!(again.steps.is_empty());
    }
}
