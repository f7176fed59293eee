//! Hostile fixture: drops a table it was not allowed to.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Hostile;

impl Revision for Hostile {
    const ID: &'static str = "h00000000006";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "drops a table it was not allowed to";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE hostile_marker (id INTEGER NOT NULL)", &[])?;
        db.execute("DROP TABLE posts", &[])?;
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Hostile);
