//! Transaction modes, revisions outside transactions, MySQL's implicit
//! commits (recorded, refused, resolved) and connections lost mid-revision.

use retort::{Error, Overrides, Target};
use retort_tests::{
    DDL_THEN_FAIL, EXAMPLE_CHAIN, EXAMPLE_IDS, FAIL_SECOND_STATEMENT, OUTSIDE_TRANSACTION, SLEEPS,
};

use crate::common::{Scratch, quiet, retort_command, text, version_ids};
use crate::servers::{Server, TestDb, on_each_server};

fn all_mode() -> Overrides {
    Overrides {
        transaction_mode: Some("all".into()),
        ..Overrides::default()
    }
}

#[tokio::test]
async fn all_mode_rolls_back_the_whole_run_on_sqlite() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(FAIL_SECOND_STATEMENT);
    let project = s.project_at(&s.url(), all_mode()).await;
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("the run's single transaction was rolled back"),
        "{message}"
    );
    assert!(!message.contains("stay applied"), "{message}");
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
        "retort_version\nretort_version_failures\n"
    );
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[tokio::test]
async fn all_mode_applies_everything_at_once_on_postgres() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let project = s.project_at(&db.url, all_mode()).await;
    assert_eq!(
        project
            .upgrade(&Target::Heads, &mut quiet())
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(db.version_ids(), EXAMPLE_IDS);
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();

    s.add(FAIL_SECOND_STATEMENT);
    let project = s.project_at(&db.url, all_mode()).await;
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("single transaction was rolled back"),
        "{err}"
    );
    assert!(db.version_ids().is_empty());
    assert!(!db.schema().contains("users"), "{}", db.schema());
}

#[tokio::test]
async fn all_mode_is_refused_on_mariadb_and_with_non_transactional_revisions() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    if let Some(db) = TestDb::create(Server::Mariadb) {
        let project = s.project_at(&db.url, all_mode()).await;
        let err = project
            .upgrade(&Target::Heads, &mut quiet())
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .contains("needs DDL that can be rolled back, which mysql does not have"),
            "{err}"
        );
        assert!(db.version_ids().is_empty());
    }
    s.add(OUTSIDE_TRANSACTION);
    let project = s.project_at(&s.url(), all_mode()).await;
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains("cannot include f0000000000b"),
        "{err}"
    );
}

