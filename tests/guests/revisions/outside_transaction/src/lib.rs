//! A revision that must run outside a transaction: PostgreSQL refuses
//! `CREATE INDEX CONCURRENTLY` inside one.
use retort_sdk::{Db, Dialect, Result, Revision, export_revision};

struct OutsideTransaction;

impl Revision for OutsideTransaction {
    const ID: &'static str = "f0000000000b";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "index users by name without locking writes";
    const TRANSACTIONAL: bool = false;

    fn upgrade(db: &Db) -> Result<()> {
        let sql = match db.dialect() {
            Dialect::Postgres => "CREATE INDEX CONCURRENTLY ix_users_name ON users (name)",
            Dialect::Mysql | Dialect::Sqlite => "CREATE INDEX ix_users_name ON users (name)",
        };
        db.execute(sql, &[])?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        let sql = match db.dialect() {
            Dialect::Postgres => "DROP INDEX CONCURRENTLY ix_users_name",
            Dialect::Mysql => "DROP INDEX ix_users_name ON users",
            Dialect::Sqlite => "DROP INDEX ix_users_name",
        };
        db.execute(sql, &[])?;
        Ok(())
    }
}

export_revision!(OutsideTransaction);
