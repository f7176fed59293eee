//! The branching example (two labelled branches with a depends-on across
//! them, a merge, and a second base) against real SQLite files: what each
//! target applies, what each downgrade removes, stamps, offline ranges and
//! the metadata cache.

use retort::{Dialect, Direction, Range, Target};
use retort_tests::BRANCHING;
use retort_tests::branching::{ACCOUNTS, API_TOKENS, AUDIT, INVOICES, MERGE, PLANS, SESSIONS};

use crate::common::{Scratch, quiet, schema, sqlite3, sqlite3_script, version_ids};

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn tables(s: &Scratch) -> String {
    s.sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT IN ('retort_version', 'retort_version_failures') ORDER BY name")
        .lines()
        .collect::<Vec<_>>()
        .join(" ")
}

fn ids(steps: &[retort::StepReport]) -> Vec<&str> {
    steps.iter().map(|s| s.id.as_str()).collect()
}

#[tokio::test]
async fn one_branch_then_the_other_then_the_merge() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;

    // The auth branch's tip: the base and auth only.
    let steps = project.upgrade(&t("a7f0"), &mut quiet()).await.unwrap();
    assert_eq!(ids(&steps), [ACCOUNTS, SESSIONS, API_TOKENS]);
    assert_eq!(tables(&s), "accounts api_tokens sessions");

    // The billing branch: plans and invoices; sessions are there already.
    let steps = project.upgrade(&t(INVOICES), &mut quiet()).await.unwrap();
    assert_eq!(ids(&steps), [PLANS, INVOICES]);
    assert_eq!(
        s.sql("SELECT i.id, a.email, p.name, i.session_id FROM invoices i JOIN accounts a ON a.id = i.account_id JOIN plans p ON p.id = i.plan_id"),
        "1|ada@example.com|pro|1\n"
    );
    // Two applied heads at once, one row per revision.
    let applied = project.current().await.unwrap();
    let set = applied.iter().map(|r| r.id.clone()).collect();
    assert_eq!(project.graph().applied_heads(&set), [API_TOKENS, INVOICES]);

    // The merge joins them.
    let steps = project
        .upgrade(&t("auth@head"), &mut quiet())
        .await
        .unwrap();
    assert_eq!(ids(&steps), [MERGE]);
    assert_eq!(
        s.sql(
            "SELECT account_id, email, tokens, invoices FROM account_overview ORDER BY account_id"
        ),
        "1|ada@example.com|0|1\n2|grace@example.com|1|0\n"
    );
    // The other base is still to do.
    let steps = project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(ids(&steps), [AUDIT]);
    assert_eq!(
        version_ids(&s.db("app.db")),
        sorted(&[
            ACCOUNTS, SESSIONS, API_TOKENS, PLANS, INVOICES, MERGE, AUDIT
        ])
    );
    let set = project
        .current()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(project.graph().applied_heads(&set), [AUDIT, MERGE]);
}

#[tokio::test]
async fn a_branch_brings_its_depends_on_and_nothing_else() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;
    let steps = project
        .upgrade(&t("billing@+2"), &mut quiet())
        .await
        .unwrap();
    // invoices depend on auth's sessions, not on api_tokens.
    assert_eq!(ids(&steps), [ACCOUNTS, SESSIONS, PLANS, INVOICES]);
    assert_eq!(tables(&s), "accounts invoices plans sessions");
    assert_eq!(
        version_ids(&s.db("app.db")),
        sorted(&[ACCOUNTS, SESSIONS, PLANS, INVOICES])
    );
}

#[tokio::test]
async fn head_names_every_head_and_touches_nothing() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;
    let err = project
        .upgrade(&Target::Head, &mut quiet())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains(&format!("there are 2 heads ({AUDIT}, {MERGE})")),
        "{err}"
    );
    let err = project.upgrade(&t("a7"), &mut quiet()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("matches {SESSIONS}, {API_TOKENS}")),
        "{err}"
    );
    assert_eq!(version_ids(&s.db("app.db")), Vec::<String>::new());
}

