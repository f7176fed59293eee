//! The host's state is the host's: hostile revisions (JavaScript scripts and
//! WAT components, written as an attacker who has read the code would) try
//! to reach the compile cache, the version and failures tables, the lock,
//! the transaction, host memory, the offline script and the terminal. Each
//! test asserts the exit code, the message naming the revision and the
//! rule, and that the version table, schema, lock and files are as before.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS, MIXED_CHAIN, R0001_NOTES};

use crate::common::{Scratch, retort_command, schema, sqlite3, text, version_ids};
use crate::servers::{Server, TestDb};

/// The example chain's head, which every hostile revision follows.
pub(crate) const HEAD: &str = "e05b7d9c1a42";
/// The hostile revision's id.
pub(crate) const HOSTILE: &str = "bad000000001";

/// A database to attack: the scratch project's SQLite file or a server's.
pub(crate) enum Target {
    Sqlite(PathBuf),
    Server(TestDb),
}

impl Target {
    pub(crate) fn all() -> Vec<(Scratch, Target)> {
        let mut out = Vec::new();
        let s = Scratch::new(&EXAMPLE_CHAIN);
        let db = s.db("app.db");
        out.push((s, Target::Sqlite(db)));
        for server in [Server::Postgres, Server::Mariadb] {
            if let Some(db) = TestDb::create(server) {
                out.push((Scratch::new(&EXAMPLE_CHAIN), Target::Server(db)));
            }
        }
        out
    }

    pub(crate) fn server(server: Server) -> Option<(Scratch, Target)> {
        TestDb::create(server).map(|db| (Scratch::new(&EXAMPLE_CHAIN), Target::Server(db)))
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite:{}", path.display()),
            Target::Server(db) => db.url.clone(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "sqlite",
            Target::Server(db) => match db.server {
                Server::Postgres => "postgres",
                Server::Mariadb => "mariadb",
            },
        }
    }

    pub(crate) fn sql(&self, sql: &str) -> String {
        match self {
            Target::Sqlite(path) => sqlite3(path, sql),
            Target::Server(db) => db.sql(sql),
        }
    }

    /// Schema, the example chain's data and every version row (id and sha256).
    pub(crate) fn state(&self) -> String {
        let rows = "SELECT revision_id, sha256 FROM retort_version ORDER BY revision_id;\
                    SELECT * FROM users ORDER BY id; SELECT * FROM posts ORDER BY id;";
        let schema = match self {
            Target::Sqlite(path) => schema(path),
            Target::Server(db) => db.schema(),
        };
        format!("{schema}\n{}", self.sql(rows))
    }

    pub(crate) fn version_ids(&self) -> Vec<String> {
        match self {
            Target::Sqlite(path) => version_ids(path),
            Target::Server(db) => db.version_ids(),
        }
    }
}