async fn outside_transaction_runs(db: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(OUTSIDE_TRANSACTION);
    let project = s.project_at(&db.url, Overrides::default()).await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert!(db.schema().contains("ix_users_name"), "{}", db.schema());
    assert_eq!(
        db.version_ids().last().map(String::as_str),
        Some("f0000000000b")
    );
    project
        .downgrade(&"-1".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    assert!(!db.schema().contains("ix_users_name"));
    assert_eq!(db.version_ids(), EXAMPLE_IDS);
}

/// DDL then a refused statement: on MariaDB the CREATE has committed, so the
/// failure is recorded and runs refuse (exit 4) until it is resolved.
async fn ddl_then_failure(db: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(DDL_THEN_FAIL);
    let migrations = s.migrations.to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--database-url",
            db.url.as_str(),
            "--migrations",
            migrations.as_str(),
        ];
        args.extend_from_slice(extra);
        retort_command(s.dir.path(), &args).output().unwrap()
    };
    let out = run(&["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        db.version_ids(),
        EXAMPLE_IDS,
        "the failed revision is not listed"
    );
    match db.server {
        Server::Postgres => {
            assert!(
                stderr.contains("its transaction was rolled back"),
                "{stderr}"
            );
            assert!(!db.schema().contains("half_done"));
            assert_eq!(
                db.sql("SELECT count(*) FROM retort_version_failures;")
                    .trim(),
                "0",
                "nothing is recorded"
            );
            return;
        }
        Server::Mariadb => {}
    }
    assert!(
        stderr.contains("commits each DDL statement at once"),
        "{stderr}"
    );
    assert!(
        stderr.contains("recorded in retort_version_failures"),
        "{stderr}"
    );
    assert!(
        stderr.contains("retort resolve f00000000009 --applied"),
        "{stderr}"
    );
    assert!(
        db.schema().contains("half_done"),
        "MariaDB really did commit the CREATE"
    );
    assert_eq!(
        db.sql("SELECT revision_id, direction, statement FROM retort_version_failures;"),
        "f00000000009\tupgrade\tINSERT INTO no_such_table (id) VALUES (1)\n"
    );

    // Every later run refuses, naming the way out.
    let out = run(&["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("refusing to run: 1 revision(s) failed part-way"),
        "{stderr}"
    );
    assert!(
        stderr.contains("f00000000009 failed in upgrade"),
        "{stderr}"
    );
    let (_, current) = text(&run(&["current"]));
    assert!(
        current.contains("f00000000009 failed part-way in upgrade"),
        "{current}"
    );

    // The operator undoes it by hand and says so.
    db.sql("DROP TABLE half_done;");
    let out = run(&["resolve", "f000", "--rolled-back"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        db.sql("SELECT COUNT(*) FROM retort_version_failures;")
            .trim(),
        "0"
    );
    assert_eq!(db.version_ids(), EXAMPLE_IDS);

    // It fails the same way again; this time the operator completes it by hand.
    assert_eq!(run(&["run"]).status.code(), Some(1));
    let out = run(&["resolve", "f00000000009", "--applied"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        db.version_ids().last().map(String::as_str),
        Some("f00000000009")
    );
    let out = run(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).1.contains("Nothing to upgrade"));
    let out = run(&["resolve", "f00000000009", "--applied"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("has no recorded failure"),
        "{}",
        text(&out).1
    );
}

/// The connection is killed while the revision waits on the database.
async fn connection_killed(db: TestDb) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.project_at(&db.url, Overrides::default())
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    s.add(SLEEPS);
    let migrations = s.migrations.to_str().unwrap().to_string();
    let args = [
        "--database-url",
        db.url.as_str(),
        "--migrations",
        migrations.as_str(),
        "run",
    ];
    let child = retort_command(s.dir.path(), &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (find, kill) = match db.server {
        Server::Postgres => (
            format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT pg_sleep%';",
                db.name
            ),
            "SELECT pg_terminate_backend({});",
        ),
        Server::Mariadb => (
            format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND INFO LIKE 'SELECT SLEEP%';",
                db.name
            ),
            "KILL {};",
        ),
    };
    let mut killed = false;
    for _ in 0..100 {
        let pid = db.server.run(None, &find).unwrap();
        if let Some(pid) = pid.lines().next().filter(|p| !p.is_empty()) {
            db.server.run(None, &kill.replace("{}", pid)).unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(killed, "the slow revision never showed up");
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("revision f0000000000a failed in upgrade"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the connection to the database was lost"),
        "{stderr}"
    );
    assert_eq!(db.version_ids(), EXAMPLE_IDS, "nothing half-recorded");
    assert_eq!(
        db.sql("SELECT name FROM users WHERE id = 1;").trim(),
        "Site Admin",
        "rolled back"
    );

    // A rerun completes.
    let out = retort_command(s.dir.path(), &args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        db.version_ids().last().map(String::as_str),
        Some("f0000000000a")
    );
    assert_eq!(
        db.sql("SELECT name FROM users WHERE id = 1;").trim(),
        "changed by a slow revision"
    );
}

on_each_server! {
    a_revision_outside_a_transaction_runs => outside_transaction_runs;
    ddl_then_a_failure => ddl_then_failure;
    a_killed_connection_is_reported_and_a_rerun_completes => connection_killed;
}

#[tokio::test]
async fn ddl_then_a_failure_rolls_back_cleanly_on_sqlite() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(DDL_THEN_FAIL);
    let err = s
        .project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Run(e) if !e.left_dirty()), "{err}");
    assert_eq!(
        s.sql("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"),
        "0\n"
    );
    assert_eq!(s.sql("SELECT COUNT(*) FROM retort_version_failures"), "0\n");
}
