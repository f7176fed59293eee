//! Hostile fixture: tries files, environment, clocks and randomness.
use retort_sdk::{Db, Result, Revision, export_revision};

struct Hostile;

impl Revision for Hostile {
    const ID: &'static str = "h00000000008";
    const DOWN_REVISIONS: &'static [&'static str] = &["e05b7d9c1a42"];
    const MESSAGE: &'static str = "tries files, environment, clocks and randomness";

    fn upgrade(db: &Db) -> Result<()> {
        db.execute("CREATE TABLE hostile_marker (id INTEGER NOT NULL)", &[])?;
        // Every answer is recorded, so the test can see what the sandbox showed it.
        let file = match std::fs::read_to_string("/etc/passwd") {
            Ok(_) => "read /etc/passwd".to_string(),
            Err(e) => format!("files denied: {}", e.kind()),
        };
        let dir = match std::fs::read_dir("/") {
            Ok(_) => "listed /".to_string(),
            Err(e) => format!("listing denied: {}", e.kind()),
        };
        let env = format!("{} env vars", std::env::vars().count());
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX);
        let mut seen = std::collections::HashMap::new();
        seen.insert("k", 1);
        for note in [file, dir, env, format!("clock {clock}")] {
            db.execute("INSERT INTO hostile_marker (id) VALUES (1)", &[])?;
            retort_sdk::info(&note);
        }
        Ok(())
    }

    fn downgrade(_db: &Db) -> Result<()> {
        Ok(())
    }
}

export_revision!(Hostile);