/// Runs retort on `target` with `args` (and `env`).
pub(crate) fn run(
    s: &Scratch,
    target: &Target,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let url = target.url();
    let mut all = vec![
        "--database-url",
        url.as_str(),
        "--migrations",
        s.migrations.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let mut command = retort_command(s.dir.path(), &all);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "the host panicked: {stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// Writes a JavaScript revision after the example chain's head.
pub(crate) fn add_js(s: &Scratch, message: &str, upgrade: &str) {
    add_js_with(s, HOSTILE, HEAD, message, "", upgrade);
}

pub(crate) fn add_js_with(
    s: &Scratch,
    id: &str,
    parent: &str,
    message: &str,
    extra: &str,
    upgrade: &str,
) {
    let text = format!(
        "exports.id = '{id}';\nexports.parents = '{parent}';\nexports.message = {};\n{extra}\nexports.upgrade = function () {{\n{upgrade}\n}};\nexports.downgrade = function () {{}};\n",
        js_string(message)
    );
    let staged = s.dir.path().join(format!("{id}.js"));
    std::fs::write(&staged, text).unwrap();
    s.add(staged.to_str().unwrap());
}

fn js_string(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The example chain applied, then `upgrade` added as a hostile revision and
/// run: the run fails (exit 1) with a message naming the revision and
/// `expected`, and leaves the database exactly as it was.
pub(crate) fn refused(
    s: &Scratch,
    target: &Target,
    config: &[&str],
    upgrade: &str,
    expected: &[&str],
) {
    let (code, _, stderr) = run(s, target, &[&["run"], config].concat(), &[]);
    assert_eq!(code, 0, "{}: {stderr}", target.name());
    let before = target.state();
    add_js(s, "hostile", upgrade);
    let (code, _, stderr) = run(s, target, &[config, &["run"]].concat(), &[]);
    assert_eq!(code, 1, "{}: {stderr}", target.name());
    assert!(
        stderr.contains(&format!("revision {HOSTILE} failed")),
        "{stderr}"
    );
    for part in expected {
        assert!(
            stderr.contains(part),
            "{}: missing {part:?} in {stderr}",
            target.name()
        );
    }
    assert_eq!(target.state(), before, "{}: {stderr}", target.name());
    assert_eq!(target.version_ids(), EXAMPLE_IDS);
}

#[test]
fn statements_naming_the_host_tables_are_refused_before_they_are_sent() {
    for (s, target) in Target::all() {
        let upgrade = "db.execute(\"INSERT INTO users (id, name, email) VALUES (92, 'd', 'd@example.com')\");\n\
                       db.execute('DELETE FROM \"Retort_Version\" WHERE 1 = 1');";
        refused(
            &s,
            &target,
            &[],
            upgrade,
            &[
                "retort refused `DELETE FROM \"Retort_Version\" WHERE 1 = 1`",
                "it names retort_version, which belongs to Retort",
                "its transaction was rolled back",
            ],
        );
    }
    // A text parameter (which dynamic SQL could run) counts too.
    let (s, target) = Target::all().remove(0);
    refused(
        &s,
        &target,
        &[],
        "db.execute('SELECT $1', ['INSERT INTO retort_version VALUES (1)']);",
        &["it names retort_version"],
    );
}

#[test]
fn postgres_dynamic_sql_on_the_version_table_is_caught_before_commit() {
    for upgrade in [
        // Delete every row, forge one, empty it, hide a trigger on it.
        "db.execute(\"DO $$ BEGIN EXECUTE 'DELETE FROM retort_' || 'version'; END $$\");",
        "db.execute(\"DO $$ BEGIN EXECUTE 'INSERT INTO retort_' || 'version (revision_id, sha256) VALUES (''f1x'', repeat(''0'', 64))'; END $$\");",
        "db.execute(\"DO $$ BEGIN EXECUTE 'TRUNCATE retort_' || 'version'; END $$\");",
        "db.execute(\"CREATE FUNCTION nope() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$\");\n\
         db.execute(\"DO $$ BEGIN EXECUTE 'CREATE TRIGGER t BEFORE INSERT ON retort_' || 'version FOR EACH ROW EXECUTE FUNCTION nope()'; END $$\");",
    ] {
        let Some((s, target)) = Target::server(Server::Postgres) else {
            return;
        };
        refused(
            &s,
            &target,
            &[],
            upgrade,
            &[
                "a revision may not touch Retort's own tables",
                "its transaction was rolled back",
            ],
        );
    }
}

#[test]
fn mariadb_dynamic_sql_and_temporary_shadows_are_caught() {
    for (upgrade, expected) in [
        (
            "db.execute(\"SET @s = CONCAT('DELETE FROM retort_', 'version')\");\n\
             db.execute('PREPARE s FROM @s');\ndb.execute('EXECUTE s');",
            "does not hold what the host wrote",
        ),
        (
            "db.execute(\"SET @s = CONCAT('CREATE TEMPORARY TABLE retort_', 'version (revision_id VARCHAR(64) PRIMARY KEY, sha256 CHAR(64), applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, duration_ms BIGINT)')\");\n\
             db.execute('PREPARE s FROM @s');\ndb.execute('EXECUTE s');",
            "a TEMPORARY table now stands in for retort_version",
        ),
    ] {
        let Some((s, target)) = Target::server(Server::Mariadb) else {
            return;
        };
        refused(&s, &target, &[], upgrade, &[expected]);
    }
}

#[test]
fn a_temp_table_or_a_search_path_cannot_redirect_the_version_row() {
    let Some((s, target)) = Target::server(Server::Postgres) else {
        return;
    };
    let (code, _, stderr) = run(&s, &target, &["run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    target.sql("CREATE SCHEMA evil;");
    add_js(
        &s,
        "shadows the version table",
        "db.execute(\"DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE retort_' || 'version (revision_id TEXT, sha256 TEXT, applied_at TIMESTAMP DEFAULT now(), duration_ms BIGINT)'; \
         EXECUTE 'CREATE TABLE evil.retort_' || 'version (revision_id TEXT, sha256 TEXT, applied_at TIMESTAMP DEFAULT now(), duration_ms BIGINT)'; \
         PERFORM set_config('search_' || 'path', 'evil', false); END $$\");",
    );
    let (code, _, stderr) = run(&s, &target, &["run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // The row went to the real table, and nowhere else.
    let mut expected: Vec<String> = EXAMPLE_IDS.iter().map(|s| s.to_string()).collect();
    expected.push(HOSTILE.into());
    expected.sort();
    assert_eq!(target.version_ids(), expected);
    assert_eq!(
        target
            .sql("SELECT count(*) FROM evil.retort_version;")
            .trim(),
        "0"
    );
    let (code, _, stderr) = run(&s, &target, &["run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Nothing to upgrade") || stderr.contains("up to date"),
        "{stderr}"
    );
}

#[test]
fn sqlite_refuses_attach_and_writable_schema_through_its_authorizer() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    let outside = s.dir.path().join("outside.db");
    refused(
        &s,
        &target,
        &[],
        &format!(
            "db.execute(\"ATTACH DATABASE '{}' AS x\");",
            outside.display()
        ),
        &["the built-in deny list refused", "rule `server-files`"],
    );
    assert!(!outside.exists(), "ATTACH created a file");
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    refused(
        &s,
        &target,
        &[],
        "db.execute('PRAGMA writable_schema = 1');",
        &["PRAGMA writable_schema", "rule `untrusted-code`"],
    );
}

#[test]
fn transaction_control_is_refused_in_every_mode() {
    for (s, target) in Target::all() {
        refused(
            &s,
            &target,
            &[],
            "db.execute('INSERT INTO users (id, name, email) VALUES (90, $1, $2)', ['x', 'x@example.com']);\n\
             db.execute('COMMIT');\nthrow new Error('after the commit');",
            &[
                "retort refused `COMMIT`: a revision may not commit the transaction",
                "its transaction was rolled back",
            ],
        );
    }
    // In one transaction for the run, and outside any (transactional: false).
    for (mode, extra) in [
        (&["--transaction-mode", "all"][..], ""),
        (&[][..], "exports.transactional = false;"),
    ] {
        let s = Scratch::new(&EXAMPLE_CHAIN);
        let target = Target::Sqlite(s.db("app.db"));
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 0, "{stderr}");
        let before = target.state();
        add_js_with(
            &s,
            HOSTILE,
            HEAD,
            "ends it",
            extra,
            "db.execute('ROLLBACK');",
        );
        let (code, _, stderr) = run(&s, &target, &[mode, &["run"]].concat(), &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("a revision may not roll the transaction back"),
            "{stderr}"
        );
        assert_eq!(target.state(), before);
    }
}

#[test]
fn mariadb_a_commit_past_the_checks_is_a_part_way_failure() {
    for fail in [false, true] {
        let Some((s, target)) = Target::server(Server::Mariadb) else {
            return;
        };
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 0, "{stderr}");
        let throw = if fail { "throw new Error('late');" } else { "" };
        add_js(
            &s,
            "commits behind the host's back",
            &format!(
                "db.execute(\"INSERT INTO users (id, name, email) VALUES (91, 'x', 'x@example.com')\");\n\
                 db.execute(\"PREPARE s FROM 'COMMIT'\");\ndb.execute('EXECUTE s');\n{throw}"
            ),
        );
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            !stderr.contains("as before"),
            "it is not as before: {stderr}"
        );
        assert!(
            stderr.contains("retort refuses to run until it is resolved"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("retort resolve {HOSTILE}")),
            "{stderr}"
        );
        // The version table does not claim it; the failure is recorded.
        assert_eq!(target.version_ids(), EXAMPLE_IDS);
        assert_eq!(
            target
                .sql("SELECT revision_id FROM retort_version_failures;")
                .trim(),
            HOSTILE
        );
        let (code, _, _) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 4, "a dirty database is refused");
    }
}

/// Waits until `probe` says the hostile revision is running (it is asleep
/// in the database), for at most a minute.
fn wait_until(what: &str, probe: impl Fn() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_lock_cannot_be_released_by_a_revision() {
    for (server, release, sleep, running) in [
        (
            Server::Postgres,
            "SELECT pg_advisory_unlock_all()",
            "SELECT pg_sleep(4)",
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)';",
        ),
        (
            Server::Mariadb,
            "SELECT RELEASE_ALL_LOCKS()",
            "SELECT SLEEP(4)",
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(4)';",
        ),
    ] {
        let Some((s, target)) = Target::server(server) else {
            return;
        };
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 0, "{stderr}");
        add_js(
            &s,
            "releases every lock, then takes its time",
            &format!("db.execute('{release}');\ndb.execute('{sleep}');"),
        );
        let url = target.url();
        let args = [
            "--database-url",
            url.as_str(),
            "--migrations",
            s.migrations.to_str().unwrap(),
        ];
        let first = retort_command(s.dir.path(), &[&args[..], &["run"]].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("the hostile revision's sleep", || {
            target.sql(running).trim() != "0"
        });
        let second = retort_command(
            s.dir.path(),
            &[&args[..], &["--lock-timeout", "1", "run"]].concat(),
        )
        .output()
        .unwrap();
        let (_, stderr) = text(&second);
        assert_eq!(second.status.code(), Some(3), "{server:?}: {stderr}");
        assert!(
            stderr.contains("waited 1s for the migration lock"),
            "{stderr}"
        );
        let first = first.wait_with_output().unwrap();
        assert_eq!(first.status.code(), Some(0), "{}", text(&first).1);
        assert_eq!(target.version_ids().len(), EXAMPLE_IDS.len() + 1);
    }
}

#[test]
fn an_abandoned_statement_is_stopped_on_the_server() {
    for (server, hold, still_running) in [
        (
            Server::Postgres,
            "db.execute('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');\ndb.execute('SELECT pg_sleep(60)');",
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid();",
        ),
        (
            Server::Mariadb,
            "db.execute('SELECT * FROM users FOR UPDATE');\ndb.execute('SELECT SLEEP(60)');",
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(60)%' AND ID <> CONNECTION_ID();",
        ),
    ] {
        let Some((s, target)) = Target::server(server) else {
            return;
        };
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 0, "{stderr}");
        std::fs::write(
            s.dir.path().join("retort.toml"),
            format!("[limits.revisions.{HOSTILE}]\ntimeout_secs = 1\n"),
        )
        .unwrap();
        add_js(&s, "holds a lock and sleeps", hold);
        let started = Instant::now();
        let (code, _, stderr) = run(&s, &target, &["run"], &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the sleep was waited out"
        );
        assert!(
            stderr.contains("it ran out of its wall-clock budget (1 s"),
            "{stderr}"
        );
        assert!(
            stderr.contains("the statement was stopped on the server"),
            "{stderr}"
        );
        // Nothing of it is left on the server: no statement, no lock.
        assert_eq!(target.sql(still_running).trim(), "0");
        let taken = match server {
            Server::Postgres => {
                "SET lock_timeout = '5s'; BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; COMMIT; SELECT 'taken';"
            }
            Server::Mariadb => {
                "SET innodb_lock_wait_timeout = 5; START TRANSACTION; SELECT id FROM users WHERE id = 1 FOR UPDATE; COMMIT; SELECT 'taken';"
            }
        };
        assert!(target.sql(taken).contains("taken"));
        assert_eq!(target.version_ids(), EXAMPLE_IDS);
    }
}

#[test]
fn offline_scripts_say_only_what_revisions_sent() {
    let Some((s, target)) = Target::server(Server::Postgres) else {
        return;
    };
    add_js(
        &s,
        "routine index tweak\rDROP TABLE users; --",
        "db.execute('CREATE INDEX tweak ON posts (user_id)');",
    );
    let (code, script, stderr) = run(&s, &target, &["upgrade", "--sql", "heads"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !script.contains('\r'),
        "a carriage return reached the script"
    );
    assert!(
        script.contains("routine index tweak\\u{d}DROP TABLE users; --"),
        "{script}"
    );
    let Target::Server(db) = &target else {
        unreachable!()
    };
    db.apply(&script);
    assert_eq!(
        db.sql("SELECT count(*) FROM users;").trim(),
        "3",
        "psql ran the message"
    );

    // Client commands are refused online and offline alike; no script is written.
    for (body, rule) in [
        (
            "if (db.offline) db.execute('SELECT 1;\\n\\\\! touch pwned');",
            "a backslash command",
        ),
        (
            "db.execute('SELECT 1 /* never closed');",
            "it leaves a block comment open",
        ),
    ] {
        let s = Scratch::new(&EXAMPLE_CHAIN);
        add_js(&s, "client commands", body);
        let (code, script, stderr) = run(&s, &target, &["upgrade", "--sql", "heads"], &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(rule), "{stderr}");
        assert!(stderr.contains("no script was written"), "{stderr}");
        assert!(script.is_empty(), "{script}");
        assert!(!s.dir.path().join("pwned").exists());
    }
}

#[test]
fn sqlite_dot_commands_are_refused() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    add_js(
        &s,
        "dot command",
        "if (db.offline) db.execute('SELECT 1;\\n.shell touch pwned');",
    );
    let (code, script, stderr) = run(&s, &target, &["upgrade", "--sql", "heads"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("it holds a dot-command"), "{stderr}");
    assert!(script.is_empty());
    assert!(!s.dir.path().join("pwned").exists());
}

#[test]
fn host_side_budgets_hold() {
    let config = |key: &str| format!("[limits]\n{key}\n");
    for (limits, body, expected) in [
        (
            config("sql_mb = 1"),
            "for (let i = 0; i < 5000; i++) db.execute('SELECT ' + \"'\" + 'x'.repeat(1000) + \"'\");",
            "it sent more than 1 MiB of SQL and parameters in all",
        ),
        (
            config("log_kb = 64"),
            "for (let i = 0; i < 1000000; i++) log.info('');",
            "it ran out of its log budget (64 KiB",
        ),
        (
            String::new(),
            "db.execute('SELECT length($1)', [new Uint8Array(20 * 1024 * 1024)]);",
            "KiB of SQL in one call, over its budget of 16384 KiB",
        ),
    ] {
        for mode in [&["run"][..], &["upgrade", "--sql", "heads"][..]] {
            let s = Scratch::new(&EXAMPLE_CHAIN);
            let target = Target::Sqlite(s.db("app.db"));
            std::fs::write(s.dir.path().join("retort.toml"), &limits).unwrap();
            add_js(&s, "floods the host", body);
            let (code, _, stderr) = run(&s, &target, mode, &[]);
            assert_eq!(code, 1, "{mode:?}: {stderr}");
            assert!(stderr.contains(expected), "{mode:?}: {stderr}");
        }
    }
}

/// Runs `command` and returns its exit code and peak RSS in KiB (its own,
/// from `wait4`, whatever else runs on the machine).
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child cannot do
fn peak_rss(mut command: Command) -> (i32, u64, String) {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: rusage is plain data; `pid` is our child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64, reader.join().unwrap())
}

#[test]
fn rows_a_query_returns_count_against_the_memory_budget() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "[limits]\nmemory_mb = 64\n",
    )
    .unwrap();
    add_js(
        &s,
        "reads a million rows",
        "const rows = db.query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000000) SELECT x, x FROM c');\nlog.info(rows.length);",
    );
    let url = target.url();
    let command = retort_command(
        s.dir.path(),
        &[
            "--database-url",
            &url,
            "--migrations",
            s.migrations.to_str().unwrap(),
            "run",
        ],
    );
    let (code, rss_kb, stderr) = peak_rss(command);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("a query returned more than 64 MiB of rows, over its result budget"),
        "{stderr}"
    );
    assert!(rss_kb < 400 * 1024, "peak RSS {} MiB", rss_kb / 1024);
    assert_eq!(target.version_ids(), EXAMPLE_IDS);
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    add_js(
        &s,
        "\u{1b}]0;pwned\u{7}\u{1b}[2Jclean",
        "log.info('\\u001b[31mred\\u001b]8;;http://x\\u0007');",
    );
    let (code, _, stderr) = run(&s, &target, &["run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    for (args, stream) in [
        (&["history"][..], 1),
        (&["show", HOSTILE][..], 1),
        (&["run"][..], 2),
    ] {
        let (_, stdout, stderr) = run(&s, &target, args, &[]);
        let out = if stream == 1 { stdout } else { stderr };
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{args:?}: {out:?}"
        );
    }
    let (_, _, stderr) = run(&s, &target, &["downgrade", "-1"], &[]);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let (_, _, stderr) = run(&s, &target, &["upgrade"], &[]);
    assert!(stderr.contains("\\u{1b}[31mred"), "{stderr:?}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn the_cpu_budget_counts_cpu_not_time() {
    // The process is stopped (SIGSTOP) again and again while its guest
    // computes: the wall time grows far past the CPU budget, the CPU time
    // does not. The loop costs about 3 s of CPU on the 2-core CI machine;
    // the budget leaves it room on a slower one.
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "[limits]\ncpu_secs = 10\n",
    )
    .unwrap();
    add_js(
        &s,
        "computes",
        "let x = 0; for (let i = 0; i < 20000000; i++) { x = (x + i) % 1000003; }\nlog.info('done ' + x);",
    );
    let url = target.url();
    let mut child = retort_command(
        s.dir.path(),
        &[
            "--database-url",
            &url,
            "--migrations",
            s.migrations.to_str().unwrap(),
            "run",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id() as i32;
    let started = Instant::now();
    let mut stopped = Duration::ZERO;
    while child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_millis(700));
        stopped += Duration::from_millis(700);
        unsafe { libc::kill(pid, libc::SIGCONT) };
        assert!(started.elapsed() < Duration::from_secs(300));
    }
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stopped for {stopped:?}: {stderr}"
    );
    assert!(stderr.contains("done "), "{stderr}");
    assert!(
        started.elapsed() > Duration::from_secs(10),
        "the run took {:?} of wall time, not more than its CPU budget: the test shows nothing",
        started.elapsed()
    );
}

