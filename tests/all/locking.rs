//! The migration lock: concurrent deploys apply every revision exactly once,
//! and a run that cannot get the lock in time says who holds it (exit 3).

use std::path::Path;
use std::process::Child;

use retort_tests::EXAMPLE_IDS;
use sqlx::Connection;

use crate::common::{Scratch, retort_command, text, version_ids};
use crate::servers::{Server, TestDb};
use retort_tests::EXAMPLE_CHAIN;

/// Concurrent `retort run` processes per round.
const PROCESSES: usize = 8;

/// Rounds per database; `RETORT_LOCK_ROUNDS` raises it for a longer soak.
fn rounds() -> usize {
    std::env::var("RETORT_LOCK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

fn spawn_runs(s: &Scratch, url: &str) -> Vec<Child> {
    let migrations = s.migrations.to_str().unwrap();
    (0..PROCESSES)
        .map(|_| {
            retort_command(
                s.dir.path(),
                &[
                    "--database-url",
                    url,
                    "--migrations",
                    migrations,
                    "-q",
                    "run",
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("retort starts")
        })
        .collect()
}

fn all_succeed(children: Vec<Child>) {
    for child in children {
        let out = child.wait_with_output().expect("retort ends");
        assert_eq!(
            out.status.code(),
            Some(0),
            "a concurrent run failed: {}",
            text(&out).1
        );
    }
}

#[test]
fn concurrent_runs_on_sqlite_apply_each_revision_once() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    for round in 0..rounds() {
        let db = s.db(&format!("round{round}.db"));
        all_succeed(spawn_runs(&s, &format!("sqlite:{}", db.display())));
        assert_eq!(version_ids(&db), EXAMPLE_IDS, "round {round}");
        assert_eq!(
            crate::common::sqlite3(
                &db,
                "SELECT COUNT(*) FROM users; SELECT COUNT(*) FROM posts;"
            ),
            "3\n1\n"
        );
    }
}

fn concurrent_runs_on(server: Server) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    for round in 0..rounds() {
        let Some(db) = TestDb::create(server) else {
            return;
        };
        all_succeed(spawn_runs(&s, &db.url));
        assert_eq!(db.version_ids(), EXAMPLE_IDS, "round {round}");
        assert_eq!(
            db.sql("SELECT COUNT(*) FROM users;\nSELECT COUNT(*) FROM posts;"),
            "3\n1\n"
        );
    }
}

#[test]
fn concurrent_runs_on_postgres_apply_each_revision_once() {
    concurrent_runs_on(Server::Postgres);
}

#[test]
fn concurrent_runs_on_mariadb_apply_each_revision_once() {
    concurrent_runs_on(Server::Mariadb);
}

/// Runs with a short lock timeout while the lock is held elsewhere: exit 3
/// naming the holder; `--no-lock` runs anyway.
fn refused_while_held(s: &Scratch, url: &str, holder_says: &str) {
    let migrations = s.migrations.to_str().unwrap();
    let args = [
        "--database-url",
        url,
        "--migrations",
        migrations,
        "--lock-timeout",
        "0.5",
        "run",
    ];
    let started = std::time::Instant::now();
    let out = retort_command(s.dir.path(), &args).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("for the migration lock, held by"),
        "{stderr}"
    );
    assert!(stderr.contains(holder_says), "{stderr}");
    assert!(stderr.contains("--lock-timeout"), "{stderr}");
    assert!(
        started.elapsed().as_secs_f64() < 10.0,
        "the timeout was not honoured"
    );
}

#[test]
fn a_held_sqlite_lock_times_out_with_exit_3() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let db = s.db("app.db");
    let lock_path = Path::new(&format!("{}.retort-lock", db.display())).to_path_buf();
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    std::fs::write(&lock_path, "deploy job 42").unwrap();
    refused_while_held(&s, &s.url(), "deploy job 42");
    // Nothing ran: not even the version table was created.
    assert_eq!(
        crate::common::sqlite3(&db, "SELECT COUNT(*) FROM sqlite_master;"),
        "0\n"
    );
    drop(holder);
    let migrations = s.migrations.to_str().unwrap();
    let url = s.url();
    let out = retort_command(
        s.dir.path(),
        &["--database-url", &url, "--migrations", migrations, "run"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(version_ids(&db), EXAMPLE_IDS);
}

#[tokio::test]
async fn a_held_postgres_lock_times_out_with_exit_3() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('public.retort_version', 0))")
        .execute(&mut holder)
        .await
        .unwrap();
    refused_while_held(&s, &db.url, "PostgreSQL backend pid");
    let migrations = s.migrations.to_str().unwrap();
    let out = retort_command(
        s.dir.path(),
        &[
            "--database-url",
            &db.url,
            "--migrations",
            migrations,
            "--no-lock",
            "run",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "--no-lock runs anyway: {}",
        text(&out).1
    );
    assert_eq!(db.version_ids(), EXAMPLE_IDS);
    holder.close().await.unwrap();
}

#[tokio::test]
async fn a_held_mariadb_lock_times_out_with_exit_3() {
    let Some(db) = TestDb::create(Server::Mariadb) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let mut holder = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "SELECT GET_LOCK(CONCAT('retort:', LEFT(SHA2(CONCAT(DATABASE(), '.', 'retort_version'), 256), 40)), 0)",
    )
    .execute(&mut holder)
    .await
    .unwrap();
    refused_while_held(&s, &db.url, "MariaDB/MySQL connection ");
    holder.close().await.unwrap();
    let migrations = s.migrations.to_str().unwrap();
    let out = retort_command(
        s.dir.path(),
        &["--database-url", &db.url, "--migrations", migrations, "run"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(db.version_ids(), EXAMPLE_IDS);
}

#[test]
fn a_sqlite_database_reached_through_a_symlink_takes_the_same_lock() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let db = s.db("app.db");
    std::fs::File::create(&db).unwrap();
    let link = s.dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let real = std::fs::canonicalize(&db).unwrap();
    let lock_path = format!("{}.retort-lock", real.display());
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    std::fs::write(&lock_path, "the run through app.db").unwrap();
    // Through the symlink, and through a path with `..` in it.
    let dotted = s.dir.path().join("sub/../link.db");
    std::fs::create_dir(s.dir.path().join("sub")).unwrap();
    for path in [&link, &dotted] {
        refused_while_held(
            &s,
            &format!("sqlite://{}", path.display()),
            "the run through app.db",
        );
    }
    assert!(!Path::new(&format!("{}.retort-lock", link.display())).exists());
    assert_eq!(
        crate::common::sqlite3(&db, "SELECT COUNT(*) FROM sqlite_master;"),
        "0\n"
    );
}

#[test]
fn a_lock_file_that_cannot_be_opened_is_exit_2_with_the_reason() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let db = s.db("app.db");
    // A directory where the lock file goes: no run holds it, none can.
    std::fs::create_dir(format!("{}.retort-lock", db.display())).unwrap();
    let out = crate::common::retort_on(s.dir.path(), &s.url(), &["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot open the lock file"), "{stderr}");
    assert!(stderr.contains("app.db.retort-lock"), "{stderr}");
    assert!(!stderr.contains("another retort run"), "{stderr}");
}
