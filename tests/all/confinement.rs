//! A third-party revision reaches nothing outside its database. Each escape
//! a trial found (server files and programs, other databases, roles,
//! server settings) is tried as a hostile JavaScript revision: under
//! `third-party` over the least-privilege role `retort doctor` prints (the
//! deny list refuses the spelling it can read, the database refuses the one
//! it cannot), over a superuser connection (refused before anything runs),
//! and first-party (the deny list still holds). Each asserts the exit code,
//! the message, that the file / role / database does not exist, and that the
//! version table and schema are as before.

use std::path::Path;

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::Scratch;
use crate::host_wall::{HOSTILE, Target, add_js, refused, run};
use crate::servers::{Server, TestDb};

const THIRD_PARTY: &[&str] = &["--trust", "third-party"];

/// A test database reached as the least-privilege role `retort doctor`
/// recommends for it: the role is created by running the SQL doctor printed,
/// and dropped after the database.
struct Confined {
    target: Option<Target>,
    server: Server,
    role: String,
}

impl Confined {
    fn new(server: Server) -> Option<(Scratch, Confined)> {
        let mut db = TestDb::create(server)?;
        let s = Scratch::new(&EXAMPLE_CHAIN);
        let admin = Target::Server(TestDb {
            server,
            name: db.name.clone(),
            url: db.url.clone(),
        });
        let (code, stdout, stderr) = run(&s, &admin, &["doctor"], &[]);
        // Forget the copy without dropping the database it names.
        std::mem::forget(admin);
        assert_eq!(code, 0, "{stderr}");
        let sql = role_sql(&stdout);
        let role = format!("retort_{}", db.name);
        assert!(sql.contains(&role), "doctor printed:\n{stdout}");
        db.sql(&sql);
        db.url = match server {
            Server::Postgres => format!("postgres://{role}:pw@127.0.0.1:5432/{}", db.name),
            Server::Mariadb => format!(
                "mysql://{role}:choose-a-password@127.0.0.1:3306/{}",
                db.name
            ),
        };
        Some((
            s,
            Confined {
                target: Some(Target::Server(db)),
                server,
                role,
            },
        ))
    }

    fn target(&self) -> &Target {
        self.target.as_ref().expect("the target")
    }
}

impl Drop for Confined {
    fn drop(&mut self) {
        drop(self.target.take());
        let sql = match self.server {
            Server::Postgres => format!("DROP ROLE IF EXISTS \"{}\";", self.role),
            Server::Mariadb => format!("DROP USER IF EXISTS '{}'@'%';", self.role),
        };
        if let Err(e) = self.server.run(None, &sql) {
            eprintln!("could not drop test role {}: {e}", self.role);
        }
    }
}

/// Each hostile upgrade, on a fresh database reached as doctor's role under
/// third-party trust, is refused with its expected text and `also`.
fn each_refused_when_confined(server: Server, escapes: &[(String, &str)], also: &str) {
    for (upgrade, expected) in escapes {
        let Some((s, c)) = Confined::new(server) else {
            return;
        };
        refused(&s, c.target(), THIRD_PARTY, upgrade, &[expected, also]);
    }
}

/// The SQL statements `retort doctor` printed for the least-privilege role.
pub(crate) fn role_sql(doctor_stdout: &str) -> String {
    doctor_stdout
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn role_exists(server: Server, name: &str) -> bool {
    let sql = match server {
        Server::Postgres => format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}';"),
        Server::Mariadb => format!("SELECT count(*) FROM mysql.user WHERE user = '{name}';"),
    };
    server.run(None, &sql).unwrap().trim() != "0"
}

fn database_exists(server: Server, name: &str) -> bool {
    let sql = match server {
        Server::Postgres => format!("SELECT count(*) FROM pg_database WHERE datname = '{name}';"),
        Server::Mariadb => {
            format!(
                "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}';"
            )
        }
    };
    server.run(None, &sql).unwrap().trim() != "0"
}

/// A path on this machine (where the test servers run) that must never be
/// created; removed first in case an earlier run left it.
fn outside_file(tag: &str) -> String {
    let path = format!("/tmp/retort-escape-{}-{tag}", std::process::id());
    let _ = std::fs::remove_file(&path);
    path
}