#[test]
fn a_failed_postgres_run_releases_its_lock_once() {
    let Some((s, target)) = Target::server(Server::Postgres) else {
        return;
    };
    let (code, _, stderr) = run(&s, &target, &["run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    target.sql(
        "DROP TABLE IF EXISTS retort_version_failures; CREATE TABLE retort_version_failures (revision_id VARCHAR(64) PRIMARY KEY, direction VARCHAR(16), failed_at TIMESTAMP DEFAULT now(), statement TEXT, error TEXT);\
         INSERT INTO retort_version_failures (revision_id, direction, error) VALUES ('e05b7d9c1a42', 'upgrade', 'x');",
    );
    for format in ["human", "json"] {
        let (code, _, stderr) = run(&s, &target, &["--format", format, "upgrade"], &[]);
        assert_eq!(code, 4, "{stderr}");
        assert!(!stderr.contains("don't own a lock"), "{stderr}");
        assert!(!stderr.contains("WARN"), "{stderr}");
    }
}

/// The mixed chain's WAT revision, with its table renamed (same length): the
/// same metadata, other code.
fn twin_wat(from: &str) -> String {
    std::fs::read_to_string(from)
        .unwrap()
        .replace("TABLE tags", "TABLE gats")
        .replace("INTO tags", "INTO gats")
}

fn artifacts(s: &Scratch) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = s.migrations.join(".retort-cache/compiled");
    for engine in std::fs::read_dir(&root).unwrap().flatten() {
        for f in std::fs::read_dir(engine.path()).unwrap().flatten() {
            found.push(f.path());
        }
    }
    found.sort();
    found
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn planted_native_code_is_never_loaded() {
    // The reviewed project: notes, then the tags table (WAT). Each project
    // keeps its compiled code under its own configured cache directory, so
    // the attacker's artifacts can be told from the reviewed ones.
    let reviewed = Scratch::new(&MIXED_CHAIN[..2]);
    let own_cache = |s: &Scratch| {
        s.migrations
            .join(".retort-cache")
            .to_str()
            .unwrap()
            .to_string()
    };
    let reviewed_cache = own_cache(&reviewed);
    let reviewed_env = [("RETORT_CACHE_DIR", reviewed_cache.as_str())];
    let target = Target::Sqlite(reviewed.db("app.db"));
    let (code, _, stderr) = run(&reviewed, &target, &["upgrade"], &reviewed_env);
    assert_eq!(code, 0, "{stderr}");
    // An attacker's twin: same metadata, other code, compiled on this machine.
    let evil = Scratch::new(&[R0001_NOTES]);
    let evil_cache = own_cache(&evil);
    let evil_env = [("RETORT_CACHE_DIR", evil_cache.as_str())];
    std::fs::write(
        evil.migrations.join("r0002_tags.wat"),
        twin_wat(MIXED_CHAIN[1]),
    )
    .unwrap();
    let evil_target = Target::Sqlite(evil.db("app.db"));
    let (code, _, stderr) = run(&evil, &evil_target, &["upgrade"], &evil_env);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        evil_target.sql("SELECT name FROM sqlite_master WHERE name = 'gats';"),
        "gats\n"
    );

    let (code, _, stderr) = run(&reviewed, &target, &["downgrade", "-1"], &reviewed_env);
    assert_eq!(code, 0, "{stderr}");
    let mine = artifacts(&reviewed);
    let theirs = artifacts(&evil);
    let shared: Vec<String> = mine
        .iter()
        .map(|p| file_name(p)[..64].to_string())
        .collect();
    let tags = mine
        .iter()
        .find(|p| !theirs.iter().any(|t| file_name(t) == file_name(p)))
        .expect("the tags artifact")
        .clone();
    let gats = theirs
        .iter()
        .find(|p| !shared.contains(&file_name(p)[..64].to_string()))
        .expect("the twin's artifact")
        .clone();
    let sha = file_name(&tags)[..64].to_string();
    let bytes = std::fs::read(&gats).unwrap();
    std::fs::remove_file(&tags).unwrap();
    // Planted under the reviewed component's sha256: named by a digest of
    // the file (as the cache once did), and with the twin's own MAC.
    let dir = tags.parent().unwrap();
    let planted = [
        dir.join(format!("{sha}.{}.cwasm", "0".repeat(64))),
        dir.join(format!("{sha}.{}", &file_name(&gats)[65..])),
    ];
    for p in &planted {
        std::fs::write(p, &bytes).unwrap();
    }
    let (code, _, stderr) = run(&reviewed, &target, &["upgrade"], &reviewed_env);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        target.sql("SELECT name FROM sqlite_master WHERE name IN ('tags', 'gats');"),
        "tags\n"
    );
    for p in &planted {
        assert!(!p.exists(), "{} was kept", p.display());
    }
    assert_eq!(
        artifacts(&reviewed).len(),
        2,
        "the reviewed artifact was written again"
    );
}

#[test]
fn the_machine_key_is_private_and_never_in_the_migrations() {
    let home = tempfile::tempdir().unwrap();
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let target = Target::Sqlite(s.db("app.db"));
    let cache_home = home.path().join("cache");
    let (code, _, stderr) = run(
        &s,
        &target,
        &["upgrade"],
        &[("XDG_CACHE_HOME", cache_home.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{stderr}");
    let key = cache_home.join("retort/machine-key");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let mut stack = vec![s.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            assert_ne!(file_name(&path), "machine-key", "{}", path.display());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    // A key others can read is not used: nothing is cached, the run still works.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = run(
        &s,
        &target,
        &["downgrade", "base"],
        &[("XDG_CACHE_HOME", cache_home.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("compiled components are not cached"),
        "{stderr}"
    );
    assert!(stderr.contains("is not a private file"), "{stderr}");
}
