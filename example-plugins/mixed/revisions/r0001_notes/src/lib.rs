//! Revision 1 of the mixed chain, in Rust: the notes table and a first note.
//! The next revision (`migrations/r0002_tags.wat`) is hand-written WAT.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct Notes;

impl Revision for Notes {
    const ID: &'static str = "5d0c1e2f3a4b";
    const MESSAGE: &'static str = "create notes, in Rust";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE notes (
                id INTEGER NOT NULL PRIMARY KEY,
                body VARCHAR(255) NOT NULL
            )",
            &[],
        )?;
        db.execute(
            "INSERT INTO notes (id, body) VALUES ($1, $2)",
            params![1_i64, "Hello from Rust"],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE notes", &[])?;
        Ok(())
    }
}

export_revision!(Notes);
