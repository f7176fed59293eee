//! The `retort` binary: its surface, exit codes and error lines.

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS, FAIL_SECOND_STATEMENT};

use crate::common::{Scratch, retort, sqlite3_script, text, version_ids};

fn write_config(s: &Scratch) {
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:${APP_DB:-app.db}\"\nmigrations = \"migrations\"\n",
    )
    .unwrap();
}

#[test]
fn upgrade_current_history_heads_downgrade_through_the_cli() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    write_config(&s);
    let cwd = s.dir.path();

    let out = retort(cwd, &["upgrade"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.is_empty(), "progress goes to stderr: {stdout}");
    assert!(stderr.contains("[4/4] upgrade e05b7d9c1a42"), "{stderr}");
    assert!(stderr.contains("info: backfilled 3 slugs"), "{stderr}");
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);

    let (current, _) = text(&retort(cwd, &["current"]));
    assert_eq!(current, "e05b7d9c1a42 (head)\n");
    let (verbose, _) = text(&retort(cwd, &["current", "--verbose"]));
    assert_eq!(verbose.lines().count(), 4, "{verbose}");
    assert!(verbose.contains("sha256 "), "{verbose}");

    let (history, _) = text(&retort(cwd, &["history"]));
    assert_eq!(
        history,
        "a94d0e6f3c21 -> e05b7d9c1a42 (head), index posts by author and users by slug\n\
         7c2e5b8a4d10 -> a94d0e6f3c21, add users.slug, backfilled from names\n\
         1f3a9c0d2b7e -> 7c2e5b8a4d10, create posts with a foreign key to users\n\
         <base> -> 1f3a9c0d2b7e, create users and seed the first accounts\n"
    );
    let (heads, _) = text(&retort(cwd, &["heads"]));
    assert_eq!(heads, "e05b7d9c1a42 (head)\n");

    let out = retort(cwd, &["downgrade", "-1"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS[..3]);
    let out = retort(cwd, &["downgrade", "base"]);
    assert!(out.status.success());
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[test]
fn run_is_idempotent_and_exits_zero() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let url = s.url();
    let migrations = s.migrations.to_str().unwrap().to_string();
    let args = [
        "--database-url",
        url.as_str(),
        "--migrations",
        migrations.as_str(),
        "run",
    ];
    let first = retort(s.dir.path(), &args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first).1);
    let second = retort(s.dir.path(), &args);
    assert_eq!(second.status.code(), Some(0));
    assert!(
        text(&second).1.contains("Nothing to upgrade"),
        "{}",
        text(&second).1
    );
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}

#[test]
fn a_failing_revision_exits_one_with_one_error() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    s.add(FAIL_SECOND_STATEMENT);
    write_config(&s);
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("error: revision f00000000002 failed in upgrade"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}

#[test]
fn bad_input_exits_two_without_a_panic() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    write_config(&s);
    let cwd = s.dir.path();
    let cases: &[(&[&str], &str)] = &[
        (&["upgrade", "nope"], "unknown target \"nope\""),
        (&["upgrade", "+x"], "cannot read target \"+x\""),
        (
            &["--config", "absent.toml", "current"],
            "cannot read config file absent.toml",
        ),
        (
            &["--database-url", "oracle://x", "current"],
            "is not supported",
        ),
        (&["--migrations", "nowhere", "heads"], "cannot read nowhere"),
        (&["downgrade", "--sql", "base"], "needs the starting point"),
        (
            &["upgrade", "--sql", "--dialect", "db2"],
            "unknown dialect \"db2\"",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let out = retort(cwd, args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
    }
    std::fs::write(s.migrations.join("junk.wasm"), b"junk").unwrap();
    let out = retort(cwd, &["heads"]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("junk.wasm is not a valid revision component"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_exits_one() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let migrations = s.migrations.to_str().unwrap().to_string();
    let out = retort(
        s.dir.path(),
        &[
            "--database-url",
            "sqlite:/nonexistent-dir/x.db",
            "--migrations",
            &migrations,
            "run",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("error: cannot connect to sqlite:/nonexistent-dir/x.db"),
        "{}",
        text(&out).1
    );
}

#[test]
fn sql_goes_to_stdout_and_env_overrides_the_file() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    write_config(&s);
    let out = std::process::Command::new(crate::common::retort_bin())
        .current_dir(s.dir.path())
        .args(["upgrade", "--sql"])
        .env("APP_DB", "other.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let (script, _) = text(&out);
    sqlite3_script(&s.db("from_script.db"), &script);
    assert_eq!(version_ids(&s.db("from_script.db")), EXAMPLE_IDS);

    let out = std::process::Command::new(crate::common::retort_bin())
        .current_dir(s.dir.path())
        .args(["run"])
        .env("APP_DB", "other.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(version_ids(&s.db("other.db")), EXAMPLE_IDS);
    assert!(!s.db("app.db").exists());
}

#[test]
fn the_config_is_found_in_a_parent_and_dotenv_fills_what_the_environment_lacks() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:${APP_DB}\"\nmigrations = \"migrations\"\n",
    )
    .unwrap();
    std::fs::write(s.dir.path().join(".env"), "APP_DB=from_dotenv.db\n").unwrap();
    let deeper = s.dir.path().join("src").join("deeper");
    std::fs::create_dir_all(&deeper).unwrap();

    let out = retort(&deeper, &["upgrade"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(version_ids(&s.db("from_dotenv.db")), EXAMPLE_IDS);

    // The environment wins over the file.
    let out = std::process::Command::new(crate::common::retort_bin())
        .current_dir(&deeper)
        .args(["upgrade"])
        .env("APP_DB", "from_env.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(version_ids(&s.db("from_env.db")), EXAMPLE_IDS);

    // A .env that cannot be read is an error naming it, not ignored.
    std::fs::write(s.dir.path().join(".env"), "APP_DB='never closed\n").unwrap();
    let out = retort(&deeper, &["current"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(".env"), "{stderr}");
}

#[test]
fn an_applied_revision_whose_file_is_gone_is_an_error_for_current_and_verify() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    write_config(&s);
    let cwd = s.dir.path();
    let out = retort(cwd, &["upgrade"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let last = std::fs::read_dir(&s.migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .max()
        .unwrap();
    std::fs::remove_file(&last).unwrap();

    for command in ["current", "verify", "upgrade"] {
        let out = retort(cwd, &[command]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "the version table lists {}, which no component in the migrations directory provides",
                EXAMPLE_IDS[3]
            )),
            "{command}: {stderr}"
        );
        assert!(!stdout.contains("(head)"), "{command}: {stdout}");
    }
    assert_eq!(version_ids(&s.db("app.db")), EXAMPLE_IDS);
}
