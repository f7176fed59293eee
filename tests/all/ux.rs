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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sdk = root.join("plugin-sdk");
    let out = retort(
        tmp.path(),
        &["init", "myapp", "--sdk", sdk.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("Created a Retort project in myapp"),
        "{stdout}"
    );
    assert!(stdout.contains("  retort build\n"), "{stdout}");
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

    // Before the first build, `upgrade` says the crate is not built, and a
    // new revision follows the unbuilt one rather than starting a second base.
    let (first_id, first_parent) = {
        let out = retort(&project, &["revision", "-m", "seed", "--lang", "python"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let first = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
        let id = first
            .split("const ID: &'static str = \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        (id, stdout)
    };
    assert!(
        first_parent.contains(&format!("(follows {first_id})")),
        "{first_parent}"
    );
    let scripts: Vec<_> = std::fs::read_dir(project.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    assert_eq!(scripts.len(), 1, "the script is written into migrations/");
    std::fs::remove_file(&scripts[0]).unwrap();

    // Give the first revision a table, build it with `retort build` into
    // a target directory of its own (CARGO_TARGET_DIR), and upgrade from a
    // cold per-machine cache: `build` compiled everything, so `upgrade`
    // compiles nothing.
    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib)
        .unwrap()
        .replacen(
            "let _ = db;",
            r#"db.execute("CREATE TABLE greetings (id INTEGER PRIMARY KEY, text VARCHAR(80))", &[])?;"#,
            1,
        )
        .replacen("let _ = db;", r#"db.execute("DROP TABLE greetings", &[])?;"#, 1);
    std::fs::write(&lib, &source).unwrap();
    std::fs::copy(
        root.join("example-plugins/rust/Cargo.lock"),
        project.join("Cargo.lock"),
    )
    .unwrap();
    let cache = tmp.path().join("xdg-cache");
    let target = root.join("target/init-tests");
    let with_env = |args: &[&str]| {
        crate::common::retort_command(&project, args)
            .env("CARGO_TARGET_DIR", &target)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .unwrap()
    };
    let out = with_env(&["upgrade", "--dry-run"]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("warning: revision crate {name}"))
            && stderr.contains("no component"),
        "{stderr}"
    );
    let out = with_env(&["build"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(project.join(format!("migrations/{name}.wasm")).is_file());
    assert!(stderr.contains("Built 1 revision crate(s)"), "{stderr}");
    let out = with_env(&["--format", "json", "upgrade"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let done = events(&stdout)
        .into_iter()
        .find(|e| e["event"] == "done")
        .expect("a done event");
    assert_eq!(done["compiled"], 0, "{stdout}");
    assert_eq!(done["count"], 1, "{stdout}");
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

    // Edit it and forget to build: the run warns, naming the crate.
    std::fs::write(&lib, source.replace("VARCHAR(80)", "VARCHAR(120)")).unwrap();
    let out = with_env(&["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: revision crate {name}"))
            && stderr.contains("changed after its component was built")
            && stderr.contains("retort build"),
        "{stderr}"
    );
}

#[test]
fn init_in_a_script_language_runs_with_nothing_but_retort() {
    // Outside any checkout, with an empty per-machine cache: no cargo, no
    // interpreter files, no copy step.
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("xdg-cache");
    for (lang, extension, stubs) in [
        ("python", "py", &["retort.pyi"][..]),
        ("js", "js", &["retort.d.ts", "jsconfig.json"][..]),
        ("wat", "wat", &[][..]),
        ("sql", "sql", &[][..]),
    ] {
        let project = tmp.path().join(format!("app-{lang}"));
        let out = retort(
            tmp.path(),
            &["init", project.to_str().unwrap(), "--lang", lang],
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{lang}: {stderr}");
        assert!(stdout.contains("retort upgrade"), "{lang}: {stdout}");
        assert!(!stdout.contains("retort build"), "{lang}: {stdout}");
        assert!(!project.join("Cargo.toml").exists(), "{lang}");
        assert!(!project.join("revisions").exists(), "{lang}");
        for stub in stubs {
            assert!(
                project.join("migrations").join(stub).is_file(),
                "{lang}: {stub}"
            );
        }
        let revisions: Vec<_> = std::fs::read_dir(project.join("migrations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        assert_eq!(revisions.len(), 1, "{lang}: {revisions:?}");
        let revision = &revisions[0];
        let text_of = std::fs::read_to_string(revision).unwrap();
        let edited = match lang {
            "python" => text_of.replacen(
                "    # db.execute(\"CREATE TABLE example",
                "    db.execute(\"CREATE TABLE greetings (id INTEGER)\")\n    # db.execute(\"CREATE TABLE example",
                1,
            ),
            "js" => text_of.replacen(
                "exports.upgrade = function () {\n",
                "exports.upgrade = function () {\n  db.execute('CREATE TABLE greetings (id INTEGER)');\n",
                1,
            ),
            "sql" => text_of.replacen(
                "-- retort:up\n",
                "-- retort:up\nCREATE TABLE greetings (id INTEGER);\n",
                1,
            ),
            _ => text_of.clone(),
        };
        assert!(
            lang == "wat" || edited != text_of,
            "{lang}: the scaffold changed shape"
        );
        std::fs::write(revision, &edited).unwrap();

        let out = crate::common::retort_command(&project, &["upgrade"])
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{lang}: {stderr}");
        let db = project.join("app.db");
        assert_eq!(version_ids(&db).len(), 1, "{lang}");
        let tables = crate::common::sqlite3(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE name = 'greetings';",
        );
        assert_eq!(tables, if lang == "wat" { "0\n" } else { "1\n" }, "{lang}");
        let (history, _) = text(&retort(&project, &["history", "-i"]));
        assert!(
            history.contains("(head)") && history.contains("(applied)"),
            "{lang}: {history}"
        );
        assert!(!project.join("migrations/interpreters").exists(), "{lang}");
    }
}

#[test]
fn the_sdk_packages_with_its_wit_inside() {
    // `cargo package` reads only what is inside the crate: the WIT the SDK
    // generates its bindings from must be there, not in ../wit.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "package",
            "-p",
            "retort-sdk",
            "--list",
            "--allow-dirty",
            "--offline",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.lines().any(|l| l == "wit/migration.wit"), "{stdout}");
    assert_eq!(
        std::fs::read(root.join("plugin-sdk/wit/migration.wit")).unwrap(),
        std::fs::read(root.join("wit/migration.wit")).unwrap(),
        "wit/ and the SDK's copy are one file"
    );
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
