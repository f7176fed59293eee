//! The command line as people meet it: `init` to an applied revision, shell
//! completions, `--help` examples, `history --graph`/`--dot`, `--format
//! json` on the other commands, and the progress bar on a terminal.

use std::path::Path;
use std::process::Command;

use retort_tests::{BRANCHING, EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, retort, retort_bin, text, version_ids};
use crate::deploy::events;

#[test]
fn init_then_build_then_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let out = retort(tmp.path(), &["init", "myapp"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("Created a Retort project in myapp"),
        "{stdout}"
    );
    assert!(stdout.contains("  cargo build --release\n"), "{stdout}");
    let project = tmp.path().join("myapp");
    for file in [
        "retort.toml",
        "Cargo.toml",
        ".cargo/config.toml",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }
    assert!(project.join("migrations").is_dir());
    let crates: Vec<_> = std::fs::read_dir(project.join("revisions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(crates.len(), 1, "{crates:?}");
    let crate_dir = &crates[0];
    let name = crate_dir.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with("_initial_schema"), "{name}");

    // A second init in the same place is refused.
    let again = retort(tmp.path(), &["init", "myapp"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).1.contains("exists already"));

    // Give the first revision a table, then build the project the way the
    // README says (`cargo build --release`, the target comes from
    // .cargo/config.toml), into a target directory of its own.
    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib)
        .unwrap()
        .replacen(
            "let _ = db;",
            r#"db.execute("CREATE TABLE greetings (id INTEGER PRIMARY KEY, text VARCHAR(80))", &[])?;"#,
            1,
        )
        .replacen("let _ = db;", r#"db.execute("DROP TABLE greetings", &[])?;"#, 1);
    std::fs::write(&lib, source).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(
        root.join("example-plugins/rust/Cargo.lock"),
        project.join("Cargo.lock"),
    )
    .unwrap();
    let target = root.join("target/init-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .current_dir(&project)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "building the new project failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    std::fs::copy(
        target.join(format!("wasm32-wasip2/release/{name}.wasm")),
        project.join(format!("migrations/{name}.wasm")),
    )
    .unwrap();

    let out = retort(&project, &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[1/1] upgrade"), "{stderr}");
    assert!(stderr.contains("initial schema"), "{stderr}");
    let db = project.join("app.db");
    assert_eq!(version_ids(&db).len(), 1);
    assert_eq!(
        crate::common::sqlite3(
            &db,
            "SELECT name FROM sqlite_master WHERE name = 'greetings';"
        ),
        "greetings\n"
    );
    let (current, _) = text(&retort(&project, &["current"]));
    assert!(current.ends_with(" (head)\n"), "{current}");
}

#[test]
fn completions_for_every_shell() {
    let tmp = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef retort"),
        ("fish", "complete -c retort"),
    ] {
        let out = retort(tmp.path(), &["completions", shell]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout}");
        for word in ["upgrade", "dry-run", "targets", "format"] {
            assert!(stdout.contains(word), "{shell} completes {word}");
        }
    }
    let out = retort(tmp.path(), &["completions", "tcsh-nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let tmp = tempfile::tempdir().unwrap();
    let (top, _) = text(&retort(tmp.path(), &["--help"]));
    assert!(top.contains("Examples:"), "{top}");
    assert!(top.contains("Exit codes: 0"), "{top}");
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    for command in commands {
        let (help, _) = text(&retort(tmp.path(), &[command, "--help"]));
        assert!(
            help.contains("Example"),
            "`retort {command} --help` has no example:\n{help}"
        );
    }
}

#[test]
fn history_draws_the_graph_and_writes_dot() {
    let s = Scratch::new(&BRANCHING);
    let migrations = s.migrations.to_str().unwrap();
    let out = retort(
        s.dir.path(),
        &["--migrations", migrations, "history", "--graph"],
    );
    let (graph, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        graph,
        "● d4f7a2b9e806 (head) merge auth and billing: account overview\n\
         ├─┐\n\
         ● │ a7f04b2c8e03 auth: create api_tokens\n\
         ● │ a7c3e9d1f002 (auth) auth: create sessions\n\
         │ ● b9e2c5d7a405 [depends on a7c3e9d1f002] billing: create invoices, ordered in a session\n\
         │ ● b3d6f8a1c204 (billing) billing: create plans\n\
         ├─┘\n\
         ● 5e1a0c3b7d01 create accounts\n\
         ● c0ffee5a1e07 (audit) (head) audit: create audit_log\n"
    );
    let (dot, _) = text(&retort(
        s.dir.path(),
        &["--migrations", migrations, "history", "--dot"],
    ));
    assert!(dot.starts_with("digraph retort {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    assert!(
        dot.contains("\"a7f04b2c8e03\" -> \"d4f7a2b9e806\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"b9e2c5d7a405\" -> \"d4f7a2b9e806\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"a7c3e9d1f002\" -> \"b9e2c5d7a405\" [style=dashed, label=\"depends on\"];"),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), 7, "{dot}");
    assert_eq!(dot.matches("peripheries=2").count(), 2, "two heads: {dot}");
    // If Graphviz is installed, it must accept the file.
    if let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        assert!(child.wait_with_output().unwrap().status.success());
    }
}

#[test]
fn json_on_the_other_commands() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let url = s.url();
    let migrations = s.migrations.to_str().unwrap();
    let json = |args: &[&str]| {
        let mut all = vec![
            "--database-url",
            &url,
            "--migrations",
            migrations,
            "--format",
            "json",
        ];
        all.extend_from_slice(args);
        let out = retort(s.dir.path(), &all);
        let (stdout, stderr) = text(&out);
        let mut events = events(&stdout);
        assert_eq!(events.len(), 1, "one object: {stdout}");
        (out.status.code().unwrap(), events.remove(0), stderr)
    };
    let (code, history, _) = json(&["history"]);
    assert_eq!(code, 0);
    let revisions = history["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 4);
    assert_eq!(revisions[0]["id"], "e05b7d9c1a42");
    assert_eq!(revisions[0]["head"], true);
    assert_eq!(
        revisions[0]["down_revisions"],
        serde_json::json!(["a94d0e6f3c21"])
    );
    assert_eq!(revisions[0]["sha256"].as_str().unwrap().len(), 64);
    let (_, heads, _) = json(&["heads"]);
    assert_eq!(heads["heads"][0]["id"], "e05b7d9c1a42");
    let (code, check, _) = json(&["check"]);
    assert_eq!(code, 1);
    assert_eq!(check["up_to_date"], false);
    assert_eq!(check["pending"], serde_json::json!(EXAMPLE_IDS));
    let out = retort(
        s.dir.path(),
        &[
            "--database-url",
            &url,
            "--migrations",
            migrations,
            "upgrade",
            "+2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let (_, current, _) = json(&["current"]);
    assert_eq!(
        current["applied_heads"],
        serde_json::json!(["7c2e5b8a4d10"])
    );
    assert_eq!(current["applied"].as_array().unwrap().len(), 2);
    let (_, show, _) = json(&["show", "7c2e"]);
    assert_eq!(
        show["revision"]["children"],
        serde_json::json!(["a94d0e6f3c21"])
    );
    let (_, script, _) = json(&["upgrade", "--sql", "7c2e:heads"]);
    assert_eq!(script["event"], "script");
    assert!(
        script["sql"]
            .as_str()
            .unwrap()
            .contains("ALTER TABLE users ADD COLUMN slug")
    );
    let (code, error, _) = json(&["show", "nope"]);
    assert_eq!(code, 2);
    assert_eq!(error["event"], "error");
    assert_eq!(error["exit_code"], 2);
}

/// Runs `command` under `script`, which gives it a terminal; what the terminal showed.
fn on_a_terminal(cwd: &Path, command: &str, no_color: bool) -> Option<String> {
    let mut c = Command::new("script");
    c.current_dir(cwd)
        .args(["-qefc", command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG");
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let out = c.output().ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_progress_bar_on_a_terminal_and_plain_lines_elsewhere() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let bin = retort_bin();
    let base = format!(
        "{} --database-url {} --migrations {}",
        bin.display(),
        s.url(),
        s.migrations.display()
    );
    // Not a terminal: plain lines, no escape sequences, no bar.
    let out = retort(
        s.dir.path(),
        &[
            "--database-url",
            &s.url(),
            "--migrations",
            s.migrations.to_str().unwrap(),
            "upgrade",
            "+2",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(stderr.contains("[2/2] upgrade 7c2e5b8a4d10"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains("revisions]"), "{stderr}");

    // A terminal: the bar is drawn (revision n/N), the lines are still there.
    let Some(screen) = on_a_terminal(s.dir.path(), &format!("{base} upgrade +1"), false) else {
        eprintln!("SKIPPED: `script` is not installed");
        return;
    };
    assert!(
        screen.contains("[3/4] upgrade a94d0e6f3c21")
            || screen.contains("[1/1] upgrade a94d0e6f3c21"),
        "{screen}"
    );
    assert!(screen.contains("revisions]"), "no bar: {screen:?}");
    // NO_COLOR: still a bar, but no colour (SGR) sequences.
    let screen = on_a_terminal(s.dir.path(), &format!("{base} upgrade"), true).unwrap();
    assert!(screen.contains("revisions]"), "no bar: {screen:?}");
    assert!(
        !screen.contains("\u{1b}[3"),
        "colour despite NO_COLOR: {screen:?}"
    );
    // --quiet: nothing at all.
    let screen = on_a_terminal(
        s.dir.path(),
        &format!("{base} downgrade base --quiet"),
        false,
    )
    .unwrap();
    assert!(screen.trim().is_empty(), "{screen:?}");
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[test]
fn verbosity_and_rust_log_control_the_spans() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let url = s.url();
    let migrations = s.migrations.to_str().unwrap();
    let base = ["--database-url", url.as_str(), "--migrations", migrations];
    let run = |args: &[&str], rust_log: Option<&str>| {
        let mut all = base.to_vec();
        all.extend_from_slice(args);
        let mut command = crate::common::retort_command(s.dir.path(), &all);
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out)
    };
    // Default: no diagnostics.
    let (_, stderr) = run(&["upgrade", "+1"], None);
    assert!(!stderr.contains("revision{"), "{stderr}");
    // -v: one span line per revision as it closes, with its time.
    let (_, stderr) = run(&["upgrade", "+1", "-v"], None);
    assert!(
        stderr.contains(
            "revision{id=\"7c2e5b8a4d10\" direction=upgrade step=1 of=1}: close time.busy="
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("statement{"), "{stderr}");
    // -vv: statements inside their revision, with rows.
    let (_, stderr) = run(&["upgrade", "+1", "-vv"], None);
    assert!(
        stderr.contains("revision{id=\"a94d0e6f3c21\" direction=upgrade step=1 of=1}:statement{kind=\"execute\" sql=ALTER TABLE users ADD COLUMN slug VARCHAR(255) params=0 rows=0}: close"),
        "{stderr}"
    );
    // RUST_LOG overrides -v; JSON stays alone on stdout.
    let (stdout, stderr) = run(&["upgrade", "+1", "--format", "json"], Some("retort=debug"));
    assert!(stderr.contains("statement{kind=\"query\""), "{stderr}");
    assert!(crate::deploy::run_events(&stdout).len() >= 3);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}
