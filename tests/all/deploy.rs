//! `run`/`upgrade`/`downgrade` for deploy tooling: JSON events (parsed, in
//! order), exit codes 0-4 in JSON and human output, and dry runs whose
//! digest equals the real run's on SQLite, PostgreSQL and MariaDB.

use std::path::Path;

use retort_tests::{BRANCHING, COMMITS_ITSELF, EXAMPLE_CHAIN, EXAMPLE_IDS, FAIL_SECOND_STATEMENT};
use serde_json::Value;

use crate::common::{Scratch, retort_command, sqlite3, text, version_ids};
use crate::servers::{Server, TestDb, on_each_server};

/// Every stdout line parsed as one JSON object (a line that is not JSON fails the test).
pub fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The documented shapes of the run events (docs/run-events.schema.json).
const SCHEMA: &str = include_str!("../../docs/run-events.schema.json");

/// [`events`], each checked against the documented schema.
pub fn run_events(stdout: &str) -> Vec<Value> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let events = events(stdout);
    for event in &events {
        let kind = &event["event"];
        let branch = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| &b["properties"]["event"]["const"] == kind)
            .unwrap_or_else(|| panic!("no schema for event {kind}: {event}"));
        if let Err(e) = conforms(branch, event, "") {
            panic!(
                "{event}
does not match the documented schema: {e}"
            );
        }
    }
    events
}