#[tokio::test]
async fn downgrading_a_branch_removes_its_dependents_first() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();

    let steps = project
        .downgrade(&t("auth@base"), &mut quiet())
        .await
        .unwrap();
    // The merge and invoices need auth, so they go first; billing's plans stay.
    assert_eq!(ids(&steps), [MERGE, INVOICES, API_TOKENS, SESSIONS]);
    assert_eq!(tables(&s), "accounts audit_log plans");
    assert_eq!(
        version_ids(&s.db("app.db")),
        sorted(&[ACCOUNTS, PLANS, AUDIT])
    );

    // Downgrading to a revision leaves unrelated branches alone.
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    let steps = project.downgrade(&t(PLANS), &mut quiet()).await.unwrap();
    assert_eq!(ids(&steps), [MERGE, INVOICES]);
    assert_eq!(tables(&s), "accounts api_tokens audit_log plans sessions");

    let steps = project
        .downgrade(&t("audit@-1"), &mut quiet())
        .await
        .unwrap();
    assert_eq!(ids(&steps), [AUDIT]);
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(tables(&s), "");
    assert_eq!(s.sql("SELECT COUNT(*) FROM retort_version"), "0\n");
}

#[tokio::test]
async fn stamp_writes_rows_without_running_anything() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;
    // A database whose accounts table was made by hand before Retort.
    s.sql("CREATE TABLE accounts (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE)");
    let plan = project.stamp(&t(ACCOUNTS)).await.unwrap();
    assert_eq!(plan.insert, [ACCOUNTS]);
    assert_eq!(tables(&s), "accounts");
    assert_eq!(
        s.sql("SELECT revision_id, duration_ms IS NULL, length(sha256) FROM retort_version"),
        format!("{ACCOUNTS}|1|64\n")
    );
    let sha = &project.catalog().get(ACCOUNTS).unwrap().sha256;
    assert_eq!(s.sql("SELECT sha256 FROM retort_version").trim(), sha);
    // Upgrading now runs only what comes after.
    let steps = project.upgrade(&t("billing"), &mut quiet()).await.unwrap();
    assert_eq!(ids(&steps), [PLANS]);

    // Stamping back to a revision removes the rows after it, and nothing else.
    let plan = project.stamp(&t(ACCOUNTS)).await.unwrap();
    assert_eq!(
        (plan.insert.len(), plan.delete),
        (0, vec![PLANS.to_string()])
    );
    assert_eq!(tables(&s), "accounts plans");
    assert_eq!(version_ids(&s.db("app.db")), [ACCOUNTS]);
    let plan = project.stamp(&Target::Heads).await.unwrap();
    assert_eq!(plan.insert.len(), 6);
    assert_eq!(version_ids(&s.db("app.db")).len(), 7);
    project.stamp(&Target::Base).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")), Vec::<String>::new());
    assert_eq!(tables(&s), "accounts plans");
}

