//! Creates a table, then returns its own error.
use retort_sdk::{Db, Error, Result, Revision, export_revision};

struct ReturnsError;

impl Revision for ReturnsError {
    const ID: &'static str = "f00000000004";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "returns an error";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE err_marker (id INTEGER NOT NULL)", &[])?;
        Err(Error::new("refusing to continue: the data is not ready"))
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(ReturnsError);
