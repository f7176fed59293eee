//! The graph commands through the binary: history, heads, branches, show,
//! stamp, check, and revision/merge scaffolds that are built and applied.

use std::path::{Path, PathBuf};
use std::process::Command;

use retort_tests::BRANCHING;
use retort_tests::branching::{ACCOUNTS, API_TOKENS, AUDIT, INVOICES, MERGE, PLANS, SESSIONS};

use crate::common::{Scratch, retort, sqlite3_script, text, version_ids};

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("retort.toml"),
        "database_url = \"sqlite:app.db\"\nmigrations = \"migrations\"\nrevisions = \"revisions\"\n",
    )
    .unwrap();
}

/// Runs the CLI and returns (exit code, stdout, stderr).
fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = retort(cwd, args);
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn history_heads_branches_and_show_read_the_graph() {
    let s = Scratch::new(&BRANCHING);
    write_config(s.dir.path());
    let cwd = s.dir.path();

    let (code, history, _) = run(cwd, &["history"]);
    assert_eq!(code, 0);
    assert_eq!(
        history,
        format!(
            "{API_TOKENS}, {INVOICES} -> {MERGE} (head) (mergepoint), merge auth and billing: account overview\n\
             <base> -> {AUDIT} (audit) (head), audit: create audit_log\n\
             {PLANS} -> {INVOICES}, billing: create invoices, ordered in a session\n\
             {ACCOUNTS} -> {PLANS} (billing), billing: create plans\n\
             {SESSIONS} -> {API_TOKENS}, auth: create api_tokens\n\
             {ACCOUNTS} -> {SESSIONS} (auth), auth: create sessions\n\
             <base> -> {ACCOUNTS} (branchpoint), create accounts\n"
        )
    );
    // From sessions on: what follows it or depends on it.
    let (_, range, _) = run(cwd, &["history", "-r", "a7c3:"]);
    let firsts: Vec<&str> = range
        .lines()
        .map(|l| {
            l.split(" -> ")
                .nth(1)
                .unwrap()
                .split([' ', ','])
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(firsts, [MERGE, INVOICES, API_TOKENS, SESSIONS]);
    let (_, verbose, _) = run(cwd, &["history", "-r", ":billing", "--verbose"]);
    assert_eq!(verbose.matches("Revision: ").count(), 2, "{verbose}");
    assert!(
        verbose.contains(&format!("Revision: {PLANS} (billing)\n")),
        "{verbose}"
    );
    assert!(
        verbose.contains(&format!("Children: {SESSIONS}, {PLANS}\n")),
        "{verbose}"
    );

    let (_, heads, _) = run(cwd, &["heads"]);
    assert_eq!(heads, format!("{AUDIT} (audit) (head)\n{MERGE} (head)\n"));

    let (_, branches, _) = run(cwd, &["branches"]);
    assert_eq!(
        branches,
        format!(
            "<base> -> {ACCOUNTS} (branchpoint), create accounts\n\
             \x20   -> {SESSIONS} (auth), auth: create sessions\n\
             \x20   -> {PLANS} (billing), billing: create plans\n\
             Branch labels:\n\
             \x20   audit: starts at {AUDIT}, head {AUDIT}\n\
             \x20   auth: starts at {SESSIONS}, head {MERGE}\n\
             \x20   billing: starts at {PLANS}, head {MERGE}\n"
        )
    );

    let (code, show, _) = run(cwd, &["show", "auth@head"]);
    assert_eq!(code, 0);
    for line in [
        format!("Revision: {MERGE} (head) (mergepoint)"),
        format!("Parents: {API_TOKENS}, {INVOICES}"),
        "Children: -".to_string(),
        "On branches: auth, billing".to_string(),
        "Message: merge auth and billing: account overview".to_string(),
    ] {
        assert!(show.lines().any(|l| l == line), "{line:?} in\n{show}");
    }
    let (_, show, _) = run(cwd, &["show", "auth"]);
    assert!(show.contains(&format!("Needed by: {INVOICES}\n")), "{show}");
    let (_, show, _) = run(cwd, &["show", &format!("{INVOICES}-1")]);
    assert!(show.starts_with(&format!("Revision: {PLANS}")), "{show}");

    for (args, expected) in [
        (
            vec!["show", "a7"],
            "is ambiguous: it matches a7c3e9d1f002, a7f04b2c8e03",
        ),
        (vec!["show", "head"], "there are 2 heads"),
        (vec!["show", "5e1a+1"], "5e1a0c3b7d01 has 2 children"),
        (
            vec!["show", "nobody@head"],
            "no revision declares the branch label \"nobody\"",
        ),
        (
            vec!["history", "-r", "+1:"],
            "a relative move needs a starting point",
        ),
    ] {
        let (code, _, stderr) = run(cwd, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn stamp_and_check_move_only_the_version_table() {
    let s = Scratch::new(&BRANCHING);
    write_config(s.dir.path());
    let cwd = s.dir.path();

    let (code, stdout, _) = run(cwd, &["check"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("not up to date: 7 revision(s) to apply"),
        "{stdout}"
    );

    let (code, _, stderr) = run(cwd, &["stamp", "auth@head"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no revision ran"), "{stderr}");
    assert_eq!(version_ids(&s.db("app.db")).len(), 6);
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
        "retort_version\nretort_version_failures\n"
    );
    let (code, stdout, _) = run(cwd, &["check"]);
    assert_eq!(code, 1);
    assert!(stdout.contains(&format!("to apply: {AUDIT}")), "{stdout}");
    let (_, current, _) = run(cwd, &["current"]);
    assert_eq!(current, format!("{MERGE} (head)\n"));

    // Running the rest applies only the audit base.
    let (code, _, stderr) = run(cwd, &["upgrade"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("[1/1] upgrade c0ffee5a1e07"), "{stderr}");
    let (code, stdout, _) = run(cwd, &["check"]);
    assert_eq!(
        (code, stdout.starts_with("up to date")),
        (0, true),
        "{stdout}"
    );
    let (_, current, _) = run(cwd, &["current"]);
    assert_eq!(current, format!("{AUDIT} (head)\n{MERGE} (head)\n"));

    let (code, _, _) = run(cwd, &["stamp", "-1"]);
    assert_eq!(code, 0);
    assert_eq!(version_ids(&s.db("app.db")).len(), 6);
    let (code, _, _) = run(cwd, &["stamp", "base"]);
    assert_eq!(code, 0);
    assert!(version_ids(&s.db("app.db")).is_empty());
    // The audit table the upgrade made is still there: stamp runs nothing.
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name = 'audit_log'"),
        "audit_log\n"
    );

    // Offline: the rows go to stdout, for another database.
    let (code, script, stderr) = run(cwd, &["stamp", "--sql", "base:billing@head"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!script.contains("CREATE TABLE plans"), "{script}");
    let other = s.db("other.db");
    sqlite3_script(&other, &script);
    assert_eq!(version_ids(&other).len(), 6);
    let (code, script, _) = run(cwd, &["stamp", "--sql", &format!("heads:{PLANS}")]);
    assert_eq!(code, 0);
    assert_eq!(script.matches("DELETE FROM").count(), 2, "{script}");

    let (code, _, stderr) = run(cwd, &["stamp", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown target \"nope\""), "{stderr}");
}

/// Builds a scaffolded crate for wasm32-wasip2 into the repository's target
/// directory (its own subdirectory: the outer cargo holds the main one's
/// lock) and copies the component into `migrations`.
fn build_into(crate_dir: &Path, migrations: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Pin dependency versions to the ones the examples use.
    std::fs::copy(
        root.join("example-plugins/rust/Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();
    let target = root.join("target/scaffold-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {} failed: {}",
        crate_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = crate_dir.file_name().unwrap().to_str().unwrap();
    std::fs::create_dir_all(migrations).unwrap();
    std::fs::copy(
        target.join(format!("wasm32-wasip2/release/{name}.wasm")),
        migrations.join(format!("{name}.wasm")),
    )
    .unwrap();
}

/// `Created revision ID (follows …) in DIR` → (ID, DIR), DIR relative to `cwd`.
fn created(cwd: &Path, stdout: &str) -> (String, PathBuf) {
    let first = stdout.lines().next().unwrap_or_default();
    let id = first.split_whitespace().nth(2).unwrap().to_string();
    let dir = first.rsplit_once(" in ").unwrap().1;
    (id, cwd.join(dir))
}

#[test]
fn revision_and_merge_scaffold_crates_that_build_and_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    write_config(cwd);
    let migrations = cwd.join("migrations");

    // A new project: the first revision is a base.
    let (code, stdout, stderr) = run(cwd, &["revision", "-m", "create widgets"]);
    assert_eq!(code, 0, "{stderr}");
    let (widgets, dir) = created(cwd, &stdout);
    assert!(stdout.contains("(follows <base>)"), "{stdout}");
    assert_eq!(widgets.len(), 12);
    assert!(widgets.chars().all(|c| c.is_ascii_hexdigit()), "{widgets}");
    assert_eq!(
        dir,
        cwd.join(format!("revisions/r{widgets}_create_widgets"))
    );
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    assert!(
        source.contains("DOWN_REVISIONS: &'static [&'static str] = &[];"),
        "{source}"
    );
    let source = source
        .replacen(
            "let _ = db;",
            r#"db.execute("CREATE TABLE widgets (id INTEGER PRIMARY KEY)", &[])?;"#,
            1,
        )
        .replacen(
            "let _ = db;",
            r#"db.execute("DROP TABLE widgets", &[])?;"#,
            1,
        );
    std::fs::write(&lib, source).unwrap();
    build_into(&dir, &migrations);

    // The next one follows the single head; another starts a second branch.
    let (code, stdout, stderr) = run(
        cwd,
        &["revision", "-m", "Add gadgets", "--branch-label", "gadgets"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (gadgets, gadgets_dir) = created(cwd, &stdout);
    let source = std::fs::read_to_string(gadgets_dir.join("src/lib.rs")).unwrap();
    assert!(
        source.contains(&format!(
            "DOWN_REVISIONS: &'static [&'static str] = &[\"{widgets}\"];"
        )),
        "{source}"
    );
    assert!(source.contains("BRANCH_LABELS: &'static [&'static str] = &[\"gadgets\"];"));
    build_into(&gadgets_dir, &migrations);
    let (code, stdout, stderr) = run(
        cwd,
        &[
            "revision",
            "-m",
            "add gizmos",
            "--head",
            &widgets[..6],
            "--depends-on",
            "gadgets",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (gizmos, gizmos_dir) = created(cwd, &stdout);
    let source = std::fs::read_to_string(gizmos_dir.join("src/lib.rs")).unwrap();
    assert!(source.contains(&format!(
        "DEPENDS_ON: &'static [&'static str] = &[\"{gadgets}\"];"
    )));
    build_into(&gizmos_dir, &migrations);

    let (_, heads, _) = run(cwd, &["heads"]);
    assert_eq!(heads.lines().count(), 2, "{heads}");
    let (code, _, stderr) = run(cwd, &["revision", "-m", "which parent?"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("there are 2 heads"), "{stderr}");
    assert!(stderr.contains("retort merge heads"), "{stderr}");
    let (code, _, stderr) = run(
        cwd,
        &[
            "revision",
            "-m",
            "again",
            "--head",
            "gadgets",
            "--branch-label",
            "gadgets",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "branch label \"gadgets\" is declared by both {gadgets} and"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = run(cwd, &["merge", &widgets, &gadgets, "-m", "redundant"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("{widgets} is already part of {gadgets}")),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(cwd, &["merge", "heads", "-m", "join gadgets and gizmos"]);
    assert_eq!(code, 0, "{stderr}");
    let (merge, merge_dir) = created(cwd, &stdout);
    let source = std::fs::read_to_string(merge_dir.join("src/lib.rs")).unwrap();
    assert!(
        source.contains(&format!("&[\"{gadgets}\", \"{gizmos}\"]")),
        "{source}"
    );
    build_into(&merge_dir, &migrations);

    // Everything builds, and applies in order.
    let (code, _, stderr) = run(cwd, &["upgrade", "head"]);
    assert_eq!(code, 0, "{stderr}");
    let mut all = vec![widgets.clone(), gadgets, gizmos, merge.clone()];
    all.sort();
    assert_eq!(version_ids(&cwd.join("app.db")), all);
    assert_eq!(
        crate::common::sqlite3(
            &cwd.join("app.db"),
            "SELECT name FROM sqlite_master WHERE name = 'widgets'"
        ),
        "widgets\n"
    );
    let (_, history, _) = run(cwd, &["history"]);
    assert!(
        history.lines().next().unwrap().contains(&format!(
            "-> {merge} (head) (mergepoint), join gadgets and gizmos"
        )),
        "{history}"
    );
    let (code, _, _) = run(cwd, &["check"]);
    assert_eq!(code, 0);
    let (code, _, stderr) = run(cwd, &["downgrade", "base"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        crate::common::sqlite3(
            &cwd.join("app.db"),
            "SELECT name FROM sqlite_master WHERE name = 'widgets'"
        ),
        ""
    );
}
