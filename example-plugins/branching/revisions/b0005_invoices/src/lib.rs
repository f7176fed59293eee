//! Billing needs auth's sessions (each invoice records the session that
//! ordered it), but does not follow auth: a depends-on across branches.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Invoices;

impl Revision for Invoices {
    const ID: &'static str = "b9e2c5d7a405";
    const DOWN_REVISIONS: &'static [&'static str] = &["b3d6f8a1c204"];
    const DEPENDS_ON: &'static [&'static str] = &["a7c3e9d1f002"];
    const MESSAGE: &'static str = "billing: create invoices, ordered in a session";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE invoices (
                id INTEGER NOT NULL PRIMARY KEY,
                account_id INTEGER NOT NULL REFERENCES accounts (id),
                plan_id INTEGER NOT NULL REFERENCES plans (id),
                session_id INTEGER NOT NULL REFERENCES sessions (id)
            );
            INSERT INTO invoices (id, account_id, plan_id, session_id)
                SELECT 1, s.account_id, 2, s.id FROM sessions s WHERE s.id = 1;",
            &[],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE invoices", &[])?;
        Ok(())
    }
}

export_revision!(Invoices);