fn assert_absent(path: &str) {
    assert!(!Path::new(path).exists(), "{path} was created");
}

#[test]
fn doctor_reports_a_superuser_and_the_role_it_prints_is_confined() {
    for server in [Server::Postgres, Server::Mariadb] {
        let Some(db) = TestDb::create(server) else {
            return;
        };
        let s = Scratch::new(&EXAMPLE_CHAIN);
        let admin = Target::Server(db);
        let (code, stdout, stderr) = run(&s, &admin, &["doctor", "--trust", "third-party"], &[]);
        assert_eq!(code, 4, "{server:?}: {stdout}{stderr}");
        let finding = match server {
            Server::Postgres => "  - it is a superuser",
            Server::Mariadb => "  - it has privileges on every database",
        };
        assert!(stdout.contains(finding), "{stdout}");
        assert!(
            stdout.contains("Third-party revisions are refused over it"),
            "{stdout}"
        );
        let (code, stdout, _) = run(&s, &admin, &["doctor", "--format", "json"], &[]);
        assert_eq!(code, 0, "first-party: doctor only reports");
        let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(json["confined"], false);
        assert_eq!(json["trust"], "first-party");
        drop(admin);

        let Some((s, c)) = Confined::new(server) else {
            return;
        };
        let (code, stdout, stderr) =
            run(&s, c.target(), &["doctor", "--trust", "third-party"], &[]);
        assert_eq!(code, 0, "{server:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("reaches nothing outside its database"),
            "{stdout}"
        );
    }
}

#[test]
fn third_party_revisions_are_refused_over_a_superuser_before_anything_runs() {
    for server in [Server::Postgres, Server::Mariadb] {
        let Some((s, target)) = Target::server(server) else {
            return;
        };
        let (code, _, stderr) = run(&s, &target, &[THIRD_PARTY, &["run"]].concat(), &[]);
        assert_eq!(code, 4, "{server:?}: {stderr}");
        for part in [
            "refusing to run third-party revisions: the connection's role can reach outside its database",
            "connect as a role that owns only the migrations' schema",
            match server {
                Server::Postgres => "CREATE ROLE \"retort_",
                Server::Mariadb => "CREATE USER 'retort_",
            },
        ] {
            assert!(
                stderr.contains(part),
                "{server:?}: missing {part:?} in {stderr}"
            );
        }
        // Nothing ran: not even the version table exists.
        let tables = match server {
            Server::Postgres => "SELECT count(*) FROM pg_tables WHERE schemaname = 'public';",
            Server::Mariadb => {
                "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();"
            }
        };
        assert_eq!(target.sql(tables).trim(), "0", "{server:?}");
        // The dry run is refused the same way.
        let (code, _, stderr) = run(
            &s,
            &target,
            &[THIRD_PARTY, &["run", "--dry-run"]].concat(),
            &[],
        );
        assert_eq!(code, 4, "{server:?}: {stderr}");
        assert_eq!(target.sql(tables).trim(), "0", "{server:?}");
    }
}

