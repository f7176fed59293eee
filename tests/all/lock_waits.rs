//! Lock timeouts with retries, and the server-side statement timeout: a
//! second session (each database's own client) holds a lock the revision
//! needs. Released after the first retry, the run succeeds; never released,
//! it fails cleanly: exit 1, the revision not applied, nothing recorded as
//! failed, and the next run (once the lock is gone) applies it.
//!
//! Nothing here waits for time to pass: the holder is released when retort
//! says it is retrying, and a failure is judged by its messages.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::common::{retort_command, sqlite3, text};
use crate::servers::{Server, TestDb};

const CREATE: &str =
    "-- retort: id=10c0000000a1 message=\"create t\"\nCREATE TABLE t (id INT PRIMARY KEY);\n";

/// The revision that needs the lock the holder keeps.
fn alter(sqlite: bool) -> String {
    let body = if sqlite {
        "CREATE TABLE u (id INT);"
    } else {
        "ALTER TABLE t ADD COLUMN c INT;"
    };
    format!("-- retort: id=10c0000000b2 parents=10c0000000a1 message=\"needs the lock\"\n{body}\n")
}

/// A project whose revisions wait `lock_timeout` for a lock, `retries` times more.
fn project(retries: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(migrations.join("a1.sql"), CREATE).unwrap();
    std::fs::write(dir.path().join("retort.toml"), format!(
        "migrations = \"migrations\"\n[limits]\nlock_timeout = 0.3\nlock_retries = {retries}\nlock_retry_backoff = 0.05\n"
    )).unwrap();
    dir
}

fn add_alter(dir: &Path, sqlite: bool) {
    std::fs::write(dir.join("migrations/b2.sql"), alter(sqlite)).unwrap();
}

/// A session of the database's own client holding a lock until released.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Holder {
    /// Starts the client and sends it `hold`.
    fn spawn(mut client: Command, hold: &str, stdout: Stdio) -> Holder {
        let mut child = client
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client starts");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(hold.as_bytes()).unwrap();
        stdin.flush().unwrap();
        Holder {
            child,
            stdin: Some(stdin),
        }
    }

    /// Sends `hold` and waits until the client prints `marker`.
    fn start_until(client: Command, hold: &str, marker: &str) -> Holder {
        let mut holder = Holder::spawn(client, hold, Stdio::piped());
        let stdout = holder.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.trim() == marker);
        assert!(ready, "the lock holder ended before taking its lock");
        // Keep draining, so the client never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        holder
    }

    /// Sends `hold` and waits until `held()` says the lock is taken.
    fn start(client: Command, hold: &str, held: impl Fn() -> bool) -> Holder {
        let mut holder = Holder::spawn(client, hold, Stdio::null());
        for _ in 0..600 {
            if held() {
                return holder;
            }
            if let Ok(Some(status)) = holder.child.try_wait() {
                panic!("the lock holder exited early: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        holder.release();
        panic!("the lock holder never took its lock");
    }

    /// Ends the holder's transaction and its session.
    fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"COMMIT;\n");
            drop(stdin);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.release();
    }
}

fn postgres_holder(db: &TestDb) -> Holder {
    let mut client = Command::new("psql");
    client.args([
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        &db.name,
    ]);
    Holder::start(
        client,
        "BEGIN;\nLOCK TABLE t IN ACCESS SHARE MODE;\n",
        || {
            db.sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = 't' AND l.granted AND l.pid <> pg_backend_pid();",
            )
            .trim()
                == "1"
        },
    )
}

fn mariadb_holder(db: &TestDb) -> Holder {
    let mut client = Command::new("mariadb");
    // Unbuffered: the marker arrives once the statements before it ran.
    client.args([
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-u",
        "root",
        "-N",
        "-B",
        "-n",
        "-D",
        &db.name,
    ]);
    // The transaction's read keeps t's metadata lock until COMMIT.
    Holder::start_until(
        client,
        "START TRANSACTION;\nSELECT * FROM t;\nSELECT 'retort_holder_ready';\n",
        "retort_holder_ready",
    )
}

fn sqlite_holder(db: &Path) -> Holder {
    let mut client = Command::new("sqlite3");
    client.arg(db);
    Holder::start(
        client,
        // Its own busy timeout: the check below takes the lock for an instant too.
        ".timeout 10000\nBEGIN IMMEDIATE;\nINSERT OR REPLACE INTO t VALUES (99);\n",
        || {
            Command::new("sqlite3")
                .arg(db)
                .arg("BEGIN IMMEDIATE; ROLLBACK;")
                .output()
                .is_ok_and(|o| !o.status.success())
        },
    )
}

