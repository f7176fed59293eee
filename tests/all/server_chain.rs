//! The example chain on PostgreSQL and MariaDB: online, offline through the
//! database's own client, and the two compared.

use retort::{Dialect, Direction, Overrides, Target};
use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS, LITERAL_VALUES};

use crate::common::{Scratch, quiet};
use crate::servers::{Server, TestDb, on_each_server};

const DATA: &str = "SELECT id, email, name, is_admin, slug FROM users ORDER BY id;\n\
                    SELECT id, user_id, title, body, published_at FROM posts ORDER BY id;";

async fn online_equals_offline(online: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project_at(&online.url, Overrides::default()).await;
    let steps = project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(online.version_ids(), EXAMPLE_IDS);
    let data = online.sql(DATA);
    assert!(data.contains("Maeve O'Brien"), "{data}");
    assert!(data.contains("zoë-\"zed\"-park"), "{data}");

    let offline = TestDb::create(online.server).expect("the server is up");
    let script = online
        .script_of(&project, Direction::Upgrade, "heads")
        .await;
    offline.apply(&script);
    assert_eq!(offline.schema(), online.schema());
    assert_eq!(offline.version_ids(), online.version_ids());
    assert_eq!(offline.sql(DATA), data);

    // And back down: both end with nothing but an empty version table.
    let down = online
        .script_of(&project, Direction::Downgrade, "heads:base")
        .await;
    offline.apply(&down);
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(offline.schema(), online.schema());
    assert!(online.version_ids().is_empty());
    assert!(offline.version_ids().is_empty());
    assert!(!online.schema().contains("users"), "{}", online.schema());
}

async fn values_survive_the_script(online: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(LITERAL_VALUES);
    let project = s.project_at(&online.url, Overrides::default()).await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    let offline = TestDb::create(online.server).expect("the server is up");
    let script = online
        .script_of(&project, Direction::Upgrade, "heads")
        .await;
    offline.apply(&script);
    let values = match online.server {
        Server::Postgres => {
            "SELECT id, t, md5(t), i, f, b, encode(x, 'hex') FROM literal_values ORDER BY id;"
        }
        Server::Mariadb => "SELECT id, HEX(t), i, f, b, HEX(x) FROM literal_values ORDER BY id;",
    };
    let expected = online.sql(values);
    assert_eq!(
        online.sql("SELECT COUNT(*) FROM literal_values;").trim(),
        "9"
    );
    assert_eq!(offline.sql(values), expected);
    assert_eq!(offline.schema(), online.schema());
}

on_each_server! {
    example_chain_online_equals_offline => online_equals_offline;
    every_value_survives_the_script => values_survive_the_script;
}

#[tokio::test]
async fn a_postgres_schema_holds_the_version_table_and_the_tables() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let with_schema = || Overrides {
        schema: Some("tenant_a".into()),
        ..Overrides::default()
    };
    let project = s.project_at(&db.url, with_schema()).await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(
        db.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_a' ORDER BY 1;"),
        "posts\nretort_version\nretort_version_failures\nusers\n"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public';")
            .trim(),
        "0"
    );
    // A second tenant in the same database is independent.
    let other = s
        .project_at(
            &db.url,
            Overrides {
                schema: Some("tenant_b".into()),
                ..Overrides::default()
            },
        )
        .await;
    assert_eq!(
        other
            .upgrade(&"+1".parse().unwrap(), &mut quiet())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM tenant_b.retort_version;")
            .trim(),
        "1"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM tenant_a.retort_version;")
            .trim(),
        "4"
    );

    let offline = TestDb::create(Server::Postgres).unwrap();
    let script = project
        .script(
            Direction::Upgrade,
            &"heads".parse().unwrap(),
            Dialect::Postgres,
            &mut quiet(),
        )
        .await
        .unwrap();
    assert!(
        script.contains("SET search_path TO \"tenant_a\";"),
        "{script}"
    );
    offline.apply(&script);
    assert_eq!(
        offline.schema_in(Some("tenant_a")),
        db.schema_in(Some("tenant_a"))
    );
}

#[tokio::test]
async fn a_schema_on_mariadb_is_refused() {
    let Some(db) = TestDb::create(Server::Mariadb) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s
        .project_at(
            &db.url,
            Overrides {
                schema: Some("x".into()),
                ..Overrides::default()
            },
        )
        .await;
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a schema is a PostgreSQL setting"),
        "{err}"
    );
}