/// The subset of JSON Schema the events' schema uses: const, enum, type,
/// minimum, the digest's pattern, properties/required/additionalProperties, items.
fn conforms(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{path}: {what}"));
    if let Some(c) = schema.get("const")
        && c != value
    {
        return fail(format!("{value} is not {c}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return fail(format!("{value} is not one of {options:?}"));
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            other => other
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect(),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            other => panic!("type {other} is not supported by this check"),
        });
        if !ok {
            return fail(format!("{value} is not of type {types:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < min
    {
        return fail(format!("{n} < {min}"));
    }
    if let Some(pattern) = schema.get("pattern") {
        assert_eq!(pattern, "^sha256:[0-9a-f]{64}$", "unsupported pattern");
        let hex = value
            .as_str()
            .and_then(|s| s.strip_prefix("sha256:"))
            .unwrap_or("");
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return fail(format!("{value} is not sha256:<64 hex digits>"));
        }
    }
    if let (Some(props), Some(object)) = (schema.get("properties"), value.as_object()) {
        for key in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(key.as_str().unwrap()) {
                return fail(format!("missing {key}"));
            }
        }
        for (key, v) in object {
            match props.get(key) {
                Some(sub) => conforms(sub, v, &format!("{path}.{key}"))?,
                None if schema["additionalProperties"] == false => {
                    return fail(format!("undocumented field {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            conforms(items, v, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

/// The `event` field of each event.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// The one event of `kind`.
pub fn the<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["event"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} event expected: {events:#?}");
    found[0]
}

/// Runs retort against `url` with `args`; (exit code, stdout, stderr).
pub fn run_at(cwd: &Path, migrations: &Path, url: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec![
        "--database-url",
        url,
        "--migrations",
        migrations.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = retort_command(cwd, &all).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn run_json(s: &Scratch, url: &str, args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let (code, stdout, stderr) = run_at(s.dir.path(), &s.migrations, url, &all);
    (code, run_events(&stdout), stderr)
}

#[test]
fn a_run_streams_every_event_in_order() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let (code, events, stderr) = run_json(&s, &s.url(), &["run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "JSON mode keeps stderr quiet: {stderr}");
    let mut expected = vec!["plan"];
    for id in EXAMPLE_IDS {
        expected.push("started");
        if id == "a94d0e6f3c21" {
            expected.push("log");
        }
        expected.push("applied");
    }
    expected.push("done");
    assert_eq!(kinds(&events), expected);

    let plan = &events[0];
    assert_eq!(plan["direction"], "upgrade");
    assert_eq!(plan["goal"], "heads");
    assert_eq!(plan["dry_run"], false);
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, EXAMPLE_IDS);
    assert_eq!(
        plan["steps"][0]["message"],
        "create users and seed the first accounts"
    );

    let applied: Vec<&Value> = events.iter().filter(|e| e["event"] == "applied").collect();
    for (i, (event, id)) in applied.iter().zip(EXAMPLE_IDS).enumerate() {
        assert_eq!(event["id"], id);
        assert_eq!(event["index"], i + 1);
        assert_eq!(event["total"], 4);
        assert!(event["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(event["statements"].as_u64().unwrap() >= 1);
    }
    assert_eq!(applied[0]["statements"], 4, "CREATE TABLE and 3 INSERTs");
    let log = the(&events, "log");
    assert_eq!(log["id"], "a94d0e6f3c21");
    assert_eq!(log["level"], "info");
    assert_eq!(log["message"], "backfilled 3 slugs");

    let done = the(&events, "done");
    assert_eq!(done["status"], "ok");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["count"], 4);
    assert_eq!(done["applied"], serde_json::json!(EXAMPLE_IDS));
    let digest = done["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{digest}"
    );
    let statements: u64 = applied
        .iter()
        .map(|e| e["statements"].as_u64().unwrap())
        .sum();
    assert_eq!(done["statements"], statements);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);

    // Again: nothing to do, still exit 0, an empty plan and the empty digest.
    let (code, events, _) = run_json(&s, &s.url(), &["run"]);
    assert_eq!(code, 0);
    assert_eq!(kinds(&events), ["plan", "done"]);
    assert_eq!(events[0]["count"], 0);
    assert_eq!(events[1]["status"], "nothing_to_do");
    assert_eq!(events[1]["statements"], 0);
}

#[test]
fn a_failing_revision_is_a_failed_event_and_exit_1() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(FAIL_SECOND_STATEMENT);
    let (code, events, stderr) = run_json(&s, &s.url(), &["upgrade"]);
    assert_eq!(code, 1, "{stderr}");
    let k = kinds(&events);
    assert_eq!(&k[k.len() - 3..], ["started", "failed", "done"]);
    let failed = the(&events, "failed");
    assert_eq!(failed["id"], "f00000000002");
    assert_eq!(failed["index"], 5);
    assert_eq!(failed["aftermath"], "rolled_back");
    assert_eq!(failed["completed"], serde_json::json!(EXAMPLE_IDS));
    assert!(
        failed["statement"]
            .as_str()
            .unwrap()
            .contains("no_such_table"),
        "{failed}"
    );
    assert!(
        failed["database_error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such table"),
        "{failed}"
    );
    let done = the(&events, "done");
    assert_eq!(done["status"], "failed");
    assert_eq!(done["exit_code"], 1);
    assert_eq!(done["applied"], serde_json::json!(EXAMPLE_IDS));
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .starts_with("revision f00000000002 failed in upgrade"),
        "{done}"
    );
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}

#[test]
fn exit_codes_2_3_and_4_in_json() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let url = s.url();

    // 2: an unknown target (the run starts, so it ends with `done`).
    let (code, events, _) = run_json(&s, &url, &["upgrade", "nope"]);
    assert_eq!(code, 2);
    assert_eq!(kinds(&events), ["done"]);
    assert_eq!(events[0]["exit_code"], 2);
    assert!(events[0]["error"].as_str().unwrap().contains("nope"));
    // 2: no database URL at all (the command cannot start: one `error` object).
    let out = retort_command(
        s.dir.path(),
        &[
            "--migrations",
            s.migrations.to_str().unwrap(),
            "--format",
            "json",
            "run",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let events = run_events(&text(&out).0);
    assert_eq!(kinds(&events), ["error"]);
    assert_eq!(events[0]["exit_code"], 2);

    // 3: the lock is held.
    let db = s.db("app.db");
    let lock_path = format!("{}.retort-lock", db.display());
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    let (code, events, _) = run_json(&s, &url, &["--lock-timeout", "0.2", "run"]);
    assert_eq!(code, 3);
    assert_eq!(kinds(&events), ["done"]);
    assert_eq!(events[0]["exit_code"], 3);
    assert!(
        events[0]["error"]
            .as_str()
            .unwrap()
            .contains("migration lock")
    );
    drop(holder);

    // 4: an unresolved part-way failure is recorded.
    sqlite3(
        &db,
        "DROP TABLE IF EXISTS retort_version_failures; CREATE TABLE retort_version_failures (revision_id VARCHAR(64) PRIMARY KEY, direction VARCHAR(16), \
         failed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, statement TEXT, error TEXT NOT NULL); \
         INSERT INTO retort_version_failures (revision_id, direction, error) VALUES ('7c2e5b8a4d10', 'upgrade', 'boom');",
    );
    let (code, events, _) = run_json(&s, &url, &["run"]);
    assert_eq!(code, 4);
    assert_eq!(events.last().unwrap()["exit_code"], 4);
    assert!(
        events.last().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("retort resolve 7c2e5b8a4d10")
    );
    // The dry run refuses the same way.
    let (code, events, _) = run_json(&s, &url, &["run", "--dry-run"]);
    assert_eq!(code, 4);
    assert_eq!(events.last().unwrap()["exit_code"], 4);
    // The human form: one error line on stderr, same code.
    let (code, stdout, stderr) = run_at(s.dir.path(), &s.migrations, &url, &["run"]);
    assert_eq!(code, 4);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("error: refusing to run"), "{stderr}");
}

/// The digest of a JSON run's `done` event.
fn digest_of(events: &[Value]) -> String {
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{events:#?}");
    assert_eq!(done["exit_code"], 0, "{done}");
    done["digest"].as_str().unwrap().to_string()
}

#[test]
fn a_sqlite_dry_run_changes_nothing_and_predicts_the_digest() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let db = s.db("app.db");
    let url = s.url();
    // A database that does not exist yet is rehearsed in memory: no file appears.
    let (code, events, _) = run_json(&s, &url, &["run", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(kinds(&events)[0], "plan");
    assert_eq!(events[0]["dry_run"], true);
    let sql = the(&events, "sql");
    assert_eq!(sql["method"], "rehearsal");
    let predicted = digest_of(&events);
    assert!(!db.exists(), "a dry run created the database file");

    // Half-way: the rest of the plan reads the real rows (a94d0e6f3c21
    // queries users and updates each one with a parameter).
    let (code, _, stderr) = run_at(s.dir.path(), &s.migrations, &url, &["upgrade", "7c2e"]);
    assert_eq!(code, 0, "{stderr}");
    sqlite3(
        &db,
        "INSERT INTO users (id, email, name) VALUES (4, 'new@example.com', 'New Person');",
    );
    let before = crate::common::schema(&db);
    let (code, events, _) = run_json(&s, &url, &["run", "--dry-run"]);
    assert_eq!(code, 0);
    let rest = digest_of(&events);
    let script = the(&events, "sql")["sql"].as_str().unwrap().to_string();
    assert!(
        script.contains("UPDATE users SET slug = 'new-person' WHERE id = 4;"),
        "{script}"
    );
    assert_eq!(
        crate::common::schema(&db),
        before,
        "the dry run changed the schema"
    );
    assert_eq!(version_ids(&db), EXAMPLE_IDS[..2]);

    // The real run sends exactly what the dry run predicted.
    let (code, events, _) = run_json(&s, &url, &["run"]);
    assert_eq!(code, 0);
    assert_eq!(digest_of(&events), rest);
    assert_ne!(rest, predicted, "different data, different statements");

    // A fresh database run for real matches the first prediction.
    let fresh = format!("sqlite:{}", s.db("fresh.db").display());
    let (_, events, _) = run_json(&s, &fresh, &["run"]);
    assert_eq!(digest_of(&events), predicted);

    // Downgrades too, and the human form: SQL on stdout, digest on stderr.
    let (code, stdout, stderr) = run_at(
        s.dir.path(),
        &s.migrations,
        &url,
        &["downgrade", "-2", "--dry-run"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("-- downgrade e05b7d9c1a42"), "{stdout}");
    assert!(stdout.contains("DROP INDEX"), "{stdout}");
    assert!(
        stderr
            .contains("Dry run: 2 revision(s) would be downgraded; nothing was changed (rehearsed"),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("Digest sha256:"))
        .unwrap();
    let human_digest = line.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(version_ids(&db), EXAMPLE_IDS);
    let (_, events, _) = run_json(&s, &url, &["downgrade", "-2"]);
    assert_eq!(digest_of(&events), human_digest);
    assert_eq!(version_ids(&db), EXAMPLE_IDS[..2]);
}

/// Half-applies the example chain, adds a row the rest of it must see, then
/// checks that the dry run changes nothing and predicts the real run's digest.
async fn dry_run_matches(db: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let (code, _, stderr) = run_at(s.dir.path(), &s.migrations, &db.url, &["upgrade", "7c2e"]);
    assert_eq!(code, 0, "{stderr}");
    db.sql("INSERT INTO users (id, email, name) VALUES (4, 'new@example.com', 'New Person');");
    let before = db.schema();
    let (code, events, stderr) = run_json(&s, &db.url, &["run", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let predicted = digest_of(&events);
    let sql = the(&events, "sql");
    assert_eq!(db.schema(), before, "the dry run changed the schema");
    assert_eq!(db.version_ids(), EXAMPLE_IDS[..2]);
    match db.server {
        Server::Postgres => {
            assert_eq!(sql["method"], "rehearsal");
            assert!(
                sql["sql"]
                    .as_str()
                    .unwrap()
                    .contains("UPDATE users SET slug = 'new-person' WHERE id = 4;")
            );
            let (code, events, _) = run_json(&s, &db.url, &["run"]);
            assert_eq!(code, 0);
            assert_eq!(digest_of(&events), predicted);
        }
        Server::Mariadb => {
            // Recorded offline: a94d0e6f3c21 writes other SQL offline, and is named.
            assert_eq!(sql["method"], "recording");
            assert!(sql["reason"].as_str().unwrap().contains("commits each DDL"));
            assert_eq!(sql["mode_dependent"], serde_json::json!(["a94d0e6f3c21"]));
            let (_, stdout, stderr) =
                run_at(s.dir.path(), &s.migrations, &db.url, &["run", "--dry-run"]);
            assert!(stdout.contains("REPLACE(LOWER(TRIM(name))"), "{stdout}");
            assert!(
                stderr.contains("warning: a94d0e6f3c21 asked whether it runs online or offline"),
                "{stderr}"
            );
        }
    }
}

/// A chain whose revisions never ask for the mode: the dry run's digest is
/// the real run's, however it was made (MariaDB records it offline).
async fn dry_run_of_mode_blind_revisions_matches(db: TestDb) {
    let s = Scratch::new(&BRANCHING);
    let (code, events, stderr) = run_json(&s, &db.url, &["run", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let predicted = digest_of(&events);
    assert_eq!(the(&events, "sql")["mode_dependent"], serde_json::json!([]));
    assert_eq!(db.schema(), "", "the dry run created tables");
    let (code, events, _) = run_json(&s, &db.url, &["run"]);
    assert_eq!(code, 0);
    assert_eq!(digest_of(&events), predicted);
    assert_eq!(db.version_ids().len(), BRANCHING.len());
}

on_each_server! {
    dry_run_digest_equals_the_real_runs => dry_run_matches;
    dry_run_digest_of_a_branching_graph => dry_run_of_mode_blind_revisions_matches;
}

#[test]
fn a_sqlite_dry_run_of_a_branching_graph_matches_too() {
    let s = Scratch::new(&BRANCHING);
    let (_, events, _) = run_json(&s, &s.url(), &["run", "--dry-run"]);
    let predicted = digest_of(&events);
    let (_, events, _) = run_json(&s, &s.url(), &["run"]);
    assert_eq!(digest_of(&events), predicted);
}

#[tokio::test]
async fn a_postgres_dry_run_in_a_missing_schema_leaves_no_schema() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let (code, events, stderr) =
        run_json(&s, &db.url, &["--schema", "tenant_x", "run", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let predicted = digest_of(&events);
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_x';"),
        "0\n"
    );
    let (code, events, _) = run_json(&s, &db.url, &["--schema", "tenant_x", "run"]);
    assert_eq!(code, 0);
    assert_eq!(digest_of(&events), predicted);
}

/// A revision that sends COMMIT would end the rehearsal's transaction (and
/// commit what came before it): the dry run refuses that statement, fails
/// with exit 1, and leaves the database as it was.
fn a_rehearsal_refuses_transaction_control(s: &Scratch, url: &str, tables: &dyn Fn() -> String) {
    let (code, _, stderr) = run_at(s.dir.path(), &s.migrations, url, &["upgrade", "e05b"]);
    assert_eq!(code, 0, "{stderr}");
    s.add(COMMITS_ITSELF);
    let before = tables();
    let (code, events, _) = run_json(s, url, &["run", "--dry-run"]);
    assert_eq!(code, 1);
    let failed = the(&events, "failed");
    assert_eq!(failed["id"], "f0000000000c");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("retort refused `COMMIT`: a revision may not commit the transaction"),
        "{failed}"
    );
    assert_eq!(tables(), before, "the dry run committed something");
}

#[test]
fn a_sqlite_rehearsal_refuses_commit() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let db = s.db("app.db");
    a_rehearsal_refuses_transaction_control(&s, &s.url(), &|| crate::common::schema(&db));
}

#[tokio::test]
async fn a_postgres_rehearsal_refuses_commit() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    a_rehearsal_refuses_transaction_control(&s, &db.url, &|| db.schema());
}
