// The body both template revisions share (`include!`d by each crate's lib.rs).
//
// `ID` and `PARENT` are placeholders: host/examples/bench_gen.rs replaces
// their bytes in the built component with real ids of the same length, so
// every copy is a distinct component (its own sha256) whose table is named
// after its id. The SQL here must stay in step with
// host/examples/bench/workload.rs, which the plain-sqlx floor sends.

/// Replaced by the copy's id.
const ID_PLACEHOLDER: &str = "IDIDIDIDIDID";
/// Replaced by the id of the copy before it.
#[allow(dead_code)]
const PARENT_PLACEHOLDER: &str = "PAPAPAPAPAPA";

/// How many rows each revision inserts.
const ROWS: i64 = 10;

fn table() -> String {
    format!("bench_{ID_PLACEHOLDER}")
}

fn upgrade_template(db: &Db) -> Result<()> {
    let t = table();
    db.execute(
        &format!(
            "CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, score INTEGER NOT NULL)"
        ),
        &[],
    )?;
    db.execute(&format!("CREATE INDEX {t}_name ON {t} (name)"), &[])?;
    let insert = format!("INSERT INTO {t} (id, name, score) VALUES ($1, $2, $3)");
    for row in 1..=ROWS {
        db.execute(&insert, params![row, format!("row {row}"), row * 7])?;
    }
    Ok(())
}

fn downgrade_template(db: &Db) -> Result<()> {
    db.execute(&format!("DROP TABLE {}", table()), &[])?;
    Ok(())
}
