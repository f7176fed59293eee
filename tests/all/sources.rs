//! `[[sources]]`: the app and two plugins in one database, each its own
//! chain with its own trust and scope, sharing the version table (which
//! records each row's source). `run` applies all three; a third-party
//! plugin touches only its own schema (PostgreSQL) or table prefix (SQLite).

use std::path::Path;

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, sqlite3};
use crate::host_wall::{Target, add_js, run};
use crate::servers::{Server, TestDb};

/// Writes a JavaScript revision into `dir`.
fn write_js(dir: &Path, id: &str, parent: Option<&str>, message: &str, upgrade: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let parent = parent.map_or("null".to_string(), |p| format!("'{p}'"));
    std::fs::write(
        dir.join(format!("{id}.js")),
        format!(
            "exports.id = '{id}';\nexports.parents = {parent};\nexports.message = '{message}';\n\
             exports.upgrade = function () {{\n{upgrade}\n}};\nexports.downgrade = function () {{}};\n"
        ),
    )
    .unwrap();
}

/// A project: the example chain plus a JS revision (so the interpreter is
/// linked), and two plugins under `plugins/`, described in `retort.toml`.
fn project(billing: &str, audit: &str, extra: &str) -> (Scratch, String) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    add_js(
        &s,
        "app notes",
        "db.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY)');",
    );
    let plugins = s.dir.path().join("plugins");
    write_js(
        &plugins.join("billing"),
        "b111111111a1",
        None,
        "invoices",
        billing,
    );
    write_js(
        &plugins.join("audit"),
        "a222222222b2",
        None,
        "audit log",
        audit,
    );
    let config = s.dir.path().join("retort.toml");
    std::fs::write(
        &config,
        format!(
            "[[sources]]\nname = \"billing\"\nmigrations = \"plugins/billing\"\nschema = \"billing\"\n{extra}\n\
             [[sources]]\nname = \"audit\"\nmigrations = \"plugins/audit\"\nschema = \"audit\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    (s, config)
}

#[test]
fn sqlite_run_applies_every_source_each_confined_to_its_prefix() {
    let (s, config) = project(
        "db.execute('CREATE TABLE billing_invoices (id INTEGER PRIMARY KEY, total INTEGER)');\n\
         db.execute('INSERT INTO billing_invoices (total) VALUES (42)');",
        "db.execute('CREATE TABLE audit_log (line TEXT)');",
        "",
    );
    let db = s.db("app.db");
    let target = Target::Sqlite(db.clone());
    let (code, _, stderr) = run(&s, &target, &["--config", &config, "run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Source billing:") && stderr.contains("Source audit:"),
        "{stderr}"
    );
    let rows = sqlite3(
        &db,
        "SELECT source, revision_id FROM retort_version ORDER BY source, revision_id;",
    );
    let mut want: Vec<String> = EXAMPLE_IDS
        .iter()
        .chain(["bad000000001"].iter())
        .map(|id| format!("app|{id}"))
        .collect();
    want.extend([
        "audit|a222222222b2".to_string(),
        "billing|b111111111a1".to_string(),
    ]);
    want.sort();
    let mut got: Vec<String> = rows.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        sqlite3(&db, "SELECT total FROM billing_invoices;").trim(),
        "42"
    );

    // history and current cover every source; --source one.
    let (code, stdout, _) = run(&s, &target, &["--config", &config, "history"], &[]);
    assert_eq!(code, 0);
    for part in [
        "[app]",
        "[billing]",
        "b111111111a1",
        "[audit]",
        "a222222222b2",
    ] {
        assert!(stdout.contains(part), "{part}: {stdout}");
    }
    let (code, stdout, _) = run(
        &s,
        &target,
        &["--config", &config, "current", "--format", "json"],
        &[],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let sources: Vec<&str> = json["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"billing") && sources.contains(&"audit") && sources.contains(&"app"));
    let (code, stdout, _) = run(
        &s,
        &target,
        &["--config", &config, "--source", "billing", "history"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("b111111111a1") && !stdout.contains("a222222222b2"),
        "{stdout}"
    );
    let (code, _, stderr) = run(
        &s,
        &target,
        &["--config", &config, "--source", "nope", "history"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("there is no source \"nope\""), "{stderr}");

    // A second plugin revision that reaches the app's tables is refused.
    write_js(
        &s.dir.path().join("plugins/billing"),
        "b111111111a2",
        Some("b111111111a1"),
        "steals",
        "db.execute('DELETE FROM users');",
    );
    let (code, stdout, _) = run(&s, &target, &["--config", &config, "check"], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("[app] up to date"), "{stdout}");
    assert!(
        stdout.contains("[billing] not up to date: 1 revision(s) to apply: b111111111a2"),
        "{stdout}"
    );
    let before = sqlite3(&db, "SELECT count(*) FROM users;");
    let (code, _, stderr) = run(&s, &target, &["--config", &config, "run"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "it touches users, which is not among the tables this revision may touch (billing_*)"
        ),
        "{stderr}"
    );
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM users;"), before);
}

#[test]
fn sources_are_validated() {
    let (s, config) = project("", "", "");
    let target = Target::Sqlite(s.db("app.db"));
    // Two sources claiming one schema.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("schema = \"audit\"", "schema = \"billing\"");
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = run(&s, &target, &["--config", &config, "run"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("schema \"billing\" is claimed twice"),
        "{stderr}"
    );
    // One id in two chains.
    let (s, config) = project("", "", "");
    write_js(
        &s.dir.path().join("plugins/audit"),
        "b111111111a1",
        None,
        "same id",
        "",
    );
    std::fs::remove_file(s.dir.path().join("plugins/audit/a222222222b2.js")).unwrap();
    let (code, _, stderr) = run(&s, &target, &["--config", &config, "run"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("revision b111111111a1 is in both billing and audit"),
        "{stderr}"
    );
}

/// Drops a PostgreSQL role once everything declared after it is gone.
struct RoleGuard(Option<String>);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        if let Some(role) = &self.0 {
            let _ = Server::Postgres.run(None, &format!("DROP ROLE IF EXISTS \"{role}\";"));
        }
    }
}

#[test]
fn postgres_sources_live_in_their_schemas_and_third_party_ones_need_a_confined_role() {
    let mut role_guard = RoleGuard(None);
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let name = db.name.clone();
    let (s, config) = project(
        "db.execute('CREATE TABLE invoices (id SERIAL PRIMARY KEY, total INT)');\n\
         db.execute('INSERT INTO invoices (total) VALUES (42)');",
        "db.execute('CREATE TABLE log (line TEXT)');",
        "",
    );
    let admin = Target::Server(db);
    // Third-party sources over a superuser: refused before anything runs.
    let (code, _, stderr) = run(&s, &admin, &["--config", &config, "run"], &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("refusing to run third-party revisions"),
        "{stderr}"
    );
    assert_eq!(
        admin
            .sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public';")
            .trim(),
        "0"
    );
    // The role doctor prints (which owns the sources' schemas too).
    let (code, stdout, stderr) = run(&s, &admin, &["--config", &config, "doctor"], &[]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    let sql = crate::confinement::role_sql(&stdout);
    assert!(sql.contains("ALTER SCHEMA \"billing\" OWNER TO"), "{sql}");
    admin.sql(&sql);
    let role = format!("retort_{name}");
    role_guard.0 = Some(role.clone());
    let confined = Target::Server(TestDb {
        server: Server::Postgres,
        name: name.clone(),
        url: format!("postgres://{role}@127.0.0.1:5432/{name}"),
    });
    let (code, _, stderr) = run(&s, &confined, &["--config", &config, "run"], &[]);
    // The database is `admin`'s to drop.
    std::mem::forget(confined);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        admin.sql("SELECT total FROM billing.invoices;").trim(),
        "42"
    );
    assert_eq!(
        admin
            .sql("SELECT source, count(*) FROM public.retort_version GROUP BY source ORDER BY source;")
            .trim(),
        "app|5\naudit|1\nbilling|1"
    );
    assert_eq!(
        admin
            .sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'audit' AND tablename = 'log';")
            .trim(),
        "1"
    );
}
