//! Hostile fixture: recurses without end.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Hostile;

impl Revision for Hostile {
    const ID: &'static str = "h00000000003";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "recurses without end";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE hostile_marker (id INTEGER NOT NULL)", &[])?;
        fn down(n: u64) -> u64 {
            // Never true, but the compiler cannot know: the recursion is real.
            if std::hint::black_box(n) == u64::MAX {
                return 0;
            }
            std::hint::black_box(down(std::hint::black_box(n + 1)) + 1)
        }
        Err(format!("{}", down(0)).into())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Hostile);
