//! Names a parent that no revision provides.
use retort_sdk::{Db, Result, Revision, export_revision};

struct MissingParent;

impl Revision for MissingParent {
    const ID: &'static str = "f00000000006";
    const DOWN_REVISIONS: &'static [&'static str] = &["deadbeef0000"];
    const MESSAGE: &'static str = "follows a revision that does not exist";

    fn upgrade(_db: &Db) -> Result<()> {
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(MissingParent);
