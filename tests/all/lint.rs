//! `retort lint` on the statements revisions really send (Rust, WAT,
//! Python, JavaScript and SQL alike), its exit codes and JSON, exemptions,
//! and the gate `retort run --lint` applies before anything runs.

use retort_tests::{EXAMPLE_CHAIN, R0001_NOTES};
use serde_json::Value;

use crate::common::{Scratch, retort_command, text};
use crate::deploy::{events, run_events};
use crate::servers::{Server, TestDb};

/// The mixed chain's WAT revision with its CREATE TABLE replaced by an
/// index on the Rust revision's table (same length: the WAT counts bytes).
fn wat_indexing_notes() -> String {
    let wat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../example-plugins/mixed/revisions/r0002_tags.wat"
    ))
    .expect("the mixed chain's WAT revision");
    let create = "CREATE TABLE tags (id INTEGER NOT NULL PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id), name VARCHAR(64) NOT NULL)";
    let index = format!("{:<126}", "CREATE INDEX notes_by_id ON notes (id)");
    assert_eq!(index.len(), create.len());
    assert!(wat.contains(create));
    wat.replace(create, &index)
}

const PYTHON: &str = r#"
from retort import db

id = "a1b2c3d4e5f6"
parents = "b7e2a90c4d11"
message = "retype note bodies"

def upgrade():
    db.execute("ALTER TABLE notes ALTER COLUMN body TYPE text")

def downgrade():
    pass
"#;

const JAVASCRIPT: &str = r#"
exports.id = 'b2c3d4e5f6a1';
exports.parents = 'a1b2c3d4e5f6';
exports.message = 'require note bodies';

exports.upgrade = function () {
  db.execute('ALTER TABLE notes ALTER COLUMN body SET NOT NULL');
  db.execute('-- retort:lint-ignore renaming-column\nALTER TABLE notes RENAME COLUMN body TO text');
};

exports.downgrade = function () {};
"#;

const SQL: &str = "-- retort: id=c3d4e5f6a1b2 parents=b2c3d4e5f6a1 message=\"tags must exist\"\n\
    ALTER TABLE notes ADD COLUMN tag_id INTEGER;\n\
    ALTER TABLE notes ADD CONSTRAINT notes_tag FOREIGN KEY (tag_id) REFERENCES tags (id);\n";

/// Every kind of revision, each sending one statement a rule catches.
fn every_kind() -> Scratch {
    let mut components: Vec<&str> = EXAMPLE_CHAIN.to_vec();
    components.push(R0001_NOTES);
    let s = Scratch::new(&components);
    s.write("r0002_tags.wat", wat_indexing_notes().as_bytes());
    for (name, body) in [
        ("r0003_retype.py", PYTHON),
        ("r0004_require.js", JAVASCRIPT),
    ] {
        let path = s.dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        s.add(path.to_str().unwrap());
    }
    s.write("r0005_tags.sql", SQL.as_bytes());
    s
}

