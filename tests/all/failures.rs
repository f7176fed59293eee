//! Revisions that fail, and components that are not revisions: each leaves
//! the database as the last good revision left it, with a message that says
//! what, where and what to do.

use retort::{Error, Target};
use retort_tests::{
    EXAMPLE_CHAIN, EXAMPLE_IDS, FAIL_SECOND_STATEMENT, MISSING_PARENT, R0001_USERS, RETURNS_ERROR,
    TRAP_AFTER_STATEMENT,
};

use crate::common::{Scratch, quiet, schema, version_ids};

/// Applies the example chain, then adds `bad` on top and upgrades: returns
/// the error and checks that the chain stayed applied and nothing else did.
async fn fails_on_top_of_the_chain(bad: &str) -> String {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    let before = schema(&s.db("app.db"));
    s.add(bad);
    let err = s
        .project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Run(_)), "{err:?}");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        schema(&s.db("app.db")),
        before,
        "the failed revision left schema behind"
    );
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
    err.to_string()
}

#[tokio::test]
async fn a_failing_second_statement_rolls_back_the_first() {
    let message = fails_on_top_of_the_chain(FAIL_SECOND_STATEMENT).await;
    assert!(
        message.contains("revision f00000000002 failed in upgrade"),
        "{message}"
    );
    assert!(
        message.contains("statement: INSERT INTO no_such_table (id) VALUES (1)"),
        "{message}"
    );
    assert!(
        message.contains("database said: no such table: no_such_table"),
        "{message}"
    );
    assert!(message.contains("rolled back"), "{message}");
    assert!(
        message.contains("4 revision(s) completed before it")
            || message.contains("version table are as before"),
        "{message}"
    );
}

#[tokio::test]
async fn a_trapping_revision_rolls_back() {
    let message = fails_on_top_of_the_chain(TRAP_AFTER_STATEMENT).await;
    assert!(
        message.contains("revision f00000000003 failed in upgrade: the component trapped"),
        "{message}"
    );
    assert!(
        message.contains("boom: the revision gave up half-way"),
        "{message}"
    );
    assert!(message.contains("rolled back"), "{message}");
}

#[tokio::test]
async fn a_revision_returning_err_rolls_back() {
    let message = fails_on_top_of_the_chain(RETURNS_ERROR).await;
    assert!(
        message.contains(
            "revision f00000000004 failed in upgrade: refusing to continue: the data is not ready"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn earlier_revisions_of_the_same_run_stay_applied() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(FAIL_SECOND_STATEMENT);
    let err = s
        .project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("4 revision(s) completed before it and stay applied: 1f3a9c0d2b7e, 7c2e5b8a4d10, a94d0e6f3c21, e05b7d9c1a42"),
        "{message}"
    );
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name = 'audit_log'"),
        ""
    );
}

#[tokio::test]
async fn a_corrupt_component_is_named() {
    let s = Scratch::new(&[R0001_USERS]);
    s.write("zz_broken.wasm", b"\0asm\x0d\0\x01\0garbage");
    let err = retort::Project::open(s.config()).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert!(
        message.contains("zz_broken.wasm is not a valid revision component"),
        "{message}"
    );

    let s = Scratch::new(&[]);
    s.write("text.wasm", b"this is not wasm at all");
    let message = retort::Project::open(s.config())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("text.wasm is not a valid revision component"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_parent_is_named() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(MISSING_PARENT);
    let err = retort::Project::open(s.config()).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains("revision f00000000006 names deadbeef0000 as its down-revision, but no revision has that id"),
        "{err}"
    );
}

#[tokio::test]
async fn a_duplicate_id_names_both_files() {
    let s = Scratch::new(&[R0001_USERS]);
    std::fs::copy(R0001_USERS, s.migrations.join("copy_of_users.wasm")).unwrap();
    let message = retort::Project::open(s.config())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("revision id 1f3a9c0d2b7e is claimed by both"),
        "{message}"
    );
    assert!(message.contains("copy_of_users.wasm"), "{message}");
}

#[tokio::test]
async fn an_unknown_target_is_refused_before_anything_runs() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    let err = project
        .upgrade(&"0bad".parse().unwrap(), &mut quiet())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("unknown target \"0bad\""), "{err}");
    assert_eq!(version_ids(&s.db("app.db")), Vec::<String>::new());
}

#[tokio::test]
async fn an_applied_revision_missing_from_disk_is_reported() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    std::fs::remove_file(s.migrations.join("r0004_indexes.wasm")).unwrap();
    let err = s
        .project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the version table lists e05b7d9c1a42, which no component"),
        "{err}"
    );
}