#[test]
fn postgres_escapes_fail_under_third_party_over_the_least_privilege_role() {
    let copy_to = outside_file("copy-to");
    let program = outside_file("program");
    let dynamic = outside_file("dynamic");
    let lo = outside_file("lo");
    let escapes: Vec<(String, &str)> = vec![
        (
            format!("db.execute(\"COPY (SELECT 1) TO '{copy_to}'\");"),
            "rule `server-files`",
        ),
        (
            format!("db.execute(\"COPY users FROM PROGRAM 'touch {program}'\");"),
            "rule `server-program`",
        ),
        (
            "db.query(\"SELECT pg_read_file('/etc/hostname')\");".into(),
            "rule `server-files`",
        ),
        (
            format!("db.query(\"SELECT lo_export(lo_from_bytea(0, 'x'), '{lo}')\");"),
            "rule `server-files`",
        ),
        (
            "db.execute(\"CREATE ROLE retort_escape_role SUPERUSER LOGIN\");".into(),
            "rule `roles`",
        ),
        (
            "db.execute(\"ALTER SYSTEM SET work_mem = '64MB'\");".into(),
            "rule `server-settings`",
        ),
        (
            "db.query(\"SELECT dblink_exec('dbname=postgres', 'CREATE TABLE x (a int)')\");"
                .into(),
            "rule `other-databases`",
        ),
        (
            "db.execute('CREATE DATABASE retort_escape_db');".into(),
            "rule `databases`",
        ),
        // What the text cannot see, the role cannot do.
        (
            format!(
                "db.execute(\"DO $$ BEGIN EXECUTE 'CO' || 'PY (SELECT 1) TO ''{dynamic}'''; END $$\");"
            ),
            "pg_write_server_files",
        ),
        (
            "db.execute(\"DO $$ BEGIN EXECUTE 'CREATE ' || 'ROLE retort_escape_role LOGIN'; END $$\");".into(),
            "permission denied to create role",
        ),
        (
            "db.query(\"SELECT rolpassword FROM pg_authid\");".into(),
            "permission denied",
        ),
        (
            "db.execute(\"DO $$ BEGIN EXECUTE 'SELECT pg_' || 'read_file(''/etc/hostname'')'; END $$\");".into(),
            "permission denied",
        ),
    ];
    each_refused_when_confined(
        Server::Postgres,
        &escapes,
        "its transaction was rolled back",
    );
    for path in [&copy_to, &program, &dynamic, &lo] {
        assert_absent(path);
    }
    assert!(!role_exists(Server::Postgres, "retort_escape_role"));
    assert!(!database_exists(Server::Postgres, "retort_escape_db"));
}

#[test]
fn mariadb_escapes_fail_under_third_party_over_the_least_privilege_user() {
    let outfile = outside_file("outfile");
    let dynamic = outside_file("mdynamic");
    let Some(other) = TestDb::create(Server::Mariadb) else {
        return;
    };
    other.sql("CREATE TABLE t (a INT); INSERT INTO t VALUES (1);");
    let other_name = other.name.clone();
    let escapes: Vec<(String, &str)> = vec![
        (
            format!("db.query(\"SELECT 1 INTO OUTFILE '{outfile}'\");"),
            "rule `server-files`",
        ),
        (
            "db.query(\"SELECT LOAD_FILE('/etc/hostname')\");".into(),
            "rule `server-files`",
        ),
        (
            "db.execute(\"LOAD DATA INFILE '/etc/hostname' INTO TABLE users\");".into(),
            "rule `server-files`",
        ),
        (
            "db.execute(\"CREATE USER 'retort_escape_user'@'%'\");".into(),
            "rule `roles`",
        ),
        (
            "db.execute('CREATE DATABASE retort_escape_db');".into(),
            "rule `databases`",
        ),
        (
            "db.execute('/*M!100100 CREATE DATABASE retort_escape_db */');".into(),
            "rule `databases`",
        ),
        // What the text cannot see, the user's grants refuse.
        (
            format!("db.execute('INSERT INTO {other_name}.t VALUES (2)');"),
            "denied",
        ),
        (
            "db.query('SELECT password FROM mysql.user');".into(),
            "denied",
        ),
    ];
    each_refused_when_confined(
        Server::Mariadb,
        &escapes,
        &format!("revision {HOSTILE} failed"),
    );
    // Dynamic SQL: the policy checker cannot read `PREPARE … FROM @s`, so a
    // third-party revision may not send it; first-party over the same user,
    // the grants refuse what it would run. (Dynamic DDL such as CREATE USER
    // is refused too, but MariaDB's implicit commit makes it a recorded
    // part-way failure: the version table test of `refused` does not fit.)
    let dynamic_escapes = [
        format!("SET @s = CONCAT('SELECT 1 INTO OUT', 'FILE ''{dynamic}''')"),
        format!("SET @s = CONCAT('INSERT INTO {other_name}', '.t VALUES (3)')"),
    ];
    for set in &dynamic_escapes {
        let upgrade = format!(
            "db.execute(\"{set}\");\ndb.execute('PREPARE s FROM @s');\ndb.execute('EXECUTE s');"
        );
        for (trust, expected) in [
            (THIRD_PARTY, "the policy checker cannot read it"),
            (&[][..], "denied"),
        ] {
            let Some((s, c)) = Confined::new(Server::Mariadb) else {
                return;
            };
            refused(&s, c.target(), trust, &upgrade, &[expected]);
        }
    }
    // A rename into another database is DDL, which MariaDB commits on its
    // own: refused by the grants, recorded as a part-way failure, the table
    // still where it was.
    if let Some((s, c)) = Confined::new(Server::Mariadb) {
        let (code, _, stderr) = run(&s, c.target(), &[THIRD_PARTY, &["run"]].concat(), &[]);
        assert_eq!(code, 0, "{stderr}");
        add_js(
            &s,
            "hostile",
            &format!("db.execute('ALTER TABLE users RENAME TO {other_name}.stolen');"),
        );
        let (code, _, stderr) = run(&s, c.target(), &[THIRD_PARTY, &["run"]].concat(), &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("command denied"), "{stderr}");
        assert_eq!(c.target().sql("SELECT count(*) FROM users;").trim(), "3");
        assert_eq!(c.target().version_ids(), EXAMPLE_IDS);
    }
    assert_eq!(
        other
            .sql("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();")
            .trim(),
        "1"
    );
    assert_absent(&outfile);
    assert_absent(&dynamic);
    assert!(!role_exists(Server::Mariadb, "retort_escape_user"));
    assert!(!database_exists(Server::Mariadb, "retort_escape_db"));
    assert_eq!(other.sql("SELECT a FROM t ORDER BY a;").trim(), "1");
}

