//! Ends its own transaction: creates a table, then sends COMMIT. A dry run's
//! rehearsal must refuse that statement rather than commit the table.
use retort_sdk::{Db, Result, Revision, export_revision};

struct CommitsItself;

impl Revision for CommitsItself {
    const ID: &'static str = "f0000000000c";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "commits its own transaction";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE committed_early (id INTEGER NOT NULL)", &[])?;
        db.execute("COMMIT", &[])?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE committed_early", &[])?;
        Ok(())
    }
}

export_revision!(CommitsItself);
