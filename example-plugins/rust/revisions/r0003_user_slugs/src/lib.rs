//! Revision 3: a URL slug per user, backfilled from the rows that exist.
//!
//! Online, the revision reads every user and computes the slug in Rust. Offline
//! there are no rows to read, so it records one UPDATE that computes the same
//! slug in SQL (the rule is ASCII-only on purpose, so both agree).
use retort_sdk::{Db, Mode, Result, Revision, export_revision, info, params};

struct UserSlugs;

/// The slug rule: trimmed, ASCII-lowercased, spaces to dashes.
fn slug(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(' ', "-")
}

impl Revision for UserSlugs {
    const ID: &'static str = "a94d0e6f3c21";
    const DOWN_REVISIONS: &'static [&'static str] = &["7c2e5b8a4d10"];
    const MESSAGE: &'static str = "add users.slug, backfilled from names";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("ALTER TABLE users ADD COLUMN slug VARCHAR(255)", &[])?;
        match db.mode() {
            Mode::Online => {
                let users = db.query("SELECT id, name FROM users ORDER BY id", &[])?;
                for user in users.iter() {
                    let id: i64 = user.get("id")?;
                    let name: String = user.get("name")?;
                    db.execute(
                        "UPDATE users SET slug = $1 WHERE id = $2",
                        params![slug(&name), id],
                    )?;
                }
                info(&format!("backfilled {} slugs", users.len()));
            }
            Mode::Offline => {
                db.execute(
                    "UPDATE users SET slug = REPLACE(LOWER(TRIM(name)), ' ', '-')",
                    &[],
                )?;
            }
        }
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("ALTER TABLE users DROP COLUMN slug", &[])?;
        Ok(())
    }
}

export_revision!(UserSlugs);