#[test]
fn sqlite_files_outside_the_database_are_never_created() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let attach = s.dir.path().join("attached.db");
    let vacuum = s.dir.path().join("vacuumed.db");
    for (upgrade, expected) in [
        (
            format!(
                "db.execute(\"ATTACH DATABASE '{}' AS x\");",
                attach.display()
            ),
            "rule `server-files`",
        ),
        (
            format!("db.execute(\"VACUUM INTO '{}'\");", vacuum.display()),
            "rule `server-files`",
        ),
        (
            "db.query(\"SELECT load_extension('/nonexistent/x.so')\");".into(),
            "rule `untrusted-code`",
        ),
    ] {
        for trust in [&[][..], THIRD_PARTY] {
            let s = Scratch::new(&EXAMPLE_CHAIN);
            let target = Target::Sqlite(s.db("app.db"));
            refused(&s, &target, trust, &upgrade, &[expected]);
        }
    }
    assert!(!attach.exists() && !vacuum.exists());
}

#[test]
fn the_example_chain_runs_third_party_over_the_least_privilege_role() {
    for server in [Server::Postgres, Server::Mariadb] {
        let Some((s, c)) = Confined::new(server) else {
            return;
        };
        let (code, _, stderr) = run(&s, c.target(), &[THIRD_PARTY, &["run"]].concat(), &[]);
        assert_eq!(code, 0, "{server:?}: {stderr}");
        assert_eq!(c.target().version_ids(), EXAMPLE_IDS);
        let (code, _, stderr) = run(
            &s,
            c.target(),
            &[THIRD_PARTY, &["downgrade", "base"]].concat(),
            &[],
        );
        assert_eq!(code, 0, "{server:?}: {stderr}");
        assert!(c.target().version_ids().is_empty());
    }
}

