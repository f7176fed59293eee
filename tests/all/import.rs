//! `retort import`: each tool's history in the tool's exact layout,
//! imported, applied online and offline on PostgreSQL, and compared with
//! the same files applied by psql (and a sqlx history by sqlx's own
//! `Migrator`).

use std::path::Path;

use crate::common::{retort, retort_on, text};
use crate::servers::{Server, TestDb, without_host_tables};

/// The four migrations every history holds: (version, name, up, down).
/// The second has a dollar-quoted body, the third an index that cannot be
/// built in a transaction, the fourth a down that fails.
const MIGRATIONS: [(&str, &str, &str, &str); 4] = [
    (
        "20240101000001",
        "items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
        "DROP TABLE items;\n",
    ),
    (
        "20240101000002",
        "item_name",
        "CREATE FUNCTION item_name(i integer) RETURNS text LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN (SELECT name FROM items WHERE id = i); -- one; two\nEND;\n$$;\n",
        "DROP FUNCTION item_name(integer);\n",
    ),
    (
        "20240101000003",
        "index_names",
        "CREATE INDEX CONCURRENTLY items_by_name ON items (name);\n",
        "DROP INDEX items_by_name;\n",
    ),
    (
        "20240101000004",
        "seed",
        "INSERT INTO items (id, name) VALUES (1, 'Avañe''ẽ; one');\n",
        "DELETE FROM no_such_table;\n",
    ),
];

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// Writes the history as `tool` lays it out.
fn write_history(tool: &str, dir: &Path) {
    for (index, (version, name, up, down)) in MIGRATIONS.iter().enumerate() {
        let n = index + 1;
        let concurrent = up.contains("CONCURRENTLY");
        match tool {
            "sqlx" => {
                let up = if concurrent {
                    format!("-- no-transaction\n{up}")
                } else {
                    up.to_string()
                };
                write(&dir.join(format!("{version}_{name}.up.sql")), &up);
                write(&dir.join(format!("{version}_{name}.down.sql")), down);
            }
            "golang-migrate" => {
                write(&dir.join(format!("{n:06}_{name}.up.sql")), up);
                write(&dir.join(format!("{n:06}_{name}.down.sql")), down);
            }
            "goose" => {
                let body = if up.contains("$$") {
                    format!("-- +goose StatementBegin\n{up}-- +goose StatementEnd\n")
                } else {
                    up.to_string()
                };
                let no_tx = if concurrent {
                    "-- +goose NO TRANSACTION\n"
                } else {
                    ""
                };
                write(
                    &dir.join(format!("{version}_{name}.sql")),
                    &format!("{no_tx}-- +goose Up\n{body}\n-- +goose Down\n{down}"),
                );
            }
            "dbmate" => {
                let tx = if concurrent { " transaction:false" } else { "" };
                write(
                    &dir.join(format!("{version}_{name}.sql")),
                    &format!("-- migrate:up{tx}\n{up}\n-- migrate:down\n{down}"),
                );
            }
            "flyway" => {
                write(&dir.join(format!("V{n}__{name}.sql")), up);
                write(&dir.join(format!("U{n}__{name}.sql")), down);
                if concurrent {
                    write(
                        &dir.join(format!("V{n}__{name}.sql.conf")),
                        "executeInTransaction=false\n",
                    );
                }
            }
            "diesel" => {
                let d = dir.join(format!("2024-01-01-00000{n}_{name}"));
                write(&d.join("up.sql"), up);
                write(&d.join("down.sql"), down);
                if concurrent {
                    write(&d.join("metadata.toml"), "run_in_transaction = false\n");
                }
            }
            other => panic!("no layout for {other}"),
        }
    }
    // What cannot come over is named, not lost.
    match tool {
        "goose" => write(
            &dir.join("20240101000005_backfill.go"),
            "package migrations\n",
        ),
        "flyway" => write(
            &dir.join("R__views.sql"),
            "CREATE OR REPLACE VIEW v AS SELECT 1;\n",
        ),
        _ => {}
    }
}

/// `retort import TOOL HISTORY --into migrations` in `cwd`.
fn import_into_migrations(cwd: &Path, tool: &str, history: &Path) -> std::process::Output {
    retort(
        cwd,
        &[
            "import",
            tool,
            history.to_str().unwrap(),
            "--into",
            "migrations",
        ],
    )
}

const ITEMS: &str = "SELECT id, name, item_name(id) FROM items ORDER BY id;";

