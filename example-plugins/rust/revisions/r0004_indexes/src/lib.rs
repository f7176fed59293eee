//! Revision 4: the indexes the post listing and profile pages need.
use retort_sdk::{Db, Dialect, Result, Revision, export_revision};

struct Indexes;

impl Revision for Indexes {
    const ID: &'static str = "e05b7d9c1a42";
    const DOWN_REVISIONS: &'static [&'static str] = &["a94d0e6f3c21"];
    const MESSAGE: &'static str = "index posts by author and users by slug";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE INDEX ix_posts_user_published ON posts (user_id, published_at)",
            &[],
        )?;
        db.execute("CREATE UNIQUE INDEX ux_users_slug ON users (slug)", &[])?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        // The one place this chain's SQL differs per database: MySQL names the table.
        let on = |table: &str| match db.dialect() {
            Dialect::Mysql => format!(" ON {table}"),
            Dialect::Postgres | Dialect::Sqlite => String::new(),
        };
        db.execute(&format!("DROP INDEX ux_users_slug{}", on("users")), &[])?;
        db.execute(
            &format!("DROP INDEX ix_posts_user_published{}", on("posts")),
            &[],
        )?;
        Ok(())
    }
}

export_revision!(Indexes);
