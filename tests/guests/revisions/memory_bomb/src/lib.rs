//! Hostile fixture: allocates without end.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Hostile;

impl Revision for Hostile {
    const ID: &'static str = "h00000000002";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "allocates without end";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE hostile_marker (id INTEGER NOT NULL)", &[])?;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 8 << 20]));
        }
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Hostile);
