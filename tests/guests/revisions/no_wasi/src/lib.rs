//! A revision built for wasm32-unknown-unknown and componentized in-process:
//! a component with no WASI imports at all.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct NoWasi;

impl Revision for NoWasi {
    const ID: &'static str = "f00000000008";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "built without WASI";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE core_marker (note VARCHAR(64) NOT NULL)", &[])?;
        db.execute(
            "INSERT INTO core_marker (note) VALUES ($1)",
            params!["no wasi"],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE core_marker", &[])?;
        Ok(())
    }
}

export_revision!(NoWasi);