/// `retort --migrations migrations ARGS…` in the scratch project: exit code, stdout, stderr.
fn cli(s: &Scratch, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["--migrations", "migrations"];
    all.extend_from_slice(args);
    let out = retort_command(s.dir.path(), &all).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

/// `retort lint ARGS…` with no database.
fn lint(s: &Scratch, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    cli(s, &all)
}

/// `retort --database-url URL --format json COMMAND ARGS…`.
fn json_on(s: &Scratch, url: &str, command: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["--database-url", url, "--format", "json", command];
    all.extend_from_slice(args);
    cli(s, &all)
}

/// (revision, rule) of each finding, in order.
fn found(findings: &[Value]) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|f| f["event"] == "finding")
        .map(|f| {
            (
                f["revision"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{f}"))
                    .to_string(),
                f["rule"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{f}"))
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn lint_judges_what_every_kind_of_revision_sends() {
    let s = every_kind();
    let (code, stdout, stderr) = lint(&s, &["--dialect", "postgres", "--format", "json"]);
    assert_eq!(code, Some(1), "error-level findings exit 1: {stderr}");
    let findings = findings_of(&stdout);
    let got = found(&findings);
    let has = |id: &str, rule: &str| got.iter().any(|(i, r)| i == id && r == rule);
    // Rust (the SDK): an index on a table an earlier revision created.
    assert!(
        has("e05b7d9c1a42", "require-concurrent-index-creation"),
        "{got:?}"
    );
    // WAT, written by hand.
    assert!(
        has("b7e2a90c4d11", "require-concurrent-index-creation"),
        "{got:?}"
    );
    // Python and JavaScript scripts, as the interpreters run them.
    assert!(has("a1b2c3d4e5f6", "changing-column-type"), "{got:?}");
    assert!(has("b2c3d4e5f6a1", "adding-not-nullable-field"), "{got:?}");
    // A SQL file, with its line.
    assert!(
        has("c3d4e5f6a1b2", "constraint-missing-not-valid"),
        "{got:?}"
    );
    // The JavaScript revision's inline ignore holds (first-party).
    assert!(!has("b2c3d4e5f6a1", "renaming-column"), "{got:?}");
    // A revision that creates its own table is not flagged for indexing it.
    assert!(!got.iter().any(|(i, _)| i == "1f3a9c0d2b7e"), "{got:?}");
    let sql = findings
        .iter()
        .find(|f| f["revision"] == "c3d4e5f6a1b2" && f["rule"] == "constraint-missing-not-valid")
        .unwrap();
    assert_eq!(sql["line"], 3, "{sql}");
    assert_eq!(sql["statement_index"], 2);
    assert!(sql["file"].as_str().unwrap().ends_with("r0005_tags.sql"));
    assert!(
        sql["statement"]
            .as_str()
            .unwrap()
            .starts_with("ALTER TABLE notes ADD CONSTRAINT")
    );
    assert!(sql["help"].as_str().unwrap().contains("NOT VALID"), "{sql}");
    for f in &findings {
        assert!(matches!(f["level"].as_str(), Some("error" | "warn")), "{f}");
        assert!(!f["message"].as_str().unwrap().is_empty());
    }

    // Human output says where, the statement and the fix.
    let (code, stdout, stderr) = lint(&s, &["--dialect", "postgres"]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("error[require-concurrent-index-creation] revision e05b7d9c1a42"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r0005_tags.sql:3), statement 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    CREATE INDEX ix_posts_user_published"),
        "{stdout}"
    );
    assert!(stdout.contains("  help: "), "{stdout}");
    assert!(
        stderr.contains("Linted 9 revision(s) for postgres 15:"),
        "{stderr}"
    );

    // Third-party revisions cannot silence their own findings.
    let (_, stdout, _) = lint(
        &s,
        &[
            "--dialect",
            "postgres",
            "--format",
            "json",
            "--trust",
            "third-party",
        ],
    );
    assert!(
        found(&events(&stdout)).contains(&("b2c3d4e5f6a1".into(), "renaming-column".into())),
        "{stdout}"
    );

    // Levels and exemptions from retort.toml: nothing at error level is left.
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "[lint.rules]\nrequire-concurrent-index-creation = \"warn\"\nchanging-column-type = \"off\"\n\
         [lint.revisions.b2c3d4e5f6a1]\ndisable = [\"adding-not-nullable-field\"]\n\
         [lint.revisions.c3d4e5f6a1b2]\ndisable = [\"all\"]\n",
    )
    .unwrap();
    let (code, stdout, stderr) = lint(&s, &["--dialect", "postgres", "--format", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let findings = findings_of(&stdout);
    assert!(
        findings.iter().all(|f| f["level"] == "warn"),
        "{findings:?}"
    );
    let got = found(&findings);
    assert!(got.contains(&(
        "e05b7d9c1a42".into(),
        "require-concurrent-index-creation".into()
    )));
    assert!(
        !got.iter()
            .any(|(i, r)| r == "changing-column-type" || i == "c3d4e5f6a1b2"),
        "{got:?}"
    );

    // A rule name that does not exist is a configuration error (exit 2).
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "[lint.rules]\nno-such-rule = \"off\"\n",
    )
    .unwrap();
    let (code, _, stderr) = lint(&s, &["--dialect", "postgres"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown rule \"no-such-rule\""), "{stderr}");
}

#[test]
fn mysql_table_copies_are_caught_and_the_suggested_fix_is_what_the_server_refuses() {
    let s = Scratch::new(&[]);
    s.write(
        "a1.sql",
        b"-- retort: id=a1a1a1a1a1a1 message=\"t\"\nCREATE TABLE t (id INT PRIMARY KEY, a INT);\n",
    );
    s.write(
        "b2.sql",
        b"-- retort: id=b2b2b2b2b2b2 parents=a1a1a1a1a1a1 message=\"widen\"\n\
          ALTER TABLE t MODIFY COLUMN a BIGINT;\n\
          ALTER TABLE t ADD COLUMN b INT, ALGORITHM=COPY;\n",
    );
    let (code, stdout, _) = lint(&s, &["--dialect", "mysql", "--format", "json"]);
    assert_eq!(code, Some(1), "{stdout}");
    let findings = findings_of(&stdout);
    assert_eq!(
        found(&findings),
        [
            (
                "b2b2b2b2b2b2".to_string(),
                "mysql-column-change".to_string()
            ),
            ("b2b2b2b2b2b2".to_string(), "mysql-table-copy".to_string()),
        ]
    );
    assert_eq!(findings[0]["level"], "warn");
    assert_eq!(findings[1]["level"], "error");
    let help = findings[0]["help"].as_str().unwrap();
    assert!(help.contains("ALGORITHM=INPLACE, LOCK=NONE"), "{help}");
    // The witness: the server refuses, rather than copies, the type change
    // written as the help says.
    let Some(db) = TestDb::create(Server::Mariadb) else {
        return;
    };
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT);");
    let refused = Server::Mariadb
        .run(
            Some(&db.name),
            "ALTER TABLE t MODIFY COLUMN a BIGINT, ALGORITHM=INPLACE, LOCK=NONE;",
        )
        .unwrap_err();
    assert!(
        refused.contains("ALGORITHM=INPLACE is not supported"),
        "{refused}"
    );
}

#[test]
fn run_lint_refuses_before_anything_runs() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&[]);
    s.write(
        "a1.sql",
        b"-- retort: id=a1a1a1a1a1a1 message=\"t\"\nCREATE TABLE t (id INT PRIMARY KEY, a INT);\n",
    );
    let run = |args: &[&str]| json_on(&s, &db.url, "run", args);
    let (code, _, stderr) = run(&["--lint"]);
    assert_eq!(code, Some(0), "nothing to find in a new table: {stderr}");
    s.write(
        "b2.sql",
        b"-- retort: id=b2b2b2b2b2b2 parents=a1a1a1a1a1a1 message=\"index\"\nCREATE INDEX t_a ON t (a);\n",
    );

    // Online, lint covers what the database still needs: b2 only.
    let (code, stdout, stderr) = cli(&s, &["--database-url", &db.url, "lint"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("Linted 1 revision(s) for postgres"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&["--lint"]);
    assert_eq!(code, Some(4), "{stdout}{stderr}");
    let events = run_events(&stdout);
    let lint = events
        .iter()
        .find(|e| e["event"] == "lint")
        .expect("a lint event");
    assert_eq!(lint["rule"], "require-concurrent-index-creation");
    assert_eq!(lint["revision"], "b2b2b2b2b2b2");
    assert!(
        !events.iter().any(|e| e["event"] == "plan"),
        "nothing was planned: {events:?}"
    );
    let done = events.last().unwrap();
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("refusing to migrate: lint found 1 error(s)"),
        "{done}"
    );
    assert_eq!(db.version_ids(), ["a1a1a1a1a1a1"]);
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 't_a';")
            .trim(),
        "0"
    );

    // The same gate from retort.toml; --lint=warn reports and migrates.
    std::fs::write(s.dir.path().join("retort.toml"), "lint = \"error\"\n").unwrap();
    let (code, _, _) = run(&[]);
    assert_eq!(code, Some(4));
    let (code, stdout, stderr) = run(&["--lint=warn"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        run_events(&stdout)
            .iter()
            .any(|e| e["event"] == "lint" && e["level"] == "error")
    );
    assert_eq!(db.version_ids(), ["a1a1a1a1a1a1", "b2b2b2b2b2b2"]);
}

/// The `finding` lines of `retort lint --format json` (compile progress may come first).
fn findings_of(stdout: &str) -> Vec<Value> {
    events(stdout)
        .into_iter()
        .filter(|e| e["event"] == "finding")
        .collect()
}

#[test]
fn a_revision_that_needs_rows_is_named_and_the_rest_is_still_linted() {
    let s = Scratch::new(&[]);
    s.write(
        "a1.sql",
        b"-- retort: id=a1a1a1a1a1a1 message=\"t\"\nCREATE TABLE t (id INT PRIMARY KEY, a INT);\n",
    );
    let reads = dirs_script(
        &s,
        "r0002_reads.py",
        "from retort import db\nid = \"b2b2b2b2b2b2\"\nparents = \"a1a1a1a1a1a1\"\nmessage = \"reads\"\n\
         def upgrade():\n    for row in db.query(\"SELECT id FROM t\"):\n        db.execute(\"UPDATE t SET a = 1\")\n\
         def downgrade():\n    pass\n",
    );
    s.add(&reads);
    s.write(
        "c3.sql",
        b"-- retort: id=c3c3c3c3c3c3 parents=b2b2b2b2b2b2 message=\"index\"\nCREATE INDEX t_a ON t (a);\n",
    );
    let (code, stdout, stderr) = lint(&s, &["--dialect", "postgres", "--format", "json"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let findings = findings_of(&stdout);
    assert_eq!(
        found(&findings),
        [
            ("b2b2b2b2b2b2".to_string(), "not-recorded".to_string()),
            (
                "c3c3c3c3c3c3".to_string(),
                "require-concurrent-index-creation".to_string()
            ),
        ]
    );
    let note = findings[0]["message"].as_str().unwrap();
    assert!(note.contains("query() is not available offline"), "{note}");
    assert_eq!(findings[0]["level"], "warn");
}

/// Writes a script beside the migrations and returns its path (for `Scratch::add`).
fn dirs_script(s: &Scratch, name: &str, body: &str) -> String {
    let path = s.dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn rehearse_lints_a_revision_that_reads_rows_and_leaves_the_database_as_it_was() {
    let Some(db) = TestDb::create(Server::Postgres) else {
        return;
    };
    let s = Scratch::new(&[]);
    s.write(
        "a1.sql",
        b"-- retort: id=a1a1a1a1a1a1 message=\"t\"\nCREATE TABLE t (id INT PRIMARY KEY, a INT);\nINSERT INTO t VALUES (1, 1);\n",
    );
    let (code, _, stderr) = cli(&s, &["--database-url", &db.url, "-q", "run"]);
    assert_eq!(code, Some(0), "{stderr}");
    let reads = dirs_script(
        &s,
        "r0002_reads.py",
        "from retort import db\nid = \"b2b2b2b2b2b2\"\nparents = \"a1a1a1a1a1a1\"\nmessage = \"index if rows\"\n\
         def upgrade():\n    if db.query(\"SELECT count(*) FROM t\").rows[0][0] > 0:\n        db.execute(\"CREATE INDEX t_a ON t (a)\")\n\
         def downgrade():\n    pass\n",
    );
    s.add(&reads);
    let lint_db = |extra: &[&str]| json_on(&s, &db.url, "lint", extra);
    // Recorded, it cannot be linted: it reads rows.
    let (code, stdout, stderr) = lint_db(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        found(&findings_of(&stdout)),
        [("b2b2b2b2b2b2".to_string(), "not-recorded".to_string())]
    );
    // Rehearsed, it sees the row and the index it would create.
    let (code, stdout, stderr) = lint_db(&["--rehearse"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(
        found(&findings_of(&stdout)),
        [(
            "b2b2b2b2b2b2".to_string(),
            "require-concurrent-index-creation".to_string()
        )]
    );
    assert_eq!(
        db.version_ids(),
        ["a1a1a1a1a1a1"],
        "the rehearsal was rolled back"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 't_a';")
            .trim(),
        "0"
    );
    // --rehearse needs the database's own plan.
    let (code, _, stderr) = lint_db(&["--rehearse", "a1a1a1a1a1a1:heads"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn a_fan_out_is_gated_once_before_any_target_runs() {
    let s = Scratch::new(&[]);
    s.write(
        "a1.sql",
        b"-- retort: id=a1a1a1a1a1a1 message=\"t\"\nCREATE TABLE t (id INT PRIMARY KEY);\nDROP TABLE legacy;\n",
    );
    // SQLite has no error-level rule of its own: make one.
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "migrations = \"migrations\"\n[lint]\nrun = \"error\"\n[lint.rules]\nban-drop-table = \"error\"\n",
    )
    .unwrap();
    let dbs = [s.db("one.db"), s.db("two.db")];
    let urls: Vec<String> = dbs
        .iter()
        .map(|d| format!("sqlite:{}", d.display()))
        .collect();
    let (code, stdout, stderr) = cli(
        &s,
        &[
            "--database-url",
            &urls[0],
            "--database-url",
            &urls[1],
            "--format",
            "json",
            "run",
        ],
    );
    assert_eq!(code, Some(4), "{stdout}{stderr}");
    let lint: Vec<Value> = events(&stdout)
        .into_iter()
        .filter(|e| e["event"] == "lint")
        .collect();
    assert_eq!(lint.len(), 1, "linted once for all targets: {stdout}");
    assert_eq!(lint[0]["rule"], "ban-drop-table");
    for db in &dbs {
        assert!(!db.exists(), "{} was touched", db.display());
    }
}
