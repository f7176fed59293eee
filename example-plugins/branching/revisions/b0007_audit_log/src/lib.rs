//! A second base with its own label: the audit log shares no parent with
//! the rest, so the graph has two bases and two heads.
use retort_sdk::{Db, Result, Revision, export_revision};

struct AuditLog;

impl Revision for AuditLog {
    const ID: &'static str = "c0ffee5a1e07";
    const MESSAGE: &'static str = "audit: create audit_log";
    const BRANCH_LABELS: &'static [&'static str] = &["audit"];

    fn upgrade(db: &Db) -> Result<()> {
        db.execute(
            "CREATE TABLE audit_log (id INTEGER NOT NULL PRIMARY KEY, event VARCHAR(100) NOT NULL)",
            &[],
        )?;
        Ok(())
    }

    fn downgrade(db: &Db) -> Result<()> {
        db.execute("DROP TABLE audit_log", &[])?;
        Ok(())
    }
}

export_revision!(AuditLog);
