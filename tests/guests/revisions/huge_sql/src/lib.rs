//! Hostile fixture: sends a 100 MB statement.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Hostile;

impl Revision for Hostile {
    const ID: &'static str = "h00000000005";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "sends a 100 MB statement";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE hostile_marker (id INTEGER NOT NULL)", &[])?;
        let mut sql = String::from("SELECT 1 -- ");
        sql.push_str(&"x".repeat(100 << 20));
        db.execute(&sql, &[])?;
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Hostile);
