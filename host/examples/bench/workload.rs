//! The benchmark's workload, shared by `bench_gen` (which writes the
//! components), `bench_floor` (which sends the same statements with plain
//! sqlx) and `bench_run` (which times both). The SQL here must stay in step
//! with `bench/guest/template.rs`, the template revision's source;
//! `bench_run --check` compares the two.

/// The template's placeholder for a copy's id (`ID_PLACEHOLDER` in template.rs).
pub const ID_PLACEHOLDER: &[u8] = b"IDIDIDIDIDID";
/// The template's placeholder for the id of the copy before it.
pub const PARENT_PLACEHOLDER: &[u8] = b"PAPAPAPAPAPA";
/// Rows each revision inserts.
pub const ROWS: i64 = 10;

/// The id of revision `i`: as long as the placeholder, so the component
/// stays valid when its bytes are replaced.
pub fn id(i: usize) -> String {
    format!("b{i:011}")
}

/// The table revision `i` creates.
pub fn table(i: usize) -> String {
    format!("bench_{}", id(i))
}

/// What a revision sends, in order: statements without parameters, then the
/// parameterised insert once per row (placeholders as the driver takes them).
pub struct Upgrade {
    /// CREATE TABLE and CREATE INDEX.
    pub ddl: [String; 2],
    /// The INSERT, with `?N` (SQLite), `$N` (PostgreSQL) or `?` (MySQL) placeholders.
    pub insert: String,
}

/// Placeholder `n` for the driver `mark` names: `'?'` SQLite (`?N`), `'$'`
/// PostgreSQL (`$N`), `'m'` MySQL/MariaDB (`?`).
pub fn ph(mark: char, n: usize) -> String {
    match mark {
        'm' => "?".to_string(),
        _ => format!("{mark}{n}"),
    }
}

/// The version table's name, quoted for the driver `mark` names.
fn version_name(mark: char) -> &'static str {
    if mark == 'm' {
        "`retort_version`"
    } else {
        "\"retort_version\""
    }
}

/// Revision `i`'s upgrade, for the driver `mark` names (see [`ph`]).
pub fn upgrade(i: usize, mark: char) -> Upgrade {
    let t = table(i);
    Upgrade {
        ddl: [
            format!(
                "CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, score INTEGER NOT NULL)"
            ),
            format!("CREATE INDEX {t}_name ON {t} (name)"),
        ],
        insert: format!(
            "INSERT INTO {t} (id, name, score) VALUES ({}, {}, {})",
            ph(mark, 1),
            ph(mark, 2),
            ph(mark, 3)
        ),
    }
}

/// The values of row `row` (1-based).
pub fn row(row: i64) -> (i64, String, i64) {
    (row, format!("row {row}"), row * 7)
}

/// Revision `i`'s downgrade.
pub fn downgrade(i: usize) -> String {
    format!("DROP TABLE {}", table(i))
}

/// The version table, as Retort creates it.
pub fn version_table(mark: char) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    revision_id VARCHAR(64) NOT NULL PRIMARY KEY,\n    sha256 CHAR(64) NOT NULL,\n    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    duration_ms BIGINT\n)",
        version_name(mark)
    )
}

/// Records a revision as applied (id, sha256, duration in ms).
pub fn version_insert(mark: char) -> String {
    format!(
        "INSERT INTO {} (revision_id, sha256, duration_ms) VALUES ({}, {}, {})",
        version_name(mark),
        ph(mark, 1),
        ph(mark, 2),
        ph(mark, 3)
    )
}

/// Forgets a revision (id).
pub fn version_delete(mark: char) -> String {
    format!(
        "DELETE FROM {} WHERE revision_id = {}",
        version_name(mark),
        ph(mark, 1)
    )
}