#[test]
fn every_tool_history_imports_and_applies_as_psql_applies_it() {
    for tool in [
        "sqlx",
        "golang-migrate",
        "goose",
        "dbmate",
        "flyway",
        "diesel",
    ] {
        let Some(online) = TestDb::create(Server::Postgres) else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let history = tmp.path().join("history");
        write_history(tool, &history);
        let out = import_into_migrations(tmp.path(), tool, &history);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{tool}: {stderr}");
        assert!(
            stdout.contains(&format!("Imported 4 {tool} migration(s)")),
            "{tool}: {stdout}"
        );
        match tool {
            "goose" => assert!(
                stderr.contains("20240101000005_backfill.go: a Go migration"),
                "{stderr}"
            ),
            "flyway" => assert!(
                stderr.contains("R__views.sql: a repeatable migration"),
                "{stderr}"
            ),
            _ => {}
        }
        let migrations = tmp.path().join("migrations");
        // The SQL is the original, byte for byte, after the header.
        let mut ups: Vec<_> = std::fs::read_dir(&migrations)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
            .collect();
        ups.sort();
        assert_eq!(ups.len(), 4, "{tool}: {ups:?}");
        for (path, (_, _, up, down)) in ups.iter().zip(MIGRATIONS) {
            let written = std::fs::read_to_string(path).unwrap();
            assert!(written.starts_with("-- retort: id="), "{tool}: {written}");
            assert!(written.contains(up), "{tool}: {written}");
            let down_path = path.to_string_lossy().replace(".up.sql", ".down.sql");
            assert_eq!(std::fs::read_to_string(down_path).unwrap(), down, "{tool}");
        }
        // A second import into the same place overwrites nothing.
        let again = import_into_migrations(tmp.path(), tool, &history);
        assert_eq!(again.status.code(), Some(2), "{tool}");
        assert!(
            text(&again).1.contains("exists already"),
            "{tool}: {}",
            text(&again).1
        );

        let url = online.url.clone();
        let out = retort_on(tmp.path(), &url, &["upgrade"]);
        assert_eq!(out.status.code(), Some(0), "{tool}: {}", text(&out).1);
        assert_eq!(online.version_ids().len(), 4, "{tool}");
        let data = online.sql(ITEMS);
        assert_eq!(data, "1|Avañe'ẽ; one|Avañe'ẽ; one\n", "{tool}");

        let offline = TestDb::create(Server::Postgres).unwrap();
        let out = retort_on(tmp.path(), &offline.url, &["upgrade", "--sql"]);
        assert_eq!(out.status.code(), Some(0), "{tool}: {}", text(&out).1);
        offline.apply(&text(&out).0);
        assert_eq!(offline.schema(), online.schema(), "{tool}");
        assert_eq!(offline.sql(ITEMS), data, "{tool}");

        let direct = TestDb::create(Server::Postgres).unwrap();
        for (_, _, up, _) in MIGRATIONS {
            direct.apply(up);
        }
        assert_eq!(
            without_host_tables(&direct.schema()),
            without_host_tables(&online.schema()),
            "{tool}"
        );

        // The failing down is reported with its file and line, and the
        // version table still tells the truth.
        let out = retort_on(tmp.path(), &url, &["downgrade", "-1"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
        assert!(stderr.contains(".down.sql:1: "), "{tool}: {stderr}");
        assert!(stderr.contains("no_such_table"), "{tool}: {stderr}");
        assert_eq!(online.version_ids().len(), 4, "{tool}");
        assert_eq!(online.sql(ITEMS), data, "{tool}");
    }
}

#[tokio::test]
async fn a_sqlx_history_applied_by_sqlx_and_by_retort_agree() {
    let Some(by_sqlx) = TestDb::create(Server::Postgres) else {
        return;
    };
    let by_retort = TestDb::create(Server::Postgres).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    write_history("sqlx", &history);

    let migrator = sqlx::migrate::Migrator::new(history.as_path())
        .await
        .unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&by_sqlx.url)
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();

    let out = import_into_migrations(tmp.path(), "sqlx", &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let out = retort_on(tmp.path(), &by_retort.url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        without_host_tables(&by_retort.schema()),
        without_host_tables(&by_sqlx.schema())
    );
    assert_eq!(by_retort.sql(ITEMS), by_sqlx.sql(ITEMS));
}

#[test]
fn a_history_that_is_not_the_tools_is_refused_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    write(&history.join("README.md"), "not a migration\n");
    let out = retort(
        tmp.path(),
        &[
            "import",
            "golang-migrate",
            history.to_str().unwrap(),
            "--into",
            "out",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no golang-migrate migrations in"),
        "{stderr}"
    );
    assert!(!tmp.path().join("out").exists());
    let out = retort(
        tmp.path(),
        &["import", "sqlx", "/nonexistent", "--into", "out"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("is not a directory"),
        "{}",
        text(&out).1
    );
}

/// `dir` holding only the first `n` migrations of the sqlx history.
fn sqlx_history_of(dir: &Path, n: usize) {
    let full = dir.with_extension("full");
    write_history("sqlx", &full);
    std::fs::create_dir_all(dir).unwrap();
    for (version, name, _, _) in &MIGRATIONS[..n] {
        for half in ["up", "down"] {
            let file = format!("{version}_{name}.{half}.sql");
            std::fs::copy(full.join(&file), dir.join(&file)).unwrap();
        }
    }
}

#[tokio::test]
async fn adopt_continues_where_sqlx_stopped_and_refuses_a_changed_file() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    // sqlx applies the first two; the team then writes two more.
    sqlx_history_of(&history, 2);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(history.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    write_history("sqlx", &history);
    let out = import_into_migrations(tmp.path(), "sqlx", &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let url = db.url.clone();

    // A file changed since sqlx applied it: nothing is stamped.
    let first = history.join("20240101000001_items.up.sql");
    let original = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, original.replace("NOT NULL", "NULL")).unwrap();
    let out = retort_on(
        tmp.path(),
        &url,
        &["adopt", "sqlx", history.to_str().unwrap()],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("20240101000001_items.up.sql: changed after sqlx applied it"),
        "{stderr}"
    );
    assert_eq!(db.sql("SELECT count(*) FROM retort_version;").trim(), "0");
    std::fs::write(&first, original).unwrap();

    let out = retort_on(
        tmp.path(),
        &url,
        &["adopt", "sqlx", history.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("had applied 2 migration(s), now recorded as applied up to 20240101000002"),
        "{stdout}"
    );
    assert_eq!(db.version_ids(), ["20240101000001", "20240101000002"]);
    let out = retort_on(tmp.path(), &url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(db.version_ids().len(), 4);

    let whole = TestDb::create(Server::Postgres).unwrap();
    for (_, _, up, _) in MIGRATIONS {
        whole.apply(up);
    }
    assert_eq!(
        without_host_tables(&whole.schema()),
        without_host_tables(&db.schema())
    );
    assert_eq!(whole.sql(ITEMS), db.sql(ITEMS));
}

#[test]
fn adopt_refuses_a_dirty_golang_migrate_and_reads_dbmate_and_goose() {
    for (tool, table_sql, expected) in [
        (
            "golang-migrate",
            "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, true);",
            Err("golang-migrate left migration 2 dirty"),
        ),
        (
            "golang-migrate",
            "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, false);",
            Ok(2),
        ),
        (
            "dbmate",
            "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000001'), ('20240101000002'), ('20240101000003');",
            Ok(3),
        ),
        (
            "goose",
            "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL); INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (20240101000001, true), (20240101000002, true), (20240101000002, false);",
            Ok(1),
        ),
        (
            "dbmate",
            "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000002');",
            Err("dbmate applied later migrations but not 20240101000001"),
        ),
    ] {
        let Some(db) = TestDb::create(Server::Postgres) else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let history = tmp.path().join("history");
        write_history(tool, &history);
        let out = import_into_migrations(tmp.path(), tool, &history);
        assert_eq!(out.status.code(), Some(0), "{tool}: {}", text(&out).1);
        db.sql(table_sql);
        let out = retort_on(
            tmp.path(),
            &db.url,
            &["adopt", tool, history.to_str().unwrap()],
        );
        let (stdout, stderr) = text(&out);
        match expected {
            Ok(n) => {
                assert_eq!(out.status.code(), Some(0), "{tool}: {stderr}");
                assert!(
                    stdout.contains(&format!("had applied {n} migration(s)")),
                    "{tool}: {stdout}"
                );
                assert_eq!(db.version_ids().len(), n, "{tool}");
            }
            Err(message) => {
                assert_eq!(out.status.code(), Some(2), "{tool}: {stderr}");
                assert!(stderr.contains(message), "{tool}: {stderr}");
                assert!(stderr.contains("nothing was stamped"), "{tool}: {stderr}");
                let stamped = db.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'retort_version';");
                if stamped.trim() == "1" {
                    assert!(db.version_ids().is_empty(), "{tool}");
                }
            }
        }
    }
}

/// A history for one database: (version, name, up, down); the second
/// holds a body with `;` inside (a trigger, a procedure), the third's down
/// fails.
type History = [(&'static str, &'static str, &'static str, &'static str); 3];

const SQLITE_HISTORY: History = [
    (
        "20240101000001",
        "items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
        "DROP TABLE items;\n",
    ),
    (
        "20240101000002",
        "upper",
        "CREATE TRIGGER items_upper AFTER INSERT ON items BEGIN\n  UPDATE items SET name = upper(name) WHERE id = NEW.id; -- one; two\nEND;\n",
        "DROP TRIGGER items_upper;\n",
    ),
    (
        "20240101000003",
        "seed",
        "INSERT INTO items (id, name) VALUES (1, 'avañe''ẽ; one');\n",
        "DELETE FROM no_such_table;\n",
    ),
];

const MARIADB_HISTORY: History = [
    (
        "20240101000001",
        "items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n",
        "DROP TABLE items;\n",
    ),
    (
        "20240101000002",
        "add_item",
        // No comment in the body: the mariadb client (the witness) strips
        // comments from what it sends, Retort sends the text as written.
        "CREATE PROCEDURE add_item(i INT)\nBEGIN\n  INSERT INTO items (id, name) VALUES (i, 'avañe''ẽ; one');\nEND;\n",
        "DROP PROCEDURE add_item;\n",
    ),
    (
        "20240101000003",
        "seed",
        "CALL add_item(1);\n",
        "DELETE FROM no_such_table;\n",
    ),
];

/// Writes `history` as goose (`-- +goose` sections) or sqlx (`.up.sql`/`.down.sql`) lays it out.
fn write_small_history(tool: &str, history: &History, dir: &Path) {
    for (version, name, up, down) in history {
        match tool {
            "goose" => write(
                &dir.join(format!("{version}_{name}.sql")),
                &format!(
                    "-- +goose Up\n-- +goose StatementBegin\n{up}-- +goose StatementEnd\n\n-- +goose Down\n{down}"
                ),
            ),
            _ => {
                write(&dir.join(format!("{version}_{name}.up.sql")), up);
                write(&dir.join(format!("{version}_{name}.down.sql")), down);
            }
        }
    }
}

#[test]
fn a_sqlite_history_imports_and_applies_as_sqlite3_applies_it() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    write_small_history("sqlx", &SQLITE_HISTORY, &history);
    let out = import_into_migrations(tmp.path(), "sqlx", &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let schema = |db: &Path| {
        crate::common::sqlite3(
            db,
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '%retort%' ORDER BY 1, 2;",
        )
    };
    let items = "SELECT id, name FROM items ORDER BY id;";

    let online = tmp.path().join("online.db");
    let url = format!("sqlite://{}", online.display());
    let out = retort_on(tmp.path(), &url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(crate::common::version_ids(&online).len(), 3);
    assert_eq!(crate::common::sqlite3(&online, items), "1|AVAñE'ẽ; ONE\n");

    let offline = tmp.path().join("offline.db");
    let out = retort_on(
        tmp.path(),
        &format!("sqlite://{}", offline.display()),
        &["upgrade", "--sql"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    crate::common::sqlite3_script(&offline, &text(&out).0);

    let direct = tmp.path().join("direct.db");
    for (_, _, up, _) in SQLITE_HISTORY {
        crate::common::sqlite3_script(&direct, up);
    }
    assert_eq!(schema(&online), schema(&direct));
    assert_eq!(schema(&offline), schema(&direct));
    assert_eq!(
        crate::common::sqlite3(&offline, items),
        crate::common::sqlite3(&direct, items)
    );

    let out = retort_on(tmp.path(), &url, &["downgrade", "-1"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("20240101000003_seed.down.sql:1: "),
        "{stderr}"
    );
    assert_eq!(crate::common::version_ids(&online).len(), 3);
}

#[test]
fn a_mariadb_history_imports_and_applies_as_the_mariadb_client_applies_it() {
    let Some(online) = TestDb::create(Server::Mariadb) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    write_small_history("goose", &MARIADB_HISTORY, &history);
    let out = import_into_migrations(tmp.path(), "goose", &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let routines = "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE();";
    let items = "SELECT id, name FROM items ORDER BY id;";

    let out = retort_on(tmp.path(), &online.url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(online.version_ids().len(), 3);
    assert_eq!(online.sql(items), "1\tavañe'ẽ; one\n");

    let offline = TestDb::create(Server::Mariadb).unwrap();
    let out = retort_on(tmp.path(), &offline.url, &["upgrade", "--sql"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    offline.apply(&text(&out).0);

    // The client needs DELIMITER around a body; the file as written does not.
    let direct = TestDb::create(Server::Mariadb).unwrap();
    for (_, _, up, _) in MARIADB_HISTORY {
        if up.contains("BEGIN") {
            direct.apply(&format!(
                "DELIMITER //\n{}//\nDELIMITER ;\n",
                up.trim_end().trim_end_matches(';')
            ));
        } else {
            direct.apply(up);
        }
    }
    for db in [&online, &offline] {
        assert_eq!(
            without_host_tables(&db.schema()),
            without_host_tables(&direct.schema())
        );
        assert_eq!(db.sql(routines), direct.sql(routines));
        assert_eq!(db.sql(items), direct.sql(items));
    }

    let out = retort_on(tmp.path(), &online.url, &["downgrade", "-1"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(".down.sql:1: "), "{stderr}");
    assert_eq!(online.version_ids().len(), 3);
}
