//! Reads rows without checking the run mode: fails offline by design.
use retort_sdk::{Db, Result, Revision, export_revision};

struct QueryAlways;

impl Revision for QueryAlways {
    const ID: &'static str = "f00000000005";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "counts users";

    fn upgrade(db: &Db) -> Result<()> {
        let rows = db.query("SELECT COUNT(*) AS n FROM users", &[])?;
        let n: i64 = rows.iter().next().ok_or("no row")?.get("n")?;
        retort_sdk::info(&format!("{n} users"));
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(QueryAlways);