#[tokio::test]
async fn offline_ranges_over_branches_match_online_runs() {
    let s = Scratch::new(&BRANCHING);
    let project = s.project().await;
    let script = |direction, range: &str| {
        let range: Range = range.parse().unwrap();
        let project = &project;
        async move {
            project
                .script(direction, &range, Dialect::Sqlite, &mut quiet())
                .await
                .unwrap()
        }
    };

    // Online: the auth branch, then the rest.
    project.upgrade(&t(API_TOKENS), &mut quiet()).await.unwrap();
    // Offline: the same start, then a script from there to heads.
    let offline = s.db("offline.db");
    sqlite3_script(
        &offline,
        &script(Direction::Upgrade, &format!("base:{API_TOKENS}")).await,
    );
    let rest = script(Direction::Upgrade, &format!("{API_TOKENS}:heads")).await;
    assert!(!rest.contains("CREATE TABLE sessions"), "{rest}");
    assert_eq!(rest.matches("BEGIN;").count(), 4, "{rest}");
    sqlite3_script(&offline, &rest);
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(schema(&offline), schema(&s.db("app.db")));
    assert_eq!(version_ids(&offline), version_ids(&s.db("app.db")));

    // Removing the billing branch offline and online gives the same database.
    let down = script(Direction::Downgrade, "heads:billing@base").await;
    sqlite3_script(&offline, &down);
    project
        .downgrade(&t("billing@base"), &mut quiet())
        .await
        .unwrap();
    assert_eq!(schema(&offline), schema(&s.db("app.db")));
    assert_eq!(
        version_ids(&offline),
        sorted(&[ACCOUNTS, SESSIONS, API_TOKENS, AUDIT])
    );
    assert_eq!(
        sqlite3(&offline, "SELECT * FROM api_tokens"),
        s.sql("SELECT * FROM api_tokens")
    );

    // A stamp script records rows only.
    let stamp = project
        .stamp_script(&"base:auth@head".parse().unwrap(), Dialect::Sqlite)
        .await
        .unwrap();
    let stamped = s.db("stamped.db");
    sqlite3_script(&stamped, &stamp);
    assert_eq!(
        version_ids(&stamped),
        sorted(&[ACCOUNTS, SESSIONS, API_TOKENS, PLANS, INVOICES, MERGE])
    );
    assert_eq!(
        sqlite3(&stamped, "SELECT COUNT(*) FROM sqlite_master"),
        "4\n",
        "the host's two tables and their keys, nothing else"
    );
}

#[tokio::test]
async fn a_warm_cache_compiles_nothing_until_a_plan_runs() {
    let s = Scratch::new(&BRANCHING);
    let cold = s.project().await;
    assert_eq!(cold.catalog().cache_hits(), 0);
    let cache = s.migrations.join(".retort-cache/metadata.json");
    assert!(cache.is_file());
    assert_eq!(
        std::fs::read_to_string(s.migrations.join(".retort-cache/.gitignore")).unwrap(),
        "# Retort's metadata cache: safe to delete.\n*\n"
    );

    let warm = s.project().await;
    assert_eq!(warm.catalog().cache_hits(), 7);
    assert!(
        warm.catalog()
            .entries()
            .iter()
            .all(|e| e.program().is_none())
    );
    assert_eq!(warm.graph().heads(), [AUDIT, MERGE]);
    warm.upgrade(&t("+2"), &mut quiet()).await.unwrap();
    // The cold load read the components' metadata from their sections and
    // compiled nothing: the run compiled the two it ran into the compile
    // cache (and loaded them from it), and keeps nothing in memory after it.
    assert_eq!(cold.catalog().compile_counts(), (0, 0));
    assert_eq!(warm.catalog().compile_counts(), (2, 2));
    assert!(
        warm.catalog()
            .entries()
            .iter()
            .all(|e| e.program().is_none())
    );
    assert_eq!(version_ids(&s.db("app.db")), sorted(&[ACCOUNTS, SESSIONS]));
}

#[tokio::test]
async fn a_corrupt_or_tampered_cache_is_rebuilt_not_trusted() {
    let s = Scratch::new(&BRANCHING);
    s.project().await;
    let cache = s.migrations.join(".retort-cache/metadata.json");
    let good = std::fs::read_to_string(&cache).unwrap();

    std::fs::write(&cache, "{ this is not json").unwrap();
    let project = s.project().await;
    assert_eq!(project.catalog().cache_hits(), 0);
    assert_eq!(project.graph().len(), 7);
    let rebuilt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(rebuilt["entries"].as_object().unwrap().len(), 7);

    // A message edited by hand: that entry fails its checksum and is read
    // from the component again.
    std::fs::write(&cache, good.replace("create accounts", "drop everything")).unwrap();
    let project = s.project().await;
    assert_eq!(project.catalog().cache_hits(), 6);
    assert_eq!(
        project.graph().get(ACCOUNTS).unwrap().message,
        "create accounts"
    );
    assert_eq!(s.project().await.catalog().cache_hits(), 7);

    // A cache that fails to be written (a file where its directory should be)
    // does not stop anything.
    let s = Scratch::new(&BRANCHING);
    std::fs::write(s.migrations.join(".retort-cache"), "in the way").unwrap();
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")).len(), 7);
}
