//! The auth branch starts here: login sessions.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Sessions;

impl Revision for Sessions {
    const ID: &'static str = "a7c3e9d1f002";
    const DOWN_REVISIONS: &'static [&'static str] = &["5e1a0c3b7d01"];
    const MESSAGE: &'static str = "auth: create sessions";
    const BRANCH_LABELS: &'static [&'static str] = &["auth"];

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE sessions (
                id INTEGER NOT NULL PRIMARY KEY,
                account_id INTEGER NOT NULL REFERENCES accounts (id),
                started_at VARCHAR(32) NOT NULL
            );
            INSERT INTO sessions (id, account_id, started_at) VALUES (1, 1, '2026-01-01T08:00:00Z');",
            &[],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE sessions", &[])?;
        Ok(())
    }
}

export_revision!(Sessions);