/// `retort run --format json` in `dir` against `url`; `on_retry` is called
/// at the first `retrying` event. Returns the exit code and the events.
fn run_watching(
    dir: &Path,
    url: &str,
    mut on_retry: impl FnMut(),
) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let mut child = retort_command(dir, &["--database-url", url, "--format", "json", "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("retort starts");
    let stdout = child.stdout.take().unwrap();
    let mut events = Vec::new();
    let mut retried = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if event["event"] == "retrying" && !retried {
            retried = true;
            on_retry();
        }
        events.push(event);
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), events, text(&out).1)
}

fn count(events: &[serde_json::Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

/// The two cases on one database: `holder` takes the lock, `applied` says
/// whether revision b2's change is in the database.
fn released_and_not(
    url: &str,
    sqlite: bool,
    holder: &dyn Fn() -> Holder,
    applied: &dyn Fn() -> bool,
    version_ids: &dyn Fn() -> Vec<String>,
) {
    // Released at the first retry: the run succeeds.
    let dir = project(50);
    let (code, _, stderr) = run_watching(dir.path(), url, || {});
    assert_eq!(code, Some(0), "{stderr}");
    add_alter(dir.path(), sqlite);
    let mut held = Some(holder());
    let (code, events, stderr) = run_watching(dir.path(), url, || {
        if let Some(mut h) = held.take() {
            h.release();
        }
    });
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(count(&events, "retrying") >= 1, "{events:?}");
    let retry = events.iter().find(|e| e["event"] == "retrying").unwrap();
    assert_eq!(retry["id"], "10c0000000b2");
    assert_eq!(retry["attempt"], 1);
    assert!(
        retry["statement"].as_str().unwrap().contains(if sqlite {
            "CREATE TABLE u"
        } else {
            "ALTER TABLE t"
        }),
        "{retry}"
    );
    assert_eq!(count(&events, "applied"), 1, "{events:?}");
    assert!(applied());
    assert_eq!(version_ids(), ["10c0000000a1", "10c0000000b2"]);
    let raw: String = events.iter().map(|e| format!("{e}\n")).collect();
    crate::deploy::run_events(&raw);

    // Never released: every attempt times out, and the run fails cleanly.
    let dir = project(2);
    std::fs::remove_dir_all(dir.path().join("migrations")).unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(dir.path().join("migrations/a1.sql"), CREATE).unwrap();
    let other = alter(sqlite)
        .replace("10c0000000b2", "10c0000000c3")
        .replace(" c INT", " d INT")
        .replace("TABLE u", "TABLE w");
    std::fs::write(dir.path().join("migrations/b2.sql"), alter(sqlite)).unwrap();
    std::fs::write(
        dir.path().join("migrations/c3.sql"),
        other.replace("parents=10c0000000a1", "parents=10c0000000b2"),
    )
    .unwrap();
    let mut h = holder();
    let (code, events, stderr) = run_watching(dir.path(), url, || {});
    assert_eq!(code, Some(1), "{stderr}\n{events:?}");
    assert_eq!(count(&events, "retrying"), 2, "{events:?}");
    let failed = events
        .iter()
        .find(|e| e["event"] == "failed")
        .expect("a failed event");
    assert_eq!(failed["id"], "10c0000000c3");
    assert_eq!(failed["aftermath"], "rolled_back", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("rolled back"), "{error}");
    assert_eq!(
        version_ids(),
        ["10c0000000a1", "10c0000000b2"],
        "nothing of c3 is recorded"
    );
    h.release();
    // Nothing is left to resolve: the next run applies it.
    let (code, _, stderr) = run_watching(dir.path(), url, || {});
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        version_ids(),
        ["10c0000000a1", "10c0000000b2", "10c0000000c3"]
    );
}

#[test]
fn postgres_retries_a_revision_refused_a_lock() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    released_and_not(
        &db.url,
        false,
        &|| postgres_holder(&db),
        &|| {
            db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c';")
                .trim()
                == "1"
        },
        &|| db.version_ids(),
    );
    // c3 (column d) came in only after the lock was gone.
    assert_eq!(
        db.sql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 't';").trim(),
        "c,d,id"
    );
}

