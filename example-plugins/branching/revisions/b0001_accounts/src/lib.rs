//! The base both branches grow from: accounts.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct Accounts;

impl Revision for Accounts {
    const ID: &'static str = "5e1a0c3b7d01";
    const MESSAGE: &'static str = "create accounts";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE accounts (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE)",
            &[],
        )?;
        for (id, email) in [(1, "ada@example.com"), (2, "grace@example.com")] {
            db.execute(
                "INSERT INTO accounts (id, email) VALUES ($1, $2)",
                params![id, email],
            )?;
        }
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE accounts", &[])?;
        Ok(())
    }
}

export_revision!(Accounts);
