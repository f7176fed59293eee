//! The billing branch starts here: price plans.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct Plans;

impl Revision for Plans {
    const ID: &'static str = "b3d6f8a1c204";
    const DOWN_REVISIONS: &'static [&'static str] = &["5e1a0c3b7d01"];
    const MESSAGE: &'static str = "billing: create plans";
    const BRANCH_LABELS: &'static [&'static str] = &["billing"];

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE plans (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, cents INTEGER NOT NULL)",
            &[],
        )?;
        for (id, name, cents) in [(1, "free", 0), (2, "pro", 1200)] {
            db.execute(
                "INSERT INTO plans (id, name, cents) VALUES ($1, $2, $3)",
                params![id, name, cents],
            )?;
        }
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE plans", &[])?;
        Ok(())
    }
}

export_revision!(Plans);
