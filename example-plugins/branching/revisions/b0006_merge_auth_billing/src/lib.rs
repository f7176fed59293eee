//! The merge: auth and billing join again, with a view over both.
use retort_sdk::{Db, Result, Revision, export_revision};

struct MergeAuthBilling;

impl Revision for MergeAuthBilling {
    const ID: &'static str = "d4f7a2b9e806";
    const DOWN_REVISIONS: &'static [&'static str] = &["a7f04b2c8e03", "b9e2c5d7a405"];
    const MESSAGE: &'static str = "merge auth and billing: account overview";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE VIEW account_overview AS
                SELECT a.id AS account_id, a.email,
                       (SELECT COUNT(*) FROM api_tokens t WHERE t.account_id = a.id) AS tokens,
                       (SELECT COUNT(*) FROM invoices i WHERE i.account_id = a.id) AS invoices
                FROM accounts a",
            &[],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP VIEW account_overview", &[])?;
        Ok(())
    }
}

export_revision!(MergeAuthBilling);
