//! `retort import alembic` and `adopt alembic` against Alembic itself,
//! installed from PyPI into a virtualenv under `target/` (once per machine):
//! a history with a branch, a merge and a call that needs a hand port,
//! applied by Alembic and by Retort (online and offline), schemas compared.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{retort, retort_on, text};
use crate::servers::{Server, TestDb, without_host_tables};

/// The Alembic modules: (file, text). `b2` and `c3` branch from `a1`,
/// `d4` merges them, `e5` uses an operation Retort has no port of.
const VERSIONS: [(&str, &str); 5] = [
    (
        "a1_items.py",
        r#""""items

Revision ID: a1
Revises:
Create Date: 2026-12-03 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = 'a1'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE items")
"#,
    ),
    (
        "b2_item_name.py",
        r#""""item name function

Revision ID: b2
Revises: a1
"""
from alembic import op
import sqlalchemy as sa

revision = 'b2'
down_revision = 'a1'
branch_labels = ('reports',)
depends_on = None


def upgrade():
    op.execute(sa.text("""CREATE FUNCTION item_name(i integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT name FROM items WHERE id = i); -- one; two
END;
$$"""))


def downgrade():
    op.execute("DROP FUNCTION item_name(integer)")
"#,
    ),
    (
        "c3_seed.py",
        r#""""seed

Revision ID: c3
Revises: a1
"""
from alembic import op

revision = "c3"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("INSERT INTO items (id, name) VALUES (1, 'Avañe''ẽ; one')")


def downgrade():
    op.execute("DELETE FROM items")
"#,
    ),
    (
        "d4_merge.py",
        r#""""merge reports and seed

Revision ID: d4
Revises: b2, c3
"""
from alembic import op

revision = 'd4'
down_revision = ('b2', 'c3')
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX items_by_name ON items (name)")


def downgrade():
    op.execute("DROP INDEX items_by_name")
"#,
    ),
    (
        "e5_tags.py",
        r#""""tags

Revision ID: e5
Revises: d4
"""
from alembic import op
import sqlalchemy as sa

revision = 'e5'
down_revision = 'd4'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE before_tags (id INTEGER)")
    op.create_table('tags', sa.Column('id', sa.Integer, primary_key=True))


def downgrade():
    op.drop_table('tags')
    op.execute("DROP TABLE before_tags")
"#,
    ),
];

const ENV_PY: &str = r#"from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"#;

/// Alembic's executable in a virtualenv under `target/`, installed once per
/// machine (under a lock: test processes run at once); `None`, said loudly,
/// when PyPI cannot be reached.
fn alembic() -> Option<PathBuf> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools");
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join("alembic-venv");
    let bin = venv.join("bin/alembic");
    let script = format!(
        "test -x {bin} || {{ rm -rf {venv} && python3 -m venv {venv} && {venv}/bin/pip install --quiet --disable-pip-version-check 'alembic>=1.13,<2' 'psycopg2-binary>=2.9,<3'; }}",
        bin = bin.display(),
        venv = venv.display()
    );
    let out = Command::new("flock")
        .arg(target.join("alembic.lock"))
        .args(["sh", "-c", &script])
        .output()
        .expect("flock and sh run");
    if out.status.success() && bin.is_file() {
        return Some(bin);
    }
    let message = format!(
        "Alembic could not be installed from PyPI into {}: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if std::env::var_os("RETORT_REQUIRE_TOOLS").is_some() {
        panic!("{message} (RETORT_REQUIRE_TOOLS is set)");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// An Alembic project in `dir` on database `name`, with the history.
fn alembic_project(dir: &Path, name: &str) {
    let script_dir = dir.join("alembic");
    std::fs::create_dir_all(script_dir.join("versions")).unwrap();
    std::fs::write(
        dir.join("alembic.ini"),
        format!(
            "[alembic]\nscript_location = alembic\nsqlalchemy.url = postgresql+psycopg2://postgres@127.0.0.1:5432/{name}\n"
        ),
    )
    .unwrap();
    std::fs::write(script_dir.join("env.py"), ENV_PY).unwrap();
    for (file, text) in VERSIONS {
        std::fs::write(script_dir.join("versions").join(file), text).unwrap();
    }
}

/// `alembic ARGS…` in `dir`; panics with its output on failure.
fn run_alembic(alembic: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(alembic)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("alembic runs");
    assert!(out.status.success(), "alembic {args:?}: {}", text(&out).1);
}

fn schema_without_tools(db: &TestDb) -> String {
    without_host_tables(&db.schema())
        .lines()
        .filter(|line| !line.contains("alembic_version"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces the one line of `file` holding `call` by `with`.
fn hand_port(file: &Path, line: usize, call: &str, with: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(
        lines[line - 1].contains(call),
        "{file:?}:{line}: {}",
        lines[line - 1]
    );
    let indent: String = lines[line - 1].chars().take_while(|c| *c == ' ').collect();
    lines[line - 1] = format!("{indent}{with}");
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_alembic_history_imports_runs_like_alembic_and_is_adopted() {
    let Some(alembic) = alembic() else {
        return;
    };
    let Some(by_alembic) = TestDb::create(Server::Postgres) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("app");
    alembic_project(&project, &by_alembic.name);
    run_alembic(&alembic, &project, &["upgrade", "heads"]);

    // Import: the graph as Alembic has it, the calls to port listed by line.
    let out = retort(
        tmp.path(),
        &[
            "import",
            "alembic",
            project.join("alembic").to_str().unwrap(),
            "--into",
            "migrations",
            "--format",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let event: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(event["event"], "imported");
    assert_eq!(
        event["ids"],
        serde_json::json!(["a1", "b2", "c3", "d4", "e5"])
    );
    let ports = event["to_port"].as_array().unwrap();
    let calls: Vec<(&str, u64)> = ports
        .iter()
        .map(|p| {
            (
                p["call"].as_str().unwrap(),
                p["source_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(calls, [("op.create_table", 17), ("op.drop_table", 21)]);
    let written = PathBuf::from(ports[0]["path"].as_str().unwrap());
    let line = ports[0]["line"].as_u64().unwrap() as usize;
    assert!(written.ends_with("e5_tags.py"), "{written:?}");
    let script =
        std::fs::read_to_string(tmp.path().join("migrations/d4_merge_reports_and_seed.py"))
            .unwrap();
    assert!(
        script.contains("\nparents = [\"b2\", \"c3\"]\n"),
        "{script}"
    );
    assert!(script.contains("op.execute(\"CREATE INDEX items_by_name ON items (name)\")"));

    // Online, before the hand port: everything up to the unported call
    // runs; e5 fails naming it and is rolled back.
    let online = TestDb::create(Server::Postgres).unwrap();
    let out = retort_on(tmp.path(), &online.url, &["upgrade", "heads"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("op.create_table() is an Alembic operation Retort has no port of"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("e5_tags.py:{line}")), "{stderr}");
    assert_eq!(online.version_ids(), ["a1", "b2", "c3", "d4"]);
    assert_eq!(
        online
            .sql("SELECT to_regclass('before_tags') IS NULL;")
            .trim(),
        "t"
    );

    // The hand port, as the list says; then Retort and Alembic agree.
    let tmp_path = tmp.path().join(&written);
    hand_port(
        &tmp_path,
        line,
        "op.create_table",
        "op.execute(\"CREATE TABLE tags (id SERIAL PRIMARY KEY)\")",
    );
    let down_line = ports[1]["line"].as_u64().unwrap() as usize;
    hand_port(
        &tmp_path,
        down_line,
        "op.drop_table",
        "op.execute(\"DROP TABLE tags\")",
    );
    let out = retort_on(tmp.path(), &online.url, &["upgrade", "heads"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        schema_without_tools(&online),
        schema_without_tools(&by_alembic)
    );
    let items = "SELECT id, name, item_name(id) FROM items ORDER BY id;";
    assert_eq!(online.sql(items), by_alembic.sql(items));
    assert_eq!(online.sql(items), "1|Avañe'ẽ; one|Avañe'ẽ; one\n");

    // Offline: the script psql applies builds the same schema.
    let offline = TestDb::create(Server::Postgres).unwrap();
    let out = retort_on(tmp.path(), &offline.url, &["upgrade", "heads", "--sql"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    offline.apply(&text(&out).0);
    assert_eq!(
        schema_without_tools(&offline),
        schema_without_tools(&by_alembic)
    );

    // Adopt: Alembic applied both branches but not the merge; Retort
    // stamps exactly those and continues.
    let adopted = TestDb::create(Server::Postgres).unwrap();
    let second = tmp.path().join("second");
    alembic_project(&second, &adopted.name);
    run_alembic(&alembic, &second, &["upgrade", "b2"]);
    run_alembic(&alembic, &second, &["upgrade", "c3"]);
    assert_eq!(
        adopted.sql("SELECT version_num FROM alembic_version ORDER BY 1;"),
        "b2\nc3\n"
    );
    let history = second.join("alembic");
    let out = retort_on(
        tmp.path(),
        &adopted.url,
        &["adopt", "alembic", history.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("alembic had applied 3 migration(s)"),
        "{stdout}"
    );
    assert_eq!(adopted.version_ids(), ["a1", "b2", "c3"]);
    let out = retort_on(tmp.path(), &adopted.url, &["upgrade", "heads"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(adopted.version_ids(), ["a1", "b2", "c3", "d4", "e5"]);
    assert_eq!(
        schema_without_tools(&adopted),
        schema_without_tools(&by_alembic)
    );

    // A head the history does not declare: nothing is stamped.
    let stranger = TestDb::create(Server::Postgres).unwrap();
    stranger.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('ffff');");
    let out = retort_on(
        tmp.path(),
        &stranger.url,
        &["adopt", "alembic", history.to_str().unwrap()],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Alembic applied revision ffff, which no module of the history directory declares; nothing was stamped"), "{stderr}");
}