#[test]
fn mariadb_retries_a_revision_refused_a_metadata_lock() {
    let Some(db) = TestDb::create(Server::Mariadb) else {
        return;
    };
    released_and_not(
        &db.url,
        false,
        &|| mariadb_holder(&db),
        &|| {
            db.sql("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'c';")
                .trim()
                == "1"
        },
        &|| db.version_ids(),
    );
    assert_eq!(
        db.sql("SELECT COUNT(*) FROM retort_version_failures;")
            .trim(),
        "0",
        "no failure is left recorded"
    );
}

#[test]
fn sqlite_retries_a_revision_refused_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.db");
    let url = format!("sqlite:{}", file.display());
    let ids = || {
        sqlite3(&file, "SELECT revision_id FROM retort_version ORDER BY 1;")
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    released_and_not(
        &url,
        true,
        &|| sqlite_holder(&file),
        &|| {
            sqlite3(
                &file,
                "SELECT count(*) FROM sqlite_master WHERE name = 'u';",
            )
            .trim()
                == "1"
        },
        &ids,
    );
}

#[test]
fn a_runaway_statement_is_stopped_by_the_server() {
    for server in [Server::Postgres, Server::Mariadb] {
        let Some(db) = TestDb::create(server) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        let sleep = match server {
            Server::Postgres => "SELECT pg_sleep(600);",
            Server::Mariadb => "SELECT SLEEP(600);",
        };
        std::fs::write(
            dir.path().join("migrations/a1.sql"),
            format!("-- retort: id=5e0000000001 message=\"runaway\"\nCREATE TABLE kept (id INT);\n{sleep}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("retort.toml"),
            "migrations = \"migrations\"\n[limits]\nstatement_timeout = 0.5\n",
        )
        .unwrap();
        let out = retort_command(dir.path(), &["--database-url", &db.url, "run"])
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{server:?}: {stderr}");
        let said = match server {
            Server::Postgres => "statement timeout",
            Server::Mariadb => "max_statement_time",
        };
        assert!(stderr.contains(said), "{server:?}: {stderr}");
        assert!(
            stderr.contains(sleep.trim_end_matches(';')),
            "{server:?}: {stderr}"
        );
        assert!(db.version_ids().is_empty(), "{server:?}");
    }
}

/// Outside a transaction a revision is retried only while nothing of it has
/// run: refused at its first statement it runs again; refused after one
/// took effect it is a part-way failure, recorded for `retort resolve`.
#[test]
fn a_non_transactional_revision_is_retried_only_before_anything_of_it_ran() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let dir = project(50);
    let (code, _, stderr) = run_watching(dir.path(), &db.url, || {});
    assert_eq!(code, Some(0), "{stderr}");
    std::fs::write(
        dir.path().join("migrations/b2.sql"),
        "-- retort: id=10c0000000b2 parents=10c0000000a1 transactional=false message=\"outside\"\n\
         ALTER TABLE t ADD COLUMN early INT;\nCREATE TABLE side (id INT);\n",
    )
    .unwrap();
    // Refused at the first statement: retried, and released, it completes.
    let mut held = Some(postgres_holder(&db));
    let (code, events, stderr) = run_watching(dir.path(), &db.url, || {
        if let Some(mut h) = held.take() {
            h.release();
        }
    });
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(count(&events, "retrying") >= 1, "{events:?}");
    assert_eq!(db.version_ids(), ["10c0000000a1", "10c0000000b2"]);

    // Refused at its second statement, after the first took effect: no retry.
    std::fs::write(
        dir.path().join("migrations/c3.sql"),
        "-- retort: id=10c0000000c3 parents=10c0000000b2 transactional=false message=\"part-way\"\n\
         CREATE TABLE first_done (id INT);\nALTER TABLE t ADD COLUMN late INT;\n",
    )
    .unwrap();
    let h = postgres_holder(&db);
    let (code, events, stderr) = run_watching(dir.path(), &db.url, || {});
    drop(h);
    assert_eq!(code, Some(1), "{stderr}\n{events:?}");
    assert_eq!(count(&events, "retrying"), 0, "{events:?}");
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert_eq!(failed["aftermath"], "partial", "{failed}");
    assert_eq!(
        db.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'first_done';")
            .trim(),
        "1",
        "its first statement stays applied"
    );
    assert_eq!(
        db.sql("SELECT revision_id FROM retort_version_failures;")
            .trim(),
        "10c0000000c3",
        "and the part-way failure is recorded"
    );
}
