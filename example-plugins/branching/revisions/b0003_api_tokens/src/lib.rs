//! The auth branch goes on: API tokens.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct ApiTokens;

impl Revision for ApiTokens {
    const ID: &'static str = "a7f04b2c8e03";
    const DOWN_REVISIONS: &'static [&'static str] = &["a7c3e9d1f002"];
    const MESSAGE: &'static str = "auth: create api_tokens";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE api_tokens (
                id INTEGER NOT NULL PRIMARY KEY,
                account_id INTEGER NOT NULL REFERENCES accounts (id),
                token VARCHAR(64) NOT NULL UNIQUE
            )",
            &[],
        )?;
        db.execute(
            "INSERT INTO api_tokens (id, account_id, token) VALUES ($1, $2, $3)",
            params![1, 2, "tok_grace_0001"],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE api_tokens", &[])?;
        Ok(())
    }
}

export_revision!(ApiTokens);
