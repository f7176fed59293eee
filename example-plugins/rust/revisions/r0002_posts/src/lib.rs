//! Revision 2: posts, each written by a user.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Posts;

impl Revision for Posts {
    const ID: &'static str = "7c2e5b8a4d10";
    const DOWN_REVISIONS: &'static [&'static str] = &["1f3a9c0d2b7e"];
    const MESSAGE: &'static str = "create posts with a foreign key to users";

    fn upgrade(db: &Db) -> Result<()> {
        // Several statements in one call: how a team ports an existing .sql file.
        // The explicit index on user_id keeps MySQL from tying the foreign key
        // to the index revision 4 adds (and then refusing to drop it).
        db.execute(
            "CREATE TABLE posts (
                id INTEGER NOT NULL PRIMARY KEY,
                user_id INTEGER NOT NULL,
                title VARCHAR(200) NOT NULL,
                body TEXT,
                published_at VARCHAR(32),
                FOREIGN KEY (user_id) REFERENCES users (id)
            );
            CREATE INDEX ix_posts_user ON posts (user_id);
            INSERT INTO posts (id, user_id, title, body, published_at)
                VALUES (1, 1, 'Hello, world', 'Our first post; it says ''hi''.', '2026-01-01T00:00:00Z');",
            &[],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        // Dropping the table drops its indexes too.
        db.execute("DROP TABLE posts", &[])?;
        Ok(())
    }
}

export_revision!(Posts);
