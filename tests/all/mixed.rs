//! The mixed chain (`example-plugins/mixed`): revisions in Rust, WAT, Python
//! and JavaScript in one chain, online and offline alike; script revisions'
//! failures, scaffolds and identity.

use retort::{Direction, Overrides, Target};
use retort_tests::{MIXED_CHAIN, MIXED_IDS};

use crate::common::{Scratch, quiet, retort, schema, sqlite3, sqlite3_script, text, version_ids};
use crate::servers::{TestDb, on_each_server};

const DATA: &str = "SELECT id, body, author_id FROM notes ORDER BY id; \
                    SELECT id, note_id, name FROM tags ORDER BY id; \
                    SELECT id, name, karma, active, hex(avatar) FROM authors ORDER BY id; \
                    SELECT author_id, notes FROM note_counts ORDER BY author_id;";

/// What the whole chain leaves in SQLite (`sqlite3` output of [`DATA`]).
const CHAIN_DATA: &str = "1|Hello from Rust|1\n1|1|welcome\n\
                          1|Ada O'Brien|4.5|1|00FF706E67\n2|Bob \"the\" Builder||0|\n\
                          1|1\n2|0\n";

/// The chain's ids as the version table lists them (sorted).
fn sorted_ids() -> Vec<String> {
    let mut ids: Vec<String> = MIXED_IDS.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_mixed_chain_online_equals_offline() {
    let s = Scratch::new(&MIXED_CHAIN);
    s.project()
        .await
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap();
    let online = s.db("app.db");
    assert_eq!(version_ids(&online), sorted_ids());
    assert_eq!(
        sqlite3(&online, DATA),
        CHAIN_DATA,
        "every language's bound parameters arrive as written"
    );

    let sql = s.sqlite_script(Direction::Upgrade, "heads").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &sql);
    assert_eq!(schema(&offline), schema(&online));
    assert_eq!(version_ids(&offline), version_ids(&online));
    assert_eq!(sqlite3(&offline, DATA), sqlite3(&online, DATA));
    assert!(
        sql.contains("INSERT INTO tags (id, note_id, name) VALUES (1, 1, 'welcome');"),
        "{sql}"
    );
    assert!(
        sql.contains("VALUES (1, 'Ada O''Brien', 4.5, 1, X'00FF706E67');"),
        "the Python revision's values are rendered as literals: {sql}"
    );
}

#[tokio::test]
async fn the_mixed_chain_downgrades_online_and_offline_alike() {
    let s = Scratch::new(&MIXED_CHAIN);
    let up = s.sqlite_script(Direction::Upgrade, "base:heads").await;
    let down = s.sqlite_script(Direction::Downgrade, "heads:base").await;
    let offline = s.db("offline.db");
    sqlite3_script(&offline, &up);
    sqlite3_script(&offline, &down);

    let project = s.project().await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(schema(&offline), schema(&s.db("app.db")));
    assert!(version_ids(&offline).is_empty());
    assert!(version_ids(&s.db("app.db")).is_empty());
}

#[tokio::test]
async fn a_wat_revision_reports_a_database_error_and_rolls_back() {
    let s = Scratch::new(&MIXED_CHAIN);
    // The tags table already exists: the WAT revision's CREATE TABLE fails.
    let project = s.project().await;
    project
        .upgrade(&MIXED_IDS[0].parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    sqlite3(&s.db("app.db"), "CREATE TABLE tags (x INTEGER);");
    let err = project
        .upgrade(&Target::Heads, &mut quiet())
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("tags"), "{message}");
    assert_eq!(version_ids(&s.db("app.db")), [MIXED_IDS[0]]);
}

/// The mixed chain in a project with a retort.toml that names its
/// migrations and revisions directories, for `retort revision`.
pub(crate) fn scaffolding_project() -> Scratch {
    let s = Scratch::new(&MIXED_CHAIN);
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:app.db\"\nmigrations = \"migrations\"\nrevisions = \"revisions\"\n",
    )
    .unwrap();
    s
}

#[test]
fn a_scaffolded_wat_revision_applies_as_it_is() {
    let s = scaffolding_project();
    let cwd = s.dir.path();
    let out = retort(
        cwd,
        &["revision", "--lang", "wat", "-m", "hand-written \"by\" me"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("(follows {})", MIXED_IDS[3])),
        "{stdout}"
    );
    assert!(stdout.contains("no build step"), "{stdout}");
    let first = stdout.lines().next().unwrap();
    let id = first.split_whitespace().nth(2).unwrap().to_string();
    let file = cwd.join(first.rsplit_once(" in ").unwrap().1);
    assert_eq!(file.extension().unwrap(), "wat");
    // Written straight into the migrations directory: nothing to copy.
    assert_eq!(
        file.parent().unwrap().canonicalize().unwrap(),
        s.migrations.canonicalize().unwrap()
    );

    let out = retort(cwd, &["upgrade", "heads"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let mut applied = version_ids(&s.db("app.db"));
    applied.sort();
    let mut expected: Vec<String> = MIXED_IDS.iter().map(|id| id.to_string()).collect();
    expected.push(id);
    expected.sort();
    assert_eq!(applied, expected);
    let out = retort(cwd, &["history"]);
    let (history, _) = text(&out);
    assert!(history.contains("hand-written \"by\" me"), "{history}");
}

/// [`DATA`] without SQLite's `hex()`.
const SERVER_DATA: &str = "SELECT id, body, author_id FROM notes ORDER BY id; \
                           SELECT id, note_id, name FROM tags ORDER BY id; \
                           SELECT id, name, karma, active, avatar FROM authors ORDER BY id; \
                           SELECT author_id, notes FROM note_counts ORDER BY author_id;";

async fn mixed_online_equals_offline_on_a_server(online: TestDb) {
    let s = Scratch::new(&MIXED_CHAIN);
    let project = s.project_at(&online.url, Overrides::default()).await;
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(online.version_ids(), sorted_ids());
    let data = online.sql(SERVER_DATA);
    assert!(data.contains("welcome"), "{data}");
    assert!(data.contains("Ada O'Brien"), "{data}");

    let offline = TestDb::create(online.server).expect("the server is up");
    let up = online
        .script_of(&project, Direction::Upgrade, "heads")
        .await;
    offline.apply(&up);
    assert_eq!(offline.schema(), online.schema());
    assert_eq!(offline.version_ids(), online.version_ids());
    assert_eq!(offline.sql(SERVER_DATA), data);

    let down = online
        .script_of(&project, Direction::Downgrade, "heads:base")
        .await;
    offline.apply(&down);
    project
        .downgrade(&Target::Base, &mut quiet())
        .await
        .unwrap();
    assert_eq!(offline.schema(), online.schema());
    assert!(online.version_ids().is_empty());
}

on_each_server! {
    mixed_chain_online_equals_offline => mixed_online_equals_offline_on_a_server;
}
