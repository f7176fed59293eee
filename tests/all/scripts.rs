//! Script revisions (`*.py`, `*.js`): exceptions roll back and name their
//! line, metadata mistakes and missing interpreters are clear errors, a
//! script's identity is its text (a new interpreter is reported, not
//! drift), the sandbox holds, and one interpreter compile serves every
//! script of its language.

use retort::{Project, Target};
use retort_tests::{MIXED_CHAIN, MIXED_IDS, PYTHON_INTERPRETER};

use crate::common::{Scratch, quiet, retort, sqlite3, text, version_ids};
use crate::mixed::scaffolding_project;

/// Writes `text` as the revision script `name` into the project, with its
/// interpreter in place.
fn add_script(s: &Scratch, name: &str, text: &str) {
    let staged = s.dir.path().join(name);
    std::fs::write(&staged, text).unwrap();
    s.add(staged.to_str().unwrap());
}

/// The first two revisions of the mixed chain (Rust, WAT): something to build on.
fn base() -> Scratch {
    Scratch::new(&MIXED_CHAIN[..2])
}

const PY_FAILING: &str = r#"from retort import db

id = "f00000000001"
parents = "b7e2a90c4d11"
message = "fails in Python"


def upgrade():
    db.execute("CREATE TABLE doomed (x INTEGER)")
    db.execute("INSERT INTO doomed (x) VALUES ($1)", [1])
    check()


def check():
    raise ValueError("the data is not what we expected")


def downgrade():
    db.execute("DROP TABLE doomed")
"#;

const JS_FAILING: &str = r#"exports.id = 'f00000000002';
exports.parents = 'b7e2a90c4d11';
exports.message = 'fails in JavaScript';

exports.upgrade = function () {
  db.execute('CREATE TABLE doomed (x INTEGER)');
  db.execute('INSERT INTO doomed (x) VALUES ($1)', [1]);
  const row = null;
  return row.missing;
};

exports.downgrade = function () {
  db.execute('DROP TABLE doomed');
};
"#;

async fn fails_with(s: &Scratch) -> String {
    let project = s.project().await;
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    format!("{err:#}")
}

#[tokio::test]
async fn a_python_exception_rolls_back_and_reports_its_line() {
    let s = base();
    add_script(&s, "r0003_fails.py", PY_FAILING);
    let message = fails_with(&s).await;
    assert!(
        message.contains("r0003_fails.py:15: ValueError: the data is not what we expected"),
        "{message}"
    );
    assert!(message.contains("f00000000001"), "{message}");
    assert_eq!(version_ids(&s.db("app.db")), MIXED_IDS[..2]);
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name = 'doomed'"),
        "",
        "the script's table was rolled back"
    );
}

#[tokio::test]
async fn a_javascript_exception_rolls_back_and_reports_its_line() {
    let s = base();
    add_script(&s, "r0003_fails.js", JS_FAILING);
    let message = fails_with(&s).await;
    assert!(
        message.contains("r0003_fails.js:9: TypeError: cannot read property 'missing' of null"),
        "{message}"
    );
    assert_eq!(version_ids(&s.db("app.db")), MIXED_IDS[..2]);
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name = 'doomed'"),
        ""
    );
}

#[tokio::test]
async fn a_refused_statement_in_a_script_names_the_statement_and_the_line() {
    for (name, text) in [
        (
            "r0003_bad.py",
            "from retort import db\nid = 'f00000000003'\nparents = 'b7e2a90c4d11'\n\ndef upgrade():\n    db.execute('CREATE TABLE half (x INTEGER)')\n    db.execute('INSERT INTO nowhere VALUES ($1)', [1])\n",
        ),
        (
            "r0003_bad.js",
            "exports.id = 'f00000000003';\nexports.parents = 'b7e2a90c4d11';\nexports.upgrade = () => {\n  db.execute('CREATE TABLE half (x INTEGER)');\n  db.execute('INSERT INTO nowhere VALUES ($1)', [1]);\n};\n",
        ),
    ] {
        let s = base();
        add_script(&s, name, text);
        let message = fails_with(&s).await;
        let line = if name.ends_with("py") { 7 } else { 5 };
        assert!(
            message.contains(&format!("{name}:{line}: "))
                && message.contains("DatabaseError: no such table: nowhere"),
            "{message}"
        );
        assert!(
            message.contains("INSERT INTO nowhere VALUES ($1)"),
            "{message}"
        );
        assert_eq!(
            s.sql("SELECT name FROM sqlite_master WHERE name = 'half'"),
            ""
        );
        assert_eq!(version_ids(&s.db("app.db")), MIXED_IDS[..2]);
    }
}