#[test]
fn first_party_revisions_meet_the_deny_list_too_and_exemptions_are_per_revision() {
    let Some((s, target)) = Target::server(Server::Postgres) else {
        return;
    };
    let file = outside_file("first-party");
    // As the superuser, first-party: the deny list alone stops it.
    refused(
        &s,
        &target,
        &[],
        &format!("db.execute(\"COPY (SELECT 1) TO '{file}'\");"),
        &["the built-in deny list refused", "rule `server-files`"],
    );
    assert_absent(&file);

    // An exemption for one rule, in that revision's own policy.
    let role = format!("retort_exempt_{}", std::process::id());
    let config = s.dir.path().join("retort.toml");
    std::fs::write(
        &config,
        format!("[policy.revisions.{HOSTILE}]\nexempt = [\"roles\"]\n"),
    )
    .unwrap();
    let config_args = ["--config", config.to_str().unwrap()];
    std::fs::remove_file(s.migrations.join(format!("{HOSTILE}.js"))).unwrap();
    add_js(
        &s,
        "creates a role",
        &format!("db.execute('CREATE ROLE {role}');"),
    );
    // A dry run never honours an exemption.
    let (code, _, stderr) = run(
        &s,
        &target,
        &[&config_args[..], &["run", "--dry-run"]].concat(),
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("rule `roles`"), "{stderr}");
    assert!(!role_exists(Server::Postgres, &role));
    // A third-party revision cannot be exempted at all.
    let (code, _, stderr) = run(
        &s,
        &target,
        &[&config_args[..], THIRD_PARTY, &["run"]].concat(),
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("a third-party revision cannot be exempted from the built-in deny list"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&s, &target, &[&config_args[..], &["run"]].concat(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(role_exists(Server::Postgres, &role));
    Server::Postgres
        .run(None, &format!("DROP ROLE {role};"))
        .unwrap();
}

#[test]
fn the_policy_reads_bodies_qualified_names_renames_and_executable_comments() {
    let policy = "[policy]\nallow = [\"ddl\", \"dml\", \"query\"]\ndeny = [\"drop\", \"truncate\", \"dcl\"]\ntables = [\"seed\", \"scratch\", \"users\", \"posts\"]\n";
    let cases: Vec<(Server, &str, &str)> = vec![
        (
            Server::Postgres,
            "db.execute(\"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE posts; END $$\");",
            "`drop` statements are denied",
        ),
        (
            Server::Postgres,
            "db.execute(\"DO $$ BEGIN DELETE FROM secrets; END $$\");",
            "it touches secrets, which is not among the tables",
        ),
        (
            Server::Postgres,
            "db.execute(\"DO $$ BEGIN EXECUTE 'DELETE FROM ' || 'posts'; END $$\");",
            "a body runs dynamic SQL",
        ),
        (
            Server::Postgres,
            "db.execute('ALTER TABLE posts DROP COLUMN body');",
            "`drop` statements are denied",
        ),
        (
            Server::Postgres,
            "db.execute('ALTER TABLE posts RENAME TO archived');",
            "`drop` statements are denied",
        ),
        (
            Server::Postgres,
            "db.execute('INSERT INTO other.seed VALUES (1)');",
            "it touches other.seed, which is not among the tables",
        ),
        (
            Server::Mariadb,
            "db.execute('/*M! DROP TABLE posts */');",
            "`drop` statements are denied",
        ),
        (
            Server::Mariadb,
            "db.execute(\"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'\");",
            "setting sql_mode",
        ),
    ];
    for (server, upgrade, expected) in cases {
        let Some((s, target)) = Target::server(server) else {
            return;
        };
        let config = s.dir.path().join("retort.toml");
        std::fs::write(&config, policy).unwrap();
        let args = ["--config", config.to_str().unwrap()];
        refused(&s, &target, &args, upgrade, &[expected]);
    }
}

#[test]
fn statements_too_deep_to_check_are_refused_not_a_crash() {
    // Through a real revision's call stack: a 100,000-operator chain is
    // refused before parsing; the deepest nesting the parser admits is
    // checked (refused or not), and the host lives on.
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    refused(
        &s,
        &target,
        THIRD_PARTY,
        "db.query('SELECT ' + '1+'.repeat(100000) + '1');",
        &["operators (at most 4000)", "split it"],
    );
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    let (code, _, stderr) = run(&s, &target, &[THIRD_PARTY, &["run"]].concat(), &[]);
    assert_eq!(code, 0, "{stderr}");
    add_js(
        &s,
        "deep",
        "db.query('SELECT ' + '(SELECT '.repeat(60) + '1' + ')'.repeat(60));\n\
         db.query('SELECT ' + 'CASE WHEN 1 THEN '.repeat(60) + '1' + ' END'.repeat(60));",
    );
    let (code, _, stderr) = run(&s, &target, &[THIRD_PARTY, &["run"]].concat(), &[]);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    assert!(
        stderr.is_empty() || !stderr.contains("overflow"),
        "{stderr}"
    );
}
