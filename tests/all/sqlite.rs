//! The example chain online against real SQLite files.

use retort::Target;
use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, quiet, version_ids};

#[tokio::test]
async fn upgrade_to_head_applies_the_whole_chain() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    let steps = project.upgrade(&Target::Head, &mut quiet()).await.unwrap();
    let ids: Vec<_> = steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, EXAMPLE_IDS);

    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
    assert_eq!(
        s.sql("SELECT id, email, name, is_admin, slug FROM users ORDER BY id"),
        "1|admin@example.com|Site Admin|1|site-admin\n\
         2|maeve@example.com|Maeve O'Brien|0|maeve-o'brien\n\
         3|zoe@example.com|Zoë \"Zed\" Park|0|zoë-\"zed\"-park\n"
    );
    assert_eq!(
        s.sql("SELECT id, user_id, title FROM posts"),
        "1|1|Hello, world\n"
    );
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"),
        "ix_posts_user\nix_posts_user_published\nux_users_slug\n"
    );
    // Each row records the component's hash and a duration.
    let rows = s.sql(
        "SELECT length(sha256), duration_ms IS NOT NULL, applied_at LIKE '20%' FROM retort_version",
    );
    assert_eq!(rows, "64|1|1\n".repeat(4));
    let hashes = s.sql("SELECT sha256 FROM retort_version WHERE revision_id = '1f3a9c0d2b7e'");
    let expected = project
        .catalog()
        .get("1f3a9c0d2b7e")
        .unwrap()
        .sha256
        .clone();
    assert_eq!(hashes.trim(), expected);

    // Running again has nothing to do.
    let again = project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(version_ids(&s.db("app.db")).len(), 4);
}

#[tokio::test]
async fn downgrade_to_base_leaves_only_an_empty_version_table() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    let steps = project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    let ids: Vec<_> = steps.iter().map(|s| s.id.as_str()).collect();
    let mut reversed = EXAMPLE_IDS;
    reversed.reverse();
    assert_eq!(ids, reversed);
    assert_eq!(
        s.sql("SELECT type, name FROM sqlite_master ORDER BY name"),
        "table|retort_version\ntable|retort_version_failures\nindex|sqlite_autoindex_retort_version_1\nindex|sqlite_autoindex_retort_version_failures_1\n"
    );
    assert_eq!(s.sql("SELECT COUNT(*) FROM retort_version"), "0\n");
}

#[tokio::test]
async fn upgrade_to_a_middle_revision_then_the_rest() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    // A unique prefix of the second revision.
    let steps = project
        .upgrade(&"7c2e".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS[..2]);
    assert_eq!(
        s.sql("SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'slug'"),
        "0\n"
    );

    let rest = project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, EXAMPLE_IDS[2..]);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}

#[tokio::test]
async fn relative_steps_move_one_revision_at_a_time() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    project
        .upgrade(&"+3".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS[..3]);
    project
        .downgrade(&"-2".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS[..1]);
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name = 'posts'"),
        ""
    );
    let err = project
        .downgrade(&"-2".parse().unwrap(), &mut quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot move 2 step(s) down: only 1 available"),
        "{err}"
    );
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS[..1]);
}

#[tokio::test]
async fn current_reads_the_version_table() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    assert!(project.current().await.unwrap().is_empty());
    project
        .upgrade(&"+2".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    let applied = project.current().await.unwrap();
    let ids: Vec<_> = applied.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, EXAMPLE_IDS[..2]);
    assert_eq!(
        applied[0].sha256,
        project.catalog().get(EXAMPLE_IDS[0]).unwrap().sha256
    );
}

#[tokio::test]
async fn a_component_without_wasi_imports_runs_too() {
    use retort_tests::NO_WASI_CORE;
    let bytes = std::fs::read(NO_WASI_CORE).unwrap();
    let imports_wasi = bytes.windows(5).any(|w| w == b"wasi:");
    assert!(
        !imports_wasi,
        "the componentized core guest should import no WASI"
    );
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(NO_WASI_CORE);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    assert_eq!(s.sql("SELECT note FROM core_marker"), "no wasi\n");
    assert_eq!(
        version_ids(&s.db("app.db")).last().map(String::as_str),
        Some("f00000000008")
    );
}
