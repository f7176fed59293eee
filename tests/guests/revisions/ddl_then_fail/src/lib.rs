//! Creates a table, then sends a statement the database refuses. On MySQL the
//! CREATE has committed by then: the run must say so and record the failure.
use retort_sdk::{Db, Result, Revision, export_revision};

struct DdlThenFail;

impl Revision for DdlThenFail {
    const ID: &'static str = "f00000000009";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "DDL, then a failure";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE half_done (id INTEGER NOT NULL)", &[])?;
        db.execute("INSERT INTO no_such_table (id) VALUES (1)", &[])?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE half_done", &[])?;
        Ok(())
    }
}

export_revision!(DdlThenFail);
