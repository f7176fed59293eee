//! Unit tests from literal revision lists, one per target form and error.

use std::collections::BTreeSet;

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

/// base ─┬─ a1 (auth) ─ a2 ─────────────┬─ m (merge)
///       └─ b1 (billing) ─ b2 (needs a1) ┘
/// plus a second base x (extra) with no relation to the rest.
fn branched() -> RevisionGraph {
    RevisionGraph::new(vec![
        Revision::new("m", &["a2", "b2"]),
        Revision::new("base", &[]).labels(&[]),
        Revision::new("a1", &["base"]).labels(&["auth"]),
        Revision::new("a2", &["a1"]),
        Revision::new("b1", &["base"]).labels(&["billing"]),
        Revision::new("b2", &["b1"]).depends(&["a1"]),
        Revision::new("x", &[]).labels(&["extra"]),
    ])
    .unwrap_or_else(|e| panic!("{e}"))
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn up(g: &RevisionGraph, applied: &[&str], target: &str) -> Vec<String> {
    g.plan_upgrade(&set(applied), &t(target))
        .unwrap_or_else(|e| panic!("upgrade {target}: {e}"))
        .steps
}

fn down(g: &RevisionGraph, applied: &[&str], target: &str) -> Vec<String> {
    g.plan_downgrade(&set(applied), &t(target))
        .unwrap_or_else(|e| panic!("downgrade {target}: {e}"))
        .steps
}

const ALL: [&str; 7] = ["base", "a1", "a2", "b1", "b2", "m", "x"];

#[test]
fn orders_parents_first_whatever_the_input_order() {
    let g = chain();
    assert_eq!(g.ordered(), vec!["a1", "b2", "c3", "d4"]);
    assert_eq!(g.heads(), vec!["d4"]);
    assert_eq!(g.bases(), vec!["a1"]);
}

#[test]
fn upgrade_plans_on_a_chain() {
    let g = chain();
    assert_eq!(up(&g, &[], "heads"), ["a1", "b2", "c3", "d4"]);
    assert_eq!(up(&g, &[], "head"), ["a1", "b2", "c3", "d4"]);
    assert_eq!(up(&g, &[], "b"), ["a1", "b2"]);
    assert_eq!(up(&g, &["a1", "b2"], "heads"), ["c3", "d4"]);
    assert_eq!(up(&g, &["a1"], "+2"), ["b2", "c3"]);
    assert_eq!(up(&g, &[], "a1+2"), ["a1", "b2", "c3"]);
    assert_eq!(up(&g, &[], "d4-3"), ["a1"]);
    assert!(up(&g, &[], "base").is_empty());
    let all = set(&["a1", "b2", "c3", "d4"]);
    assert!(g.plan_upgrade(&all, &t("heads")).unwrap().steps.is_empty());
    assert!(matches!(
        g.plan_upgrade(&all, &t("+1")),
        Err(GraphError::NotEnoughSteps { available: 0, .. })
    ));
    assert!(matches!(
        g.plan_upgrade(&set(&[]), &t("-1")),
        Err(GraphError::BadTarget { .. })
    ));
    assert!(matches!(
        g.plan_upgrade(&set(&[]), &t("a1+4")),
        Err(GraphError::NotEnoughSteps {
            direction: "up",
            requested: 4,
            available: 3
        })
    ));
}

#[test]
fn downgrade_plans_on_a_chain() {
    let g = chain();
    let all = ["a1", "b2", "c3", "d4"];
    assert_eq!(down(&g, &all, "base"), ["d4", "c3", "b2", "a1"]);
    assert_eq!(down(&g, &all, "b2"), ["d4", "c3"]);
    assert_eq!(down(&g, &all, "d4-2"), ["d4", "c3"]);
    assert_eq!(down(&g, &all, "-1"), ["d4"]);
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
    for bad in ["heads", "head", "+1", "a@+1"] {
        assert!(
            matches!(
                g.plan_downgrade(&set(&all), &t(bad)),
                Err(GraphError::BadTarget { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn heads_bases_branch_points_and_labels() {
    let g = branched();
    assert_eq!(g.heads(), ["m", "x"]);
    assert_eq!(g.bases(), ["base", "x"]);
    assert_eq!(g.branch_points(), ["base"]);
    assert_eq!(g.children("base"), ["a1", "b1"]);
    assert_eq!(g.dependents("a1"), ["b2"]);
    assert_eq!(g.children("a1"), ["a2"]);
    assert_eq!(
        g.labels(),
        [("auth", "a1"), ("billing", "b1"), ("extra", "x")]
    );
    assert_eq!(g.branch("auth").unwrap(), ["a1", "a2", "m"]);
    assert_eq!(g.branches_of("m"), ["auth", "billing"]);
    assert_eq!(g.branches_of("base"), Vec::<&str>::new());
    // depends-on does not make a1 a non-head-ish parent of b2
    assert!(!g.children("a1").contains(&"b2"));
}

#[test]
fn head_is_an_error_listing_the_heads() {
    let g = branched();
    let err = g.plan_upgrade(&set(&[]), &t("head")).unwrap_err();
    assert_eq!(
        err,
        GraphError::MultipleHeads {
            target: "head".into(),
            heads: vec!["m".into(), "x".into()]
        }
    );
    assert!(err.to_string().contains("2 heads (m, x)"), "{err}");
}

#[test]
fn resolve_ids_labels_and_prefixes() {
    let g = RevisionGraph::new(vec![
        Revision::new("ab12", &[]).labels(&["core"]),
        Revision::new("ab34", &["ab12"]),
    ])
    .unwrap();
    assert_eq!(g.resolve("ab3").unwrap(), "ab34");
    assert_eq!(g.resolve("ab12").unwrap(), "ab12");
    assert_eq!(g.resolve("core").unwrap(), "ab12");
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

#[test]
fn an_id_ending_in_dash_digits_is_still_an_id() {
    let g = RevisionGraph::new(vec![
        Revision::new("rel", &[]),
        Revision::new("rel-1", &["rel"]),
        Revision::new("rel-2", &["rel-1"]),
    ])
    .unwrap();
    assert_eq!(g.resolve_target(&t("rel-1")).unwrap(), "rel-1");
    assert_eq!(g.resolve_target(&t("rel-2-1")).unwrap(), "rel-1");
    assert_eq!(g.resolve_target(&t("rel+2")).unwrap(), "rel-2");
}

#[test]
fn upgrade_to_one_branch_applies_only_what_it_needs() {
    let g = branched();
    assert_eq!(
        up(&g, &[], "auth@head"),
        ["base", "a1", "a2", "b1", "b2", "m"]
    );
    assert_eq!(up(&g, &[], "a2"), ["base", "a1", "a2"]);
    // b2 depends on a1 (another branch): a1 comes first, a2 is not needed.
    assert_eq!(up(&g, &[], "b2"), ["base", "a1", "b1", "b2"]);
    assert_eq!(up(&g, &[], "billing"), ["base", "b1"]);
    assert_eq!(up(&g, &[], "extra@head"), ["x"]);
    assert_eq!(
        up(&g, &[], "heads"),
        ["base", "a1", "a2", "b1", "b2", "m", "x"]
    );
    assert_eq!(up(&g, &["base", "a1"], "m"), ["a2", "b1", "b2", "m"]);
    // The merge is the one head of both labelled branches.
    assert_eq!(g.resolve_target(&t("auth@head")).unwrap(), "m");
    assert_eq!(g.resolve_target(&t("billing@head")).unwrap(), "m");
}

#[test]
fn a_branch_with_several_heads_is_named() {
    let g = RevisionGraph::new(vec![
        Revision::new("r", &[]).labels(&["lib"]),
        Revision::new("s", &["r"]),
        Revision::new("u", &["r"]),
    ])
    .unwrap();
    let err = g.resolve_target(&t("lib@head")).unwrap_err();
    assert_eq!(
        err,
        GraphError::MultipleHeads {
            target: "lib@head".into(),
            heads: vec!["s".into(), "u".into()]
        }
    );
    // label@+N goes toward every head of the branch.
    assert_eq!(up(&g, &["r"], "lib@+2"), ["s", "u"]);
}

#[test]
fn branch_base_targets() {
    let g = branched();
    // Where billing has not started: what b1 requires.
    assert_eq!(up(&g, &[], "billing@base"), ["base"]);
    let all = ALL;
    // Removing billing removes b1, b2 and the merge that needs them.
    assert_eq!(down(&g, &all, "billing@base"), ["m", "b2", "b1"]);
    // Removing auth also removes b2, which depends on a1.
    assert_eq!(down(&g, &all, "auth@base"), ["m", "b2", "a2", "a1"]);
    assert_eq!(down(&g, &all, "extra@base"), ["x"]);
    let err = g.plan_downgrade(&set(&all), &t("nope@base")).unwrap_err();
    assert!(
        err.to_string().contains(
            "no revision declares the branch label \"nope\" (known labels: auth, billing, extra)"
        ),
        "{err}"
    );
}

#[test]
fn branch_relative_moves() {
    let g = branched();
    // Two revisions of the branch, with what they require.
    assert_eq!(up(&g, &[], "auth@+2"), ["base", "a1", "a2"]);
    assert_eq!(up(&g, &["base"], "billing@+1"), ["b1"]);
    // b2 depends on a1, so a1 comes along.
    assert_eq!(up(&g, &["base"], "billing@+2"), ["a1", "b1", "b2"]);
    assert!(matches!(
        g.plan_upgrade(&set(&["base"]), &t("billing@+4")),
        Err(GraphError::NotEnoughSteps {
            requested: 4,
            available: 3,
            ..
        })
    ));
    assert_eq!(up(&g, &[], "extra@+1"), ["x"]);
    let all = ALL;
    // One step down the auth branch: its newest applied member is the merge.
    assert_eq!(down(&g, &all, "auth@-1"), ["m"]);
    assert_eq!(down(&g, &all, "auth@-2"), ["m", "a2"]);
    // The third step takes a1, and b2 with it (b2 depends on a1).
    assert_eq!(down(&g, &all, "auth@-3"), ["m", "b2", "a2", "a1"]);
    assert_eq!(down(&g, &all, "extra@-1"), ["x"]);
    assert!(matches!(
        g.plan_downgrade(&set(&all), &t("extra@-2")),
        Err(GraphError::NotEnoughSteps {
            requested: 2,
            available: 1,
            ..
        })
    ));
    assert!(matches!(
        g.plan_upgrade(&set(&all), &t("auth@-1")),
        Err(GraphError::BadTarget { .. })
    ));
}

#[test]
fn relative_moves_on_a_branched_graph_follow_the_global_order() {
    let g = branched();
    assert_eq!(up(&g, &[], "+3"), ["base", "a1", "a2"]);
    assert_eq!(down(&g, &ALL, "-2"), ["x", "m"]);
}

#[test]
fn offsets_walk_single_links_and_name_forks() {
    let g = branched();
    assert_eq!(g.resolve_target(&t("a1+1")).unwrap(), "a2");
    assert_eq!(g.resolve_target(&t("a1+2")).unwrap(), "m");
    assert_eq!(g.resolve_target(&t("b2-1")).unwrap(), "b1");
    let err = g.resolve_target(&t("base+1")).unwrap_err();
    assert_eq!(
        err,
        GraphError::AmbiguousStep {
            target: "base+1".into(),
            at: "base".into(),
            forward: true,
            candidates: vec!["a1".into(), "b1".into()]
        }
    );
    assert!(
        err.to_string().contains("base has 2 children (a1, b1)"),
        "{err}"
    );
    let err = g.resolve_target(&t("m-1")).unwrap_err();
    assert!(
        err.to_string().contains("m has 2 parents (a2, b2)"),
        "{err}"
    );
    assert!(matches!(
        g.resolve_target(&t("x-1")),
        Err(GraphError::NotEnoughSteps { available: 0, .. })
    ));
}

#[test]
fn downgrade_to_a_revision_removes_only_what_requires_it() {
    let g = branched();
    let all = ALL;
    // Other branches stay applied.
    assert_eq!(down(&g, &all, "a2"), ["m"]);
    assert_eq!(down(&g, &all, "a1"), ["m", "b2", "a2"]);
    assert_eq!(
        down(&g, &all, "base"),
        ["x", "m", "b2", "b1", "a2", "a1", "base"]
    );
    assert_eq!(down(&g, &all, "billing"), ["m", "b2"]);
    assert_eq!(down(&g, &all, "auth@head"), Vec::<String>::new());
    // Dependents first: b2 (depends on a1) goes before a1.
    let mut needs = Revision::new("b", &[]);
    needs.depends_on = vec!["a".into()];
    let g = RevisionGraph::new(vec![needs, Revision::new("a", &[])]).unwrap();
    assert_eq!(up(&g, &[], "b"), ["a", "b"]);
    assert_eq!(down(&g, &["a", "b"], "base"), ["b", "a"]);
    assert_eq!(g.heads(), ["a", "b"]);
}

#[test]
fn stamp_plans() {
    let g = branched();
    let stamp = |applied: &[&str], target: &str| g.plan_stamp(&set(applied), &t(target)).unwrap();
    let s = stamp(&[], "a2");
    assert_eq!(
        (s.insert, s.delete),
        (vec!["base".into(), "a1".into(), "a2".into()], vec![])
    );
    let s = stamp(&ALL, "a2");
    assert_eq!(s.insert, Vec::<String>::new());
    assert_eq!(s.delete, ["m"]);
    let s = stamp(&["base", "a1", "a2"], "billing@head");
    assert_eq!(s.insert, ["b1", "b2", "m"]);
    assert!(s.delete.is_empty());
    let s = stamp(&ALL, "base");
    assert_eq!(s.delete.len(), 7);
    let s = stamp(&["base", "a1"], "-1");
    assert_eq!((s.insert.len(), s.delete), (0, vec!["a1".to_string()]));
    let s = stamp(&["base"], "+1");
    assert_eq!((s.insert, s.delete.len()), (vec!["a1".to_string()], 0));
}

#[test]
fn history_ranges() {
    let g = branched();
    let range = |from: Option<&str>, to: Option<&str>| {
        g.range(from.map(t).as_ref(), to.map(t).as_ref()).unwrap()
    };
    assert_eq!(
        range(None, None),
        ["x", "m", "b2", "b1", "a2", "a1", "base"]
    );
    assert_eq!(range(None, Some("b2")), ["b2", "b1", "a1", "base"]);
    assert_eq!(range(Some("a1"), None), ["m", "b2", "a2", "a1"]);
    assert_eq!(range(Some("b1"), Some("m")), ["m", "b2", "b1"]);
    assert_eq!(range(Some("auth@head"), Some("heads")), ["m"]);
    assert!(g.range(Some(&t("+1")), None).is_err());
}

#[test]
fn resolve_all_for_commands_taking_several() {
    let g = branched();
    assert_eq!(g.resolve_all(&t("heads")).unwrap(), ["m", "x"]);
    assert!(g.resolve_all(&t("base")).unwrap().is_empty());
    assert_eq!(g.resolve_all(&t("auth")).unwrap(), ["a1"]);
    assert!(g.requires("m", "a1"));
    assert!(g.requires("b2", "a1"));
    assert!(!g.requires("a2", "b1"));
    assert!(g.descends_from_id("m", "a1"));
    assert!(!g.descends_from_id("b2", "a1"));
    assert!(g.descends_from_id("b2", "b2"));
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
    let missing = RevisionGraph::new(vec![Revision::new("b", &[]).depends(&["zz"])]).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("revision b names zz as its depends-on"),
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
    let self_dep = RevisionGraph::new(vec![Revision::new("a", &[]).depends(&["a"])]).unwrap_err();
    assert!(matches!(self_dep, GraphError::Cycle { .. }));
}

#[test]
fn bad_labels_are_named() {
    let dup = RevisionGraph::new(vec![
        Revision::new("a", &[]).labels(&["auth"]),
        Revision::new("b", &["a"]).labels(&["auth"]),
    ])
    .unwrap_err();
    assert_eq!(
        dup,
        GraphError::DuplicateLabel {
            label: "auth".into(),
            first: "a".into(),
            second: "b".into()
        }
    );
    assert!(
        dup.to_string().contains("declared by both a and b"),
        "{dup}"
    );
    let cases = [
        ("heads", "reserved"),
        ("base", "reserved"),
        ("a b", "letters, digits"),
        ("", "letters, digits"),
        ("x@y", "letters, digits"),
        ("b", "also the id of revision b"),
    ];
    for (label, reason) in cases {
        let err = RevisionGraph::new(vec![
            Revision::new("a", &[]).labels(&[label]),
            Revision::new("b", &["a"]),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, GraphError::BadLabel { revision, .. } if revision == "a"),
            "{label}: {err}"
        );
        assert!(err.to_string().contains(reason), "{label}: {err}");
    }
}

#[test]
fn empty_graph() {
    let g = RevisionGraph::new(Vec::new()).unwrap();
    assert!(g.heads().is_empty());
    assert!(up(&g, &[], "heads").is_empty());
    assert!(matches!(
        g.resolve_target(&t("head")),
        Err(GraphError::BadTarget { .. })
    ));
}