#[tokio::test]
async fn a_script_catches_a_database_error_and_goes_on() {
    let s = base();
    add_script(
        &s,
        "r0003_careful.py",
        r#"from retort import db, DatabaseError
id = "f00000000004"
parents = "b7e2a90c4d11"

def upgrade():
    try:
        db.query("SELECT missing FROM nowhere")
    except DatabaseError as e:
        db.execute("CREATE TABLE caught (message TEXT, code TEXT)")
        db.execute("INSERT INTO caught VALUES ($1, $2)", [e.message, e.code])
"#,
    );
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(s.sql("SELECT * FROM caught"), "no such table: nowhere|1\n");
}

#[tokio::test]
async fn script_metadata_mistakes_name_the_file() {
    for (name, text, expected) in [
        (
            "r0003_noid.py",
            "message = 'who am I'\n",
            "r0003_noid.py is not a valid revision script: r0003_noid.py: the script must set its id",
        ),
        (
            "r0003_noid.js",
            "exports.message = 'who am I';\n",
            "r0003_noid.js: the script must export its id",
        ),
        (
            "r0003_syntax.js",
            "exports.id = 'f00000000005';\n\nexports.upgrade = function ( {};\n",
            "r0003_syntax.js:3: SyntaxError",
        ),
        (
            "r0003_parents.py",
            "id = 'f00000000005'\nparents = 42\n",
            "`parents` must be a string, a list of strings or None",
        ),
    ] {
        let s = base();
        add_script(&s, name, text);
        let err = Project::open(s.config()).await.unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(expected), "{name}: {message}");
    }
}

/// A script whose metadata its text decides is read without the
/// interpreter; a syntax error elsewhere in it then stops the run before
/// anything runs, naming the file and line (`expected`).
async fn a_syntax_error_stops_the_run_before_it_starts(name: &str, text: &str, expected: &str) {
    let s = base();
    add_script(&s, name, text);
    let project = Project::open(s.config()).await.unwrap();
    let script = project
        .catalog()
        .entries()
        .iter()
        .find(|e| e.path.ends_with(name))
        .unwrap();
    assert!(
        script.program().is_none(),
        "the interpreter did not run to plan"
    );
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains(expected), "{message}");
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[tokio::test]
async fn a_python_syntax_error_stops_the_run_before_it_starts() {
    a_syntax_error_stops_the_run_before_it_starts(
        "r0003_syntax.py",
        "id = 'f00000000005'\ndef upgrade(:\n    pass\n",
        "r0003_syntax.py:2: SyntaxError",
    )
    .await;
}

#[tokio::test]
async fn a_javascript_syntax_error_stops_the_run_before_it_starts() {
    a_syntax_error_stops_the_run_before_it_starts(
        "r0003_syntax.js",
        "exports.id = 'f00000000005';\nexports.parents = 'b7e2a90c4d11';\nexports.upgrade = function () { let = ; };\n",
        "r0003_syntax.js:3: SyntaxError",
    )
    .await;
}

#[tokio::test]
async fn a_configured_interpreter_that_is_missing_says_what_to_do() {
    let s = base();
    add_script(
        &s,
        "r0003_authors.py",
        &std::fs::read_to_string(MIXED_CHAIN[2]).unwrap(),
    );
    let mut config = s.config();
    config.interpreters =
        retort::InterpreterPaths::in_configured_dir(&s.dir.path().join("nowhere"));
    let err = Project::open(config).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains(
            "r0003_authors.py is a python revision, but there is no python interpreter component at"
        ),
        "{message}"
    );
    assert!(message.contains("nowhere/python.wasm"), "{message}");
    assert!(
        message.contains("remove the [interpreters] setting"),
        "{message}"
    );
    assert!(message.contains("built into retort"), "{message}");
}

