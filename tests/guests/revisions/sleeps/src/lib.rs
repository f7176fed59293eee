//! Inserts a row, then keeps the database busy for two seconds: long enough
//! for a test to kill its connection in the middle of the revision.
use retort_sdk::{Db, Dialect, Result, Revision, export_revision};

struct Sleeps;

impl Revision for Sleeps {
    const ID: &'static str = "f0000000000a";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "a slow revision";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "UPDATE users SET name = 'changed by a slow revision' WHERE id = 1",
            &[],
        )?;
        let sleep = match db.dialect() {
            Dialect::Postgres => "SELECT pg_sleep(2)",
            Dialect::Mysql => "SELECT SLEEP(2)",
            Dialect::Sqlite => "SELECT 1",
        };
        db.execute(sleep, &[])?;
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Sleeps);
