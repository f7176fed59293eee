//! Creates a table, then sends a statement the database refuses.
use retort_sdk::{Db, Result, Revision, export_revision};

struct FailSecondStatement;

impl Revision for FailSecondStatement {
    const ID: &'static str = "f00000000002";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "second statement fails";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE audit_log (id INTEGER NOT NULL)", &[])?;
        db.execute("INSERT INTO no_such_table (id) VALUES (1)", &[])?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE audit_log", &[])?;
        Ok(())
    }
}

export_revision!(FailSecondStatement);
