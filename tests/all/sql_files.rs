//! Plain SQL revisions: layouts, metadata, bodies that hold `;`, one
//! statement at a time with its own line, online equal to offline equal to
//! the database's own client applying the same files.

use std::process::{Command, Stdio};

use retort::{Dialect, Direction, Overrides, Target};

use crate::common::{
    Scratch, quiet, retort_on, schema, sqlite3, sqlite3_script, text, version_ids,
};
use crate::servers::{Server, TestDb, on_each_server, without_host_tables};

const IDS: [&str; 3] = ["5a1000000001", "5a1000000002", "5a1000000003"];

/// The chain in `dialect`: a sectioned file, an up/down pair with a body
/// that holds `;`s, and a non-transactional index. Each is (file, text).
fn chain(dialect: Dialect) -> Vec<(&'static str, String)> {
    let users = format!(
        "-- retort: id={} parents=none message=\"users; with a semicolon\"\n\
         -- A comment; with a semicolon.\n\
         -- retort:up\n\
         CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n\
         /* a block; comment */\n\
         INSERT INTO users (id, name) VALUES (1, 'semi;colon'), (2, 'Avañe''ẽ');\n\
         -- retort:down\n\
         DROP TABLE users;\n",
        IDS[0]
    );
    let (body_up, body_down) = match dialect {
        Dialect::Postgres => (
            "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $body$\n\
             BEGIN\n  NEW.name := upper(NEW.name); -- a comment; inside\n  RETURN NEW;\nEND;\n$body$;\n\
             CREATE TRIGGER users_shout BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION shout();\n\
             INSERT INTO users (id, name) VALUES (3, 'quiet');\n",
            "DROP TRIGGER users_shout ON users;\nDROP FUNCTION shout();\nDELETE FROM users WHERE id = 3;\n",
        ),
        Dialect::Mysql => (
            "CREATE TRIGGER users_shout BEFORE INSERT ON users FOR EACH ROW\nBEGIN\n  \
             SET NEW.name = UPPER(NEW.name);\n  IF NEW.id < 0 THEN SET NEW.id = 0; END IF;\nEND;\n\
             INSERT INTO users (id, name) VALUES (3, 'quiet');\n",
            "DROP TRIGGER users_shout;\nDELETE FROM users WHERE id = 3;\n",
        ),
        Dialect::Sqlite => (
            "CREATE TRIGGER users_shout AFTER INSERT ON users\nBEGIN\n  \
             UPDATE users SET name = upper(name) WHERE id = NEW.id;\n  \
             SELECT CASE WHEN NEW.id < 0 THEN RAISE(ABORT, 'negative; id') END;\nEND;\n\
             INSERT INTO users (id, name) VALUES (3, 'quiet');\n",
            "DROP TRIGGER users_shout;\nDELETE FROM users WHERE id = 3;\n",
        ),
    };
    let index = if dialect == Dialect::Postgres {
        "CREATE INDEX CONCURRENTLY users_by_name ON users (name);"
    } else {
        "CREATE INDEX users_by_name ON users (name);"
    };
    vec![
        ("0001_users.sql", users),
        (
            "0002_shout.up.sql",
            format!(
                "-- retort: id={} parents={} message=\"a body with semicolons\"\n{body_up}",
                IDS[1], IDS[0]
            ),
        ),
        ("0002_shout.down.sql", body_down.to_string()),
        (
            "0003_index.sql",
            format!(
                "-- retort: id={} parents={} message=\"an index\" transactional=false\n\
                 -- retort:up\n{index}\n-- retort:down\nDROP INDEX users_by_name{};\n",
                IDS[2],
                IDS[1],
                if dialect == Dialect::Mysql {
                    " ON users"
                } else {
                    ""
                }
            ),
        ),
    ]
}

fn write_chain(s: &Scratch, dialect: Dialect) {
    for (name, text) in chain(dialect) {
        s.write(name, text.as_bytes());
    }
}

