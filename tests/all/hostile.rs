//! Hostile revisions: each fails within its budget (or is refused at load),
//! with a message naming the budget or rule and how to change it, and leaves
//! the database and the version table exactly as they were.

use std::path::Path;
use std::time::{Duration, Instant};

use retort_tests::{
    DEEP_RECURSION, EXAMPLE_CHAIN, EXAMPLE_IDS, FORBIDDEN_STATEMENT, FORBIDDEN_TABLE, HUGE_SQL,
    INFINITE_LOOP, LOG_FLOOD, MEMORY_BOMB, SLEEPS, TRAP_AFTER_STATEMENT, WASI_FILES_ENV,
    WASI_NETWORK,
};

use crate::common::{Scratch, retort, schema, sqlite3, text, version_ids};
use crate::servers::{Server, TestDb};

const TIGHT: &str = r#"
database_url = "sqlite:app.db"
migrations = "migrations"

[limits]
cpu_secs = 0.5
timeout_secs = 5
memory_mb = 64
log_kb = 64
statement_kb = 1024

[limits.revisions.h00000000005]
memory_mb = 256

[policy]
deny = ["drop", "truncate", "dcl"]
tables = ["users", "posts", "hostile_marker", "trap_marker", "retort_version"]
"#;

const DATA: &str = "SELECT * FROM users ORDER BY id; SELECT * FROM posts ORDER BY id;";

/// The example chain applied with `config`, then `hostile` added and `args`
/// run: returns exit code, stderr and the time it took, after checking that
/// schema, data and version table are exactly as before.
fn run_hostile(hostile: &Path, config: &str, args: &[&str]) -> (Option<i32>, String, Duration) {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    std::fs::write(s.dir.path().join("retort.toml"), config).unwrap();
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let db = s.db("app.db");
    let (schema_before, data_before) = (schema(&db), sqlite3(&db, DATA));
    s.add(hostile.to_str().unwrap());
    let started = Instant::now();
    let out = retort(s.dir.path(), args);
    let elapsed = started.elapsed();
    assert_eq!(
        schema(&db),
        schema_before,
        "the hostile revision left schema behind"
    );
    assert_eq!(sqlite3(&db, DATA), data_before);
    assert_eq!(version_ids(&db), EXAMPLE_IDS);
    let (_, stderr) = text(&out);
    assert!(
        !stderr.contains("thread 'main'"),
        "the host panicked: {stderr}"
    );
    (out.status.code(), stderr, elapsed)
}