#[tokio::test]
async fn with_no_interpreter_in_the_project_the_built_in_one_runs_scripts() {
    let s = base();
    add_script(
        &s,
        "r0003_authors.py",
        &std::fs::read_to_string(MIXED_CHAIN[2]).unwrap(),
    );
    std::fs::remove_dir_all(s.migrations.join("interpreters")).unwrap();
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")), sorted(&MIXED_IDS[..3]));
    // It recorded the built-in interpreter, which is the one the build
    // put in the binary.
    let recorded = s.sql(&format!(
        "SELECT interpreter FROM retort_version WHERE revision_id = '{}'",
        MIXED_IDS[2]
    ));
    let built = blake3::hash(&std::fs::read(PYTHON_INTERPRETER).unwrap()).to_hex();
    assert_eq!(recorded.trim(), built.as_str());
}

#[tokio::test]
async fn a_configured_interpreter_path_is_used() {
    let s = base();
    let script = s.dir.path().join("r0003_authors.py");
    std::fs::copy(MIXED_CHAIN[2], &script).unwrap();
    std::fs::copy(&script, s.migrations.join("r0003_authors.py")).unwrap();
    std::fs::write(
        s.dir.path().join("retort.toml"),
        format!(
            "database_url = \"sqlite:app.db\"\n[interpreters]\npython = {:?}\n",
            PYTHON_INTERPRETER
        ),
    )
    .unwrap();
    let out = retort(s.dir.path(), &["upgrade"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(version_ids(&s.db("app.db")).len(), 3);
}

/// The same component with a custom section appended: valid, and the same
/// interpreter, but other bytes.
fn rebuilt(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0, 8, 7]);
    out.extend_from_slice(b"rebuilt");
    out
}

