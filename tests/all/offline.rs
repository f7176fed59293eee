//! Offline scripts do exactly what the online run does: the same calls,
//! recorded. Proven by applying them with a separate client (sqlite3).

use retort::{Dialect, Direction, Range, Target};
use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS, LITERAL_VALUES, QUERY_ALWAYS};

use crate::common::{Scratch, quiet, schema, sqlite3, sqlite3_script, version_ids};

const DATA: &str = "SELECT id, email, name, is_admin, slug FROM users ORDER BY id; \
                    SELECT id, user_id, title, body, published_at FROM posts ORDER BY id;";

#[tokio::test]
async fn online_and_offline_upgrades_build_the_same_database() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    let online = s.db("app.db");

    let sql = s.sqlite_script(Direction::Upgrade, "heads").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &sql);

    assert_eq!(schema(&offline), schema(&online));
    assert_eq!(version_ids(&offline), EXAMPLE_IDS);
    assert_eq!(version_ids(&offline), version_ids(&online));
    assert_eq!(sqlite3(&offline, DATA), sqlite3(&online, DATA));
    // Offline rows record the hash but no duration: nobody timed the script.
    assert_eq!(
        sqlite3(
            &offline,
            "SELECT COUNT(*) FROM retort_version WHERE duration_ms IS NULL AND length(sha256) = 64"
        ),
        "4\n"
    );
    // Each revision is wrapped in its own transaction, with its version row inside.
    assert_eq!(sql.matches("BEGIN;").count(), 4, "{sql}");
    assert_eq!(sql.matches("COMMIT;").count(), 4, "{sql}");
    assert!(sql.contains("INSERT INTO users (id, email, name, is_admin) VALUES (2, 'maeve@example.com', 'Maeve O''Brien', 0);"), "{sql}");
}

#[tokio::test]
async fn offline_ranges_start_where_the_database_is() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project().await;
    project
        .upgrade(&"7c2e5b8a4d10".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    let rest = s
        .sqlite_script(Direction::Upgrade, "7c2e5b8a4d10:heads")
        .await;
    assert!(!rest.contains("CREATE TABLE users"), "{rest}");
    sqlite3_script(&s.db("app.db"), &rest);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);

    let reference = Scratch::new(&EXAMPLE_CHAIN);
    reference
        .project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    assert_eq!(schema(&s.db("app.db")), schema(&reference.db("app.db")));
    assert_eq!(
        sqlite3(&s.db("app.db"), DATA),
        sqlite3(&reference.db("app.db"), DATA)
    );
}

#[tokio::test]
async fn offline_downgrade_matches_online_downgrade() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let up = s.sqlite_script(Direction::Upgrade, "base:heads").await;
    let down = s.sqlite_script(Direction::Downgrade, "heads:base").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &up);
    sqlite3_script(&offline, &down);

    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(schema(&offline), schema(&s.db("app.db")));
    assert!(version_ids(&offline).is_empty());

    // A downgrade needs to know where it starts.
    let err = project
        .script(
            Direction::Downgrade,
            &"base".parse().unwrap(),
            Dialect::Sqlite,
            &mut quiet(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("needs the starting point"),
        "{err}"
    );
}

#[tokio::test]
async fn every_kind_of_value_survives_the_script_unchanged() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(LITERAL_VALUES);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    let sql = s.sqlite_script(Direction::Upgrade, "heads").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &sql);

    let values = "SELECT id, quote(t), typeof(t), i, quote(f), typeof(f), b, typeof(b), hex(x), typeof(x) \
                  FROM literal_values ORDER BY id";
    let online = sqlite3(&s.db("app.db"), values);
    assert_eq!(
        sqlite3(&s.db("app.db"), "SELECT COUNT(*) FROM literal_values"),
        "9\n"
    );
    assert_eq!(sqlite3(&offline, values), online);
    assert!(online.contains("'''''; DROP TABLE users; --'"), "{online}");
    assert!(
        online.contains("100|NULL|null||NULL|null||null||null"),
        "{online}"
    );
}

#[tokio::test]
async fn a_revision_that_queries_fails_offline_with_its_name() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(QUERY_ALWAYS);
    let err = s
        .project()
        .await
        .script(
            Direction::Upgrade,
            &"heads".parse().unwrap(),
            Dialect::Sqlite,
            &mut quiet(),
        )
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("revision f00000000005 failed in upgrade"),
        "{message}"
    );
    assert!(
        message.contains("query() is not available offline"),
        "{message}"
    );
    assert!(
        message.contains("SELECT COUNT(*) AS n FROM users"),
        "{message}"
    );
    assert!(message.contains("no script was written"), "{message}");

    // Online, the same revision reads real rows.
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    assert_eq!(version_ids(&s.db("app.db")).len(), 5);
}

#[tokio::test]
async fn scripts_render_for_every_dialect() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(LITERAL_VALUES);
    let project = s.project().await;
    let range: Range = "heads".parse().unwrap();
    let pg = project
        .script(Direction::Upgrade, &range, Dialect::Postgres, &mut quiet())
        .await
        .unwrap();
    assert!(pg.starts_with("SET client_encoding = 'UTF8';"), "{pg}");
    assert!(pg.contains(r"E'back\\slash \\'' \\\\ \\n'"), "{pg}");
    assert!(pg.contains("TRUE"), "{pg}");
    assert!(pg.contains(r"E'\\x0000ff27'::bytea"), "{pg}");
    let my = project
        .script(Direction::Upgrade, &range, Dialect::Mysql, &mut quiet())
        .await
        .unwrap();
    assert!(my.starts_with("SET NAMES utf8mb4;"), "{my}");
    assert!(my.contains("START TRANSACTION;"), "{my}");
    assert!(my.contains("CONVERT(X'"), "{my}");
    assert!(my.contains("`retort_version`"), "{my}");
}
