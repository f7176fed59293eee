//! Creates a table, then panics (a trap, as any guest bug would be).
use retort_sdk::{Db, Result, Revision, export_revision};

struct TrapAfterStatement;

impl Revision for TrapAfterStatement {
    const ID: &'static str = "f00000000003";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "panics after its first statement";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE trap_marker (id INTEGER NOT NULL)", &[])?;
        panic!("boom: the revision gave up half-way");
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(TrapAfterStatement);