fn assert_budget(hostile: &str, budget: &str, key: &str, within: Duration) {
    let (code, stderr, elapsed) = run_hostile(Path::new(hostile), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("it ran out of its {budget}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("raise `{key}` under [limits]")),
        "{stderr}"
    );
    assert!(
        stderr.contains("its transaction was rolled back"),
        "{stderr}"
    );
    assert!(elapsed < within, "{hostile} took {elapsed:?}");
}

#[test]
fn an_infinite_loop_runs_out_of_cpu() {
    assert_budget(
        INFINITE_LOOP,
        "CPU budget (0.5 s of guest execution)",
        "cpu_secs",
        Duration::from_secs(5),
    );
}

#[test]
fn an_infinite_loop_with_cpu_to_spare_runs_out_of_time() {
    let config = TIGHT
        .replace("cpu_secs = 0.5", "cpu_secs = 100")
        .replace("timeout_secs = 5", "timeout_secs = 1");
    let (code, stderr, elapsed) = run_hostile(Path::new(INFINITE_LOOP), &config, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("it ran out of its wall-clock budget (1 s"),
        "{stderr}"
    );
    assert!(stderr.contains("raise `timeout_secs`"), "{stderr}");
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
}

#[test]
fn a_memory_bomb_runs_out_of_memory() {
    assert_budget(
        MEMORY_BOMB,
        "memory budget (64 MiB",
        "memory_mb",
        Duration::from_secs(5),
    );
}

#[test]
fn deep_recursion_traps_cleanly() {
    let (code, stderr, elapsed) = run_hostile(Path::new(DEEP_RECURSION), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the component trapped: wasm trap: call stack exhausted"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(5));
}

#[test]
fn a_log_flood_runs_out_of_log() {
    assert_budget(
        LOG_FLOOD,
        "log budget (64 KiB",
        "log_kb",
        Duration::from_secs(5),
    );
}

#[test]
fn a_huge_statement_is_refused_before_it_is_sent() {
    // Per-revision limits give this one enough memory to build its 100 MB string.
    let (code, stderr, elapsed) = run_hostile(Path::new(HUGE_SQL), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("it sent 102400 KiB of SQL in one call, over its budget of 1024 KiB"),
        "{stderr}"
    );
    assert!(stderr.contains("raise `statement_kb`"), "{stderr}");
    assert!(elapsed < Duration::from_secs(10));
}

#[test]
fn a_trap_after_a_first_statement_rolls_back() {
    let (code, stderr, _) = run_hostile(Path::new(TRAP_AFTER_STATEMENT), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("boom: the revision gave up half-way"),
        "{stderr}"
    );
}

#[test]
fn a_forbidden_statement_is_refused_by_the_policy() {
    let (code, stderr, _) = run_hostile(Path::new(FORBIDDEN_STATEMENT), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the SQL policy refused `DROP TABLE posts`: `drop` statements are denied"),
        "{stderr}"
    );
    // Offline too: no script is written.
    let (code, stderr, _) = run_hostile(
        Path::new(FORBIDDEN_STATEMENT),
        TIGHT,
        &["upgrade", "--sql", "e05b7d9c1a42:heads"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`drop` statements are denied"), "{stderr}");
    assert!(stderr.contains("no script was written"), "{stderr}");
}

#[test]
fn a_forbidden_table_is_refused_by_the_policy() {
    let (code, stderr, _) = run_hostile(Path::new(FORBIDDEN_TABLE), TIGHT, &["run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .contains("it touches secrets, which is not among the tables this revision may touch"),
        "{stderr}"
    );
}

#[test]
fn wasi_files_environment_clocks_and_randomness_show_nothing() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(WASI_FILES_ENV);
    std::fs::write(s.dir.path().join("retort.toml"), TIGHT).unwrap();
    let out = retort(s.dir.path(), &["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("files denied: entity not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("listing denied: entity not found"),
        "{stderr}"
    );
    assert!(stderr.contains("info: 0 env vars"), "{stderr}");
    assert!(stderr.contains("info: clock 0"), "{stderr}");
}

/// Refused before anything runs (when the run loads it: `history` and
/// `heads` read an SDK component's metadata without compiling it); returns
/// the message.
fn refused_at_load(name: &str, bytes: &[u8], expected: &str) -> String {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    std::fs::write(s.dir.path().join("retort.toml"), TIGHT).unwrap();
    assert_eq!(retort(s.dir.path(), &["run"]).status.code(), Some(0));
    let before = schema(&s.db("app.db"));
    s.write(name, bytes);
    let out = retort(s.dir.path(), &["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert_eq!(schema(&s.db("app.db")), before);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
    stderr
}

#[test]
fn a_network_import_is_refused_at_load() {
    let bytes = std::fs::read(WASI_NETWORK).unwrap();
    let stderr = refused_at_load("net.wasm", &bytes, "it imports wasi:sockets/");
    assert!(stderr.contains("revisions get no network"), "{stderr}");
}

#[test]
fn an_unknown_import_is_refused_at_load() {
    refused_at_load(
        "evil.wat",
        br#"(component (import "evil:host/steal" (instance)))"#,
        "evil.wat is not a valid revision component: it imports evil:host/steal, which retort does not provide",
    );
}

#[test]
fn a_wrong_wit_version_is_refused_at_load() {
    refused_at_load(
        "future.wat",
        br#"(component (import "retort:migration/database@0.2.0" (instance)))"#,
        "it imports retort:migration/database@0.2.0, but this retort serves retort:migration@0.1.0",
    );
}

#[test]
fn malformed_bytes_are_refused_at_load() {
    refused_at_load("junk.wasm", b"\0asm\x0d\0\x01\0\xff\xff\xff", "junk.wasm");
    let mut truncated = std::fs::read(EXAMPLE_CHAIN[0]).unwrap();
    truncated.truncate(truncated.len() / 2);
    refused_at_load("half.wasm", &truncated, "half.wasm");
}

#[test]
fn a_duplicate_id_is_refused_at_load() {
    refused_at_load(
        "again.wasm",
        &std::fs::read(EXAMPLE_CHAIN[1]).unwrap(),
        "revision id 7c2e5b8a4d10 is claimed by both",
    );
}

#[test]
fn the_wall_clock_budget_counts_database_time() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let config = format!(
        "database_url = \"{}\"\nmigrations = \"migrations\"\n[limits.revisions.f0000000000a]\ntimeout_secs = 0.5\n",
        db.url
    );
    std::fs::write(s.dir.path().join("retort.toml"), config).unwrap();
    assert_eq!(retort(s.dir.path(), &["run"]).status.code(), Some(0));
    s.add(SLEEPS);
    let started = Instant::now();
    let out = retort(s.dir.path(), &["run"]);
    let elapsed = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it ran out of its wall-clock budget (0.5 s, database time included)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[limits.revisions.f0000000000a]"),
        "{stderr}"
    );
    assert!(
        elapsed < Duration::from_millis(1900),
        "pg_sleep(2) was waited out: {elapsed:?}"
    );
    assert_eq!(db.version_ids(), EXAMPLE_IDS);
    assert_eq!(
        db.sql("SELECT name FROM users WHERE id = 1;").trim(),
        "Site Admin"
    );
}
