//! `retort run --targets FILE` and repeated `--database-url`: one chain on
//! many databases, one of them broken. The others are applied, the exit
//! code is non-zero, and the broken one is named.

use std::collections::BTreeMap;

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};
use serde_json::Value;

use crate::common::{Scratch, retort_command, sqlite3, text, version_ids};
use crate::deploy::{kinds, run_events as events};
use crate::servers::{Server, TestDb};

/// Runs `retort --migrations M run ARGS` in the scratch directory.
fn run(s: &Scratch, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--migrations", s.migrations.to_str().unwrap(), "run"];
    all.extend_from_slice(args);
    let out = retort_command(s.dir.path(), &all).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// The per-target `done` events, by target name.
fn done_by_target(events: &[Value]) -> BTreeMap<String, Value> {
    events
        .iter()
        .filter(|e| e["event"] == "done")
        .map(|e| (e["target"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

#[test]
fn fifty_sqlite_targets_one_broken() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let dbs = s.dir.path().join("tenants");
    std::fs::create_dir(&dbs).unwrap();
    let mut file = String::from("# fifty tenants, one database file each\n");
    for i in 1..=50 {
        file.push_str(&format!("sqlite:tenants/t{i:02}.db name=t{i:02}\n"));
    }
    std::fs::write(s.dir.path().join("targets.txt"), file).unwrap();
    // t17 already has a `posts` table: its second revision fails.
    sqlite3(&dbs.join("t17.db"), "CREATE TABLE posts (x INTEGER);");

    let (code, stdout, stderr) = run(
        &s,
        &[
            "--targets",
            "targets.txt",
            "--jobs",
            "4",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let events = events(&stdout);
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["targets"], 50);
    assert_eq!(summary["succeeded"], 49);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["failed_targets"], serde_json::json!(["t17"]));
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["jobs"], 4);
    // Every event names its target; each target's events are in order.
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e["target"].is_string())
    );
    let t05: Vec<Value> = events
        .iter()
        .filter(|e| e["target"] == "t05")
        .cloned()
        .collect();
    assert_eq!(kinds(&t05).first(), Some(&"plan"));
    assert_eq!(kinds(&t05).last(), Some(&"done"));
    let done = done_by_target(&events);
    assert_eq!(done.len(), 50);
    let digest = done["t01"]["digest"].clone();
    for (name, event) in &done {
        if name == "t17" {
            assert_eq!(event["status"], "failed");
            assert_eq!(event["exit_code"], 1);
            assert!(
                event["error"]
                    .as_str()
                    .unwrap()
                    .contains("posts already exists")
            );
        } else {
            assert_eq!(event["status"], "ok", "{name}: {event}");
            assert_eq!(
                event["digest"], digest,
                "same chain, same data, same digest"
            );
        }
    }
    for i in 1..=50 {
        let ids = version_ids(&dbs.join(format!("t{i:02}.db")));
        if i == 17 {
            assert_eq!(ids, EXAMPLE_IDS[..1], "t17 keeps its first revision");
        } else {
            assert_eq!(ids, EXAMPLE_IDS, "t{i:02}");
        }
    }

    // Fixed, and run again at one job at a time with human output: only t17 has work.
    sqlite3(&dbs.join("t17.db"), "DROP TABLE posts;");
    let (code, stdout, stderr) = run(&s, &["--targets", "targets.txt", "--jobs", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("ok ")).count(),
        50,
        "{stderr}"
    );
    assert!(stderr.contains("ok      t17  3 applied"), "{stderr}");
    assert!(stderr.contains("ok      t01  nothing to do"), "{stderr}");
    assert!(
        stderr.contains("Fan-out: 50 of 50 target(s) upgraded, 0 failed"),
        "{stderr}"
    );
    assert_eq!(version_ids(&dbs.join("t17.db")), EXAMPLE_IDS);
}

#[test]
fn repeated_database_urls_fan_out_and_name_the_broken_one() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let a = format!("sqlite:{}", s.db("a.db").display());
    let b = format!("sqlite:{}", s.db("b.db").display());
    sqlite3(&s.db("b.db"), "CREATE TABLE users (x INTEGER);");
    let out = retort_command(
        s.dir.path(),
        &[
            "--migrations",
            s.migrations.to_str().unwrap(),
            "--database-url",
            &a,
            "--database-url",
            &b,
            "run",
        ],
    )
    .output()
    .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("ok      {a}  4 applied")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "FAILED  {b}  exit 1: revision 1f3a9c0d2b7e failed"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Fan-out: 1 of 2 target(s) upgraded, 1 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {b}: revision 1f3a9c0d2b7e failed in upgrade"
        )),
        "{stderr}"
    );
    assert_eq!(version_ids(&s.db("a.db")), EXAMPLE_IDS);

    // Only `run` fans out; a bad targets file is a usage error naming the line.
    let out = retort_command(
        s.dir.path(),
        &["--database-url", &a, "--database-url", &b, "current"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(s.dir.path().join("bad.txt"), "sqlite:a.db\nftp://nope\n").unwrap();
    let (code, _, stderr) = run(&s, &["--targets", "bad.txt"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.txt:2: "), "{stderr}");
}

#[test]
fn twenty_postgres_schemas_one_broken() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let mut file = String::new();
    for i in 1..=20 {
        file.push_str(&format!(
            "{} schema=tenant_{i:02} name=tenant-{i:02}\n",
            db.url
        ));
    }
    std::fs::write(s.dir.path().join("tenants.txt"), file).unwrap();
    // tenant_13 already has a `users` table: its first revision fails.
    db.sql("CREATE SCHEMA tenant_13; CREATE TABLE tenant_13.users (x INTEGER);");

    let (code, stdout, stderr) = run(
        &s,
        &[
            "--targets",
            "tenants.txt",
            "--jobs",
            "4",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let events = events(&stdout);
    let summary = events.last().unwrap();
    assert_eq!(summary["succeeded"], 19);
    assert_eq!(summary["failed_targets"], serde_json::json!(["tenant-13"]));
    let done = done_by_target(&events);
    assert_eq!(done["tenant-13"]["status"], "failed");
    for i in 1..=20 {
        let ids: Vec<String> = db
            .sql(&format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'tenant_{i:02}' AND table_name = 'retort_version';"
            ))
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(ids, ["1"], "tenant_{i:02} has a version table");
        let applied = db.sql(&format!(
            "SELECT revision_id FROM tenant_{i:02}.retort_version ORDER BY revision_id;"
        ));
        if i == 13 {
            assert_eq!(applied, "", "the broken tenant applied nothing");
        } else {
            assert_eq!(
                applied.lines().collect::<Vec<_>>(),
                EXAMPLE_IDS,
                "tenant_{i:02}"
            );
            assert_eq!(
                db.sql(&format!("SELECT count(*) FROM tenant_{i:02}.users;")),
                "3\n"
            );
        }
    }
    // A dry run over all of them changes nothing and names the same one.
    let (code, stdout, _) = run(
        &s,
        &["--targets", "tenants.txt", "--dry-run", "--format", "json"],
    );
    assert_eq!(code, 1);
    let events = crate::deploy::run_events(&stdout);
    let done = done_by_target(&events);
    assert_eq!(done["tenant-01"]["status"], "nothing_to_do");
    assert_eq!(done["tenant-13"]["status"], "failed");
    assert_eq!(
        db.sql("SELECT count(*) FROM tenant_13.users;"),
        "0\n",
        "the dry run left tenant_13 as it was"
    );
}
