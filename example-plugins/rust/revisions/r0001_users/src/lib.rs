//! Revision 1: the users table, seeded with the site's first accounts.
use retort_sdk::{Db, Result, Revision, export_revision, params};

struct Users;

/// The accounts every deployment starts with; names with quotes on purpose.
const SEED: &[(i64, &str, &str)] = &[
    (1, "admin@example.com", "Site Admin"),
    (2, "maeve@example.com", "Maeve O'Brien"),
    (3, "zoe@example.com", "Zoë \"Zed\" Park"),
];

impl Revision for Users {
    const ID: &'static str = "1f3a9c0d2b7e";
    const MESSAGE: &'static str = "create users and seed the first accounts";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE users (
                id INTEGER NOT NULL PRIMARY KEY,
                email VARCHAR(255) NOT NULL UNIQUE,
                name VARCHAR(255) NOT NULL,
                is_admin BOOLEAN NOT NULL DEFAULT FALSE
            )",
            &[],
        )?;
        for &(id, email, name) in SEED {
            db.execute(
                "INSERT INTO users (id, email, name, is_admin) VALUES ($1, $2, $3, $4)",
                params![id, email, name, id == 1],
            )?;
        }
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE users", &[])?;
        Ok(())
    }
}

export_revision!(Users);