/// The up halves of the chain, as one file for the database's own client.
fn up_text(dialect: Dialect) -> String {
    chain(dialect)
        .into_iter()
        .filter(|(name, _)| !name.ends_with(".down.sql"))
        .map(|(_, text)| match text.split_once("-- retort:up\n") {
            Some((_, rest)) => rest.split("-- retort:down\n").next().unwrap().to_string(),
            None => text,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const USERS: &str = "SELECT id, name FROM users ORDER BY id;";

#[tokio::test]
async fn a_sql_chain_on_sqlite_online_offline_and_by_sqlite3_agree() {
    let s = Scratch::new(&[]);
    write_chain(&s, Dialect::Sqlite);
    let project = s.project().await;
    let steps = project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(steps.len(), 3);
    let online = s.db("app.db");
    assert_eq!(version_ids(&online), IDS);
    assert_eq!(
        sqlite3(&online, USERS),
        "1|semi;colon\n2|Avañe'ẽ\n3|QUIET\n"
    );
    let recorded = sqlite3(
        &online,
        &format!(
            "SELECT sha256 FROM retort_version WHERE revision_id = '{}'",
            IDS[0]
        ),
    );
    assert_eq!(
        recorded.trim(),
        crate::scripts::sha256sum(&s.migrations.join("0001_users.sql"))
    );

    let script = s.sqlite_script(Direction::Upgrade, "heads").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &script);
    assert_eq!(schema(&offline), schema(&online));
    assert_eq!(sqlite3(&offline, USERS), sqlite3(&online, USERS));

    let direct = s.db("direct.db");
    sqlite3_script(&direct, &up_text(Dialect::Sqlite));
    let user_schema = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name NOT LIKE 'retort_%' ORDER BY 1, 2";
    assert_eq!(sqlite3(&direct, user_schema), sqlite3(&online, user_schema));
    assert_eq!(sqlite3(&direct, USERS), sqlite3(&online, USERS));

    let down = s.sqlite_script(Direction::Downgrade, "heads:base").await;
    sqlite3_script(&offline, &down);
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert!(version_ids(&online).is_empty());
    assert_eq!(schema(&offline), schema(&online));
    assert!(!schema(&online).contains("users"), "{}", schema(&online));
}

/// Applies `text` with the server's own client, as one would by hand.
fn apply_directly(db: &TestDb, text: &str) {
    match db.server {
        Server::Postgres => db.apply(text),
        Server::Mariadb => {
            // The mysql client splits at `;` and needs DELIMITER around a
            // BEGIN … END body; with a delimiter the file never holds, it
            // sends the file whole and the server's parser splits it.
            let mut child = Command::new("mariadb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-P",
                    "3306",
                    "-u",
                    "root",
                    "-D",
                    &db.name,
                ])
                .args(["--default-character-set=utf8mb4", "--delimiter=@@@@"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

async fn sql_chain_online_offline_and_by_the_client_agree(online: TestDb) {
    let dialect = online.server.dialect();
    let s = Scratch::new(&[]);
    write_chain(&s, dialect);
    let project = s.project_at(&online.url, Overrides::default()).await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(online.version_ids(), IDS);
    let separator = if online.server == Server::Postgres {
        "|"
    } else {
        "\t"
    };
    assert_eq!(
        online.sql(USERS),
        format!("1{separator}semi;colon\n2{separator}Avañe'ẽ\n3{separator}QUIET\n")
    );

    let offline = TestDb::create(online.server).unwrap();
    offline.apply(
        &online
            .script_of(&project, Direction::Upgrade, "heads")
            .await,
    );
    assert_eq!(offline.schema(), online.schema());
    assert_eq!(offline.sql(USERS), online.sql(USERS));

    let direct = TestDb::create(online.server).unwrap();
    apply_directly(&direct, &up_text(dialect));
    assert_eq!(
        without_host_tables(&direct.schema()),
        without_host_tables(&online.schema())
    );
    assert_eq!(direct.sql(USERS), online.sql(USERS));

    offline.apply(
        &online
            .script_of(&project, Direction::Downgrade, "heads:base")
            .await,
    );
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(offline.schema(), online.schema());
    assert!(online.version_ids().is_empty());
}

on_each_server! {
    sql_chain_agrees => sql_chain_online_offline_and_by_the_client_agree;
}

/// Fifty statements, the 31st of which fails (line 33 of the file).
fn fifty_statements_one_broken() -> String {
    let mut text = format!(
        "-- retort: id={} parents=none message=\"fifty\"\n-- retort:up\n",
        IDS[0]
    );
    for i in 1..=50 {
        if i == 31 {
            text.push_str("INSERT INTO nowhere VALUES (31);\n");
        } else {
            text.push_str(&format!("CREATE TABLE t{i} (x INTEGER);\n"));
        }
    }
    text.push_str("-- retort:down\nSELECT 1;\n");
    text
}

#[test]
fn a_failing_statement_names_its_own_line_and_nothing_stays() {
    let s = Scratch::new(&[]);
    s.write("0001_fifty.sql", fifty_statements_one_broken().as_bytes());
    let out = retort_on(s.dir.path(), &s.url(), &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("0001_fifty.sql:33: "), "{stderr}");
    assert!(stderr.contains("no such table: nowhere"), "{stderr}");
    assert!(
        stderr.contains("INSERT INTO nowhere VALUES (31)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("CREATE TABLE t30"),
        "only the failing statement is shown: {stderr}"
    );
    assert!(version_ids(&s.db("app.db")).is_empty());
    assert_eq!(
        sqlite3(
            &s.db("app.db"),
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 't%'"
        ),
        "0\n",
        "rolled back"
    );
}

async fn a_failing_statement_on_a_server(db: TestDb) {
    let s = Scratch::new(&[]);
    s.write("0001_fifty.sql", fifty_statements_one_broken().as_bytes());
    let project = s.project_at(&db.url, Overrides::default()).await;
    let error = format!(
        "{:#}",
        project
            .upgrade(&Target::Heads, &mut quiet())
            .await
            .unwrap_err()
    );
    assert!(error.contains("0001_fifty.sql:33: "), "{error}");
    assert!(db.sql("SELECT count(*) FROM retort_version;").trim() == "0");
}

on_each_server! {
    failing_statement_line => a_failing_statement_on_a_server;
}

#[test]
fn sql_files_are_held_to_the_host_rules_and_their_mistakes_name_the_line() {
    // The version table is the host's: a SQL revision is refused before it
    // is sent, naming the file and line.
    let s = Scratch::new(&[]);
    write_chain(&s, Dialect::Sqlite);
    let url = s.url();
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    s.write(
        "0004_meddles.sql",
        format!(
            "-- retort: id=5a1000000004 parents={}\n\nUPDATE users SET name = 'x';\nDELETE FROM retort_version;\n",
            IDS[2]
        )
        .as_bytes(),
    );
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0004_meddles.sql:4: "), "{stderr}");
    assert!(stderr.contains("retort_version"), "{stderr}");
    assert_eq!(version_ids(&s.db("app.db")), IDS);
    assert_eq!(
        sqlite3(
            &s.db("app.db"),
            "SELECT count(*) FROM users WHERE name = 'x'"
        ),
        "0\n"
    );
    std::fs::remove_file(s.migrations.join("0004_meddles.sql")).unwrap();

    // Editing an applied file is drift.
    let path = s.migrations.join("0001_users.sql");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("NOT NULL", "NULL");
    std::fs::write(&path, edited).unwrap();
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(IDS[0]) && stderr.contains("0001_users.sql"),
        "{stderr}"
    );

    // Metadata mistakes and strays, before anything runs.
    for (name, contents, expected) in [
        (
            "0009_x.sql",
            "-- retort: id=5a1000000009 parnets=x\nSELECT 1;\n",
            "0009_x.sql:1: unknown key \"parnets\"",
        ),
        (
            "0009_x.sql",
            "SELECT 1;\n",
            "0009_x.sql:1: a SQL revision starts with its metadata",
        ),
        (
            "0009_x.down.sql",
            "SELECT 1;\n",
            "a .down.sql file with no 0009_x.up.sql beside it",
        ),
        ("0009_x.sql", "-- retort: id=bad!id\nSELECT 1;\n", "bad!id"),
    ] {
        let fresh = Scratch::new(&[]);
        fresh.write(name, contents.as_bytes());
        let out = retort_on(fresh.dir.path(), &fresh.url(), &["history"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
}

#[test]
fn a_sql_revision_without_a_down_says_so_and_changes_nothing() {
    let s = Scratch::new(&[]);
    s.write(
        "0001_one_way.sql",
        format!(
            "-- retort: id={} parents=none\nCREATE TABLE kept (x INTEGER);\n",
            IDS[0]
        )
        .as_bytes(),
    );
    let url = s.url();
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let out = retort_on(s.dir.path(), &url, &["downgrade", "base"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("0001_one_way.sql: it has no downgrade"),
        "{stderr}"
    );
    assert_eq!(version_ids(&s.db("app.db")), [IDS[0]]);
    assert_eq!(
        sqlite3(
            &s.db("app.db"),
            "SELECT name FROM sqlite_master WHERE name = 'kept'"
        ),
        "kept\n"
    );
}

#[tokio::test]
async fn several_statements_with_parameters_are_refused_online_and_offline_alike() {
    let s = Scratch::new(&[]);
    s.write(
        "0001_table.sql",
        format!(
            "-- retort: id={} parents=none\nCREATE TABLE t (x INTEGER);\n",
            IDS[0]
        )
        .as_bytes(),
    );
    s.write(
        "0002_two.js",
        format!(
            "exports.id = '{}';\nexports.parents = '{}';\nexports.upgrade = () => {{\n  db.execute('INSERT INTO t VALUES ($1); INSERT INTO t VALUES (2)', [1]);\n}};\nexports.downgrade = () => {{}};\n",
            IDS[1], IDS[0]
        )
        .as_bytes(),
    );
    let project = s.project().await;
    let online = format!(
        "{:#}",
        project
            .upgrade(&Target::Heads, &mut quiet())
            .await
            .unwrap_err()
    );
    assert!(
        online.contains("a statement with parameters must be one statement"),
        "{online}"
    );
    assert_eq!(version_ids(&s.db("app.db")), [IDS[0]]);
    let offline = project
        .script(
            Direction::Upgrade,
            &"heads".parse().unwrap(),
            Dialect::Sqlite,
            &mut quiet(),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{offline:#}").contains("a statement with parameters must be one statement"),
        "{offline:#}"
    );
}

#[test]
fn postgres_notices_are_shown_with_their_revision_and_in_json() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&[]);
    s.write(
        "0001_cascade.sql",
        format!(
            "-- retort: id={} parents=none\n-- retort:up\nCREATE TABLE a (id int PRIMARY KEY);\nCREATE VIEW v AS SELECT * FROM a;\nDROP TABLE a CASCADE;\n-- retort:down\nDROP TABLE IF EXISTS nothing_here;\n",
            IDS[0]
        )
        .as_bytes(),
    );
    let url = db.url.clone();
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("info: database: drop cascades to view v"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("drop cascades").count(), 1, "once: {stderr}");
    let out = retort_on(
        s.dir.path(),
        &url,
        &["--format", "json", "downgrade", "base"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let log = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "log")
        .unwrap_or_else(|| panic!("a log event: {stdout}"));
    assert_eq!(log["level"], "info", "{log}");
    assert_eq!(
        log["message"], "database: table \"nothing_here\" does not exist, skipping",
        "{log}"
    );
}

#[test]
fn mysql_warnings_are_shown_with_their_revision_and_in_json() {
    let Some(db) = TestDb::create(Server::Mariadb) else {
        return;
    };
    let s = Scratch::new(&[]);
    s.write(
        "0001_warn.sql",
        format!(
            "-- retort: id={} parents=none transactional=false\n-- retort:up\nCREATE TABLE a (id int PRIMARY KEY);\nDROP TABLE IF EXISTS nothing_here;\nDO CAST('12abc' AS SIGNED);\n-- retort:down\nDROP TABLE a;\n",
            IDS[0]
        )
        .as_bytes(),
    );
    let url = db.url.clone();
    let out = retort_on(s.dir.path(), &url, &["--format", "json", "upgrade"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let logs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "log")
        .collect();
    let messages: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(messages.len(), 2, "{stdout}");
    assert_eq!(messages[0].0, "info");
    assert!(
        messages[0]
            .1
            .starts_with("database: Note 1051: Unknown table")
            && messages[0].1.contains("nothing_here"),
        "{messages:?}"
    );
    assert_eq!(messages[1].0, "warn");
    assert!(
        messages[1]
            .1
            .starts_with("database: Warning 1292: Truncated incorrect INTEGER value: '12abc'"),
        "{messages:?}"
    );
    // At the default verbosity too; the downgrade, which warns of nothing, says nothing.
    let out = retort_on(s.dir.path(), &url, &["downgrade", "base"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("database:"), "{stderr}");
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("warn: database: Warning 1292"), "{stderr}");
}

#[test]
fn a_scaffolded_sql_revision_needs_no_build_and_applies() {
    let s = Scratch::new(&[]);
    write_chain(&s, Dialect::Sqlite);
    let url = s.url();
    let out = retort_on(
        s.dir.path(),
        &url,
        &["revision", "--lang", "sql", "-m", "add notes"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("(follows {})", IDS[2])),
        "{stdout}"
    );
    assert!(stdout.contains("no build step"), "{stdout}");
    assert!(!stdout.contains("retort build"), "{stdout}");
    let out = retort_on(s.dir.path(), &url, &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(version_ids(&s.db("app.db")).len(), 4);
}