#[test]
fn editing_an_applied_script_is_drift_and_a_new_interpreter_is_not() {
    let s = Scratch::new(&MIXED_CHAIN);
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:app.db\"\n",
    )
    .unwrap();
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    // The recorded identity is what the user wrote: `sha256sum` of the file.
    let js = s.migrations.join("r0004_note_counts.js");
    let recorded = s.sql(&format!(
        "SELECT sha256 FROM retort_version WHERE revision_id = '{}'",
        MIXED_IDS[3]
    ));
    assert_eq!(recorded.trim(), sha256sum(&js));

    // Edit the applied JavaScript revision: drift, named by file.
    let original = std::fs::read_to_string(&js).unwrap();
    std::fs::write(&js, original.replace("note counts", "note tallies")).unwrap();
    let out = retort(s.dir.path(), &["verify"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(MIXED_IDS[3]), "{stderr}");
    assert!(
        stderr.contains("r0004_note_counts.js now has sha256"),
        "{stderr}"
    );
    std::fs::write(&js, &original).unwrap();
    let out = retort(s.dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);

    // Rebuild the Python interpreter (one extra custom section, as a new
    // Retort release would): the Python revision stays applied and is not
    // drift; `verify` and `-v` say it ran under another interpreter.
    let link = s.migrations.join("interpreters/python.wasm");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, rebuilt(&std::fs::read(PYTHON_INTERPRETER).unwrap())).unwrap();
    let out = retort(s.dir.path(), &["verify"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("note: {} ran under interpreter", MIXED_IDS[2])),
        "{stderr}"
    );
    assert!(!stderr.contains(MIXED_IDS[3]), "{stderr}");
    let out = retort(s.dir.path(), &["upgrade", "-v"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("applied under another interpreter"),
        "{stderr}"
    );
    assert_eq!(version_ids(&s.db("app.db")), sorted(&MIXED_IDS));
    let out = retort(s.dir.path(), &["downgrade", "base"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(version_ids(&s.db("app.db")).is_empty());
}

/// `sha256sum`'s digest of a file.
pub(crate) fn sha256sum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The identity releases before 0.2 recorded for a script (sha256 over its
/// language, its interpreter's BLAKE3 and its text): what a table written
/// by them holds.
fn legacy_identity(lang: &str, interpreter: &str, script: &str) -> String {
    use sha2::Digest;
    let digest = blake3::hash(&std::fs::read(interpreter).unwrap()).to_hex();
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"retort-script\0");
    hasher.update(lang.as_bytes());
    hasher.update(b"\0");
    hasher.update(digest.as_bytes());
    hasher.update(b"\0");
    hasher.update(std::fs::read(script).unwrap());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_version_table_of_an_earlier_release_is_migrated_in_place() {
    let s = Scratch::new(&MIXED_CHAIN);
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:app.db\"\n",
    )
    .unwrap();
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    // Rewrite the table as the release before this one wrote it: no
    // interpreter column, a script's sha256 over its interpreter too.
    let py = s.migrations.join("r0003_authors.py");
    let js = s.migrations.join("r0004_note_counts.js");
    let interpreters = s.migrations.join("interpreters");
    let old_py = legacy_identity(
        "python",
        interpreters.join("python.wasm").to_str().unwrap(),
        py.to_str().unwrap(),
    );
    let old_js = legacy_identity(
        "js",
        interpreters.join("js.wasm").to_str().unwrap(),
        js.to_str().unwrap(),
    );
    s.sql(&format!(
        "CREATE TABLE old AS SELECT revision_id, sha256, applied_at, duration_ms FROM retort_version;
         DROP TABLE retort_version;
         CREATE TABLE retort_version (
             revision_id VARCHAR(64) NOT NULL PRIMARY KEY,
             sha256 CHAR(64) NOT NULL,
             applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             duration_ms BIGINT
         );
         INSERT INTO retort_version SELECT * FROM old;
         DROP TABLE old;
         UPDATE retort_version SET sha256 = '{old_py}' WHERE revision_id = '{}';
         UPDATE retort_version SET sha256 = '{old_js}' WHERE revision_id = '{}';",
        MIXED_IDS[2], MIXED_IDS[3]
    ));
    // Read commands accept it as it is, and say it will be rewritten.
    let out = retort(s.dir.path(), &["verify"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("2 script row(s) carry the identity an earlier release recorded"),
        "{stderr}"
    );
    let columns = s.sql("SELECT name FROM pragma_table_info('retort_version')");
    assert!(!columns.contains("interpreter"), "{columns}");
    // The first locked command migrates it: the column added, the rows in
    // today's identity with their interpreter beside them.
    let out = retort(s.dir.path(), &["upgrade"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let rows = s.sql(&format!(
        "SELECT revision_id, sha256, length(interpreter) FROM retort_version WHERE revision_id IN ('{}', '{}') ORDER BY revision_id",
        MIXED_IDS[2], MIXED_IDS[3]
    ));
    let mut expected = vec![
        format!("{}|{}|64", MIXED_IDS[2], sha256sum(&py)),
        format!("{}|{}|64", MIXED_IDS[3], sha256sum(&js)),
    ];
    expected.sort();
    assert_eq!(rows.lines().collect::<Vec<_>>(), expected);
    let out = retort(s.dir.path(), &["verify"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("earlier release"), "{stderr}");
    // A row that matches neither rule is still drift.
    s.sql(&format!(
        "UPDATE retort_version SET sha256 = '{}', interpreter = NULL WHERE revision_id = '{}'",
        "0".repeat(64),
        MIXED_IDS[2]
    ));
    let out = retort(s.dir.path(), &["upgrade"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(MIXED_IDS[2])
            && stderr.contains(
                "put the interpreter components that release used in <migrations>/interpreters/"
            ),
        "{stderr}"
    );
}

#[tokio::test]
async fn scripts_get_no_files_no_network_and_no_host_modules() {
    for (name, text, expected) in [
        (
            "r0003_reads.py",
            "id = 'f00000000006'\nparents = 'b7e2a90c4d11'\ndef upgrade():\n    open('/etc/passwd').read()\n",
            "r0003_reads.py:4: ",
        ),
        (
            "r0003_dials.py",
            "id = 'f00000000006'\nparents = 'b7e2a90c4d11'\ndef upgrade():\n    import socket\n",
            "r0003_dials.py:4: ModuleNotFoundError",
        ),
        (
            "r0003_env.py",
            "import os\nid = 'f00000000006'\nparents = 'b7e2a90c4d11'\ndef upgrade():\n    assert os.environ.get('HOME') is None, 'the host environment leaked'\n    raise RuntimeError('sandboxed')\n",
            "r0003_env.py:6: RuntimeError: sandboxed",
        ),
        (
            "r0003_requires.js",
            "exports.id = 'f00000000006';\nexports.parents = 'b7e2a90c4d11';\nexports.upgrade = () => {\n  require('fs');\n};\n",
            "r0003_requires.js:4: Error: cannot require 'fs'",
        ),
    ] {
        let s = base();
        add_script(&s, name, text);
        let message = fails_with(&s).await;
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(version_ids(&s.db("app.db")), MIXED_IDS[..2], "{name}");
    }
}

#[tokio::test]
async fn one_interpreter_compile_serves_every_script() {
    let s = base();
    let mut parent = MIXED_IDS[1].to_string();
    for n in 0..12 {
        let id = format!("c0ffee{n:06}");
        let (name, text) = if n % 2 == 0 {
            (
                format!("r1{n:03}.py"),
                format!(
                    "from retort import db\nid = '{id}'\nparents = '{parent}'\ndef upgrade():\n    db.execute('CREATE TABLE t{n} (x INTEGER)')\n    db.execute('INSERT INTO t{n} VALUES ($1)', [{n}])\ndef downgrade():\n    db.execute('DROP TABLE t{n}')\n"
                ),
            )
        } else {
            (
                format!("r1{n:03}.js"),
                format!(
                    "exports.id = '{id}';\nexports.parents = '{parent}';\nexports.upgrade = () => {{ db.execute('CREATE TABLE t{n} (x INTEGER)'); db.execute('INSERT INTO t{n} VALUES ($1)', [{n}]); }};\nexports.downgrade = () => db.execute('DROP TABLE t{n}');\n"
                ),
            )
        };
        add_script(&s, &name, &text);
        parent = id;
    }
    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    let (_, compiled) = project.catalog().compile_counts();
    assert_eq!(
        compiled, 4,
        "two components and two interpreters compiled, not one per script"
    );
    assert_eq!(version_ids(&s.db("app.db")).len(), 14);
    assert_eq!(sqlite3(&s.db("app.db"), "SELECT x FROM t11"), "11\n");

    // A second run compiles nothing: the interpreters come from the compile cache.
    let project = s.project().await;
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(project.catalog().compile_counts().1, 0);
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[test]
fn scaffolded_python_and_javascript_revisions_apply() {
    let s = scaffolding_project();
    let cwd = s.dir.path();
    let mut ids = Vec::new();
    for (lang, ext) in [("python", "py"), ("js", "js")] {
        let out = retort(
            cwd,
            &[
                "revision",
                "--lang",
                lang,
                "-m",
                &format!("a {lang} \"one\""),
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains("no build step"), "{stdout}");
        let first = stdout.lines().next().unwrap();
        let id = first.split_whitespace().nth(2).unwrap().to_string();
        let file = cwd.join(first.rsplit_once(" in ").unwrap().1);
        assert_eq!(file.extension().unwrap(), ext);
        // Give the scaffold some work, as its comments show.
        let source = std::fs::read_to_string(&file).unwrap();
        let source = match ext {
            "py" => source.replacen(
                "    # db.execute(\"CREATE TABLE example",
                &format!("    db.execute(\"CREATE TABLE example_{ext} (id INTEGER PRIMARY KEY, name TEXT)\")\n    # db.execute(\"CREATE TABLE example"),
                1,
            ),
            _ => source.replacen(
                "  // db.execute('CREATE TABLE example",
                &format!("  db.execute('CREATE TABLE example_{ext} (id INTEGER PRIMARY KEY, name TEXT)');\n  // db.execute('CREATE TABLE example"),
                1,
            ),
        };
        std::fs::write(s.migrations.join(file.file_name().unwrap()), source).unwrap();
        ids.push(id);
    }
    let out = retort(cwd, &["upgrade", "heads"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let applied = version_ids(&s.db("app.db"));
    for id in &ids {
        assert!(applied.contains(id), "{id} in {applied:?}");
    }
    assert_eq!(
        s.sql("SELECT name FROM sqlite_master WHERE name LIKE 'example_%' ORDER BY name"),
        "example_js\nexample_py\n"
    );
    let out = retort(cwd, &["history"]);
    let (history, _) = text(&out);
    assert!(history.contains("a python \"one\""), "{history}");
    assert!(history.contains("a js \"one\""), "{history}");
}

/// `ids` in the order `version_ids` returns them (by id).
fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}
