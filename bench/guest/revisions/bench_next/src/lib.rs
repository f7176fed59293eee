//! Every later benchmark revision: follows the copy before it, and does what
//! the first one does to a table of its own.
use retort_sdk::{Db, Result, Revision, export_revision, params};

include!("../../../template.rs");

struct BenchNext;

impl Revision for BenchNext {
    const ID: &'static str = ID_PLACEHOLDER;
    const DOWN_REVISIONS: &'static [&'static str] = &[PARENT_PLACEHOLDER];
    const MESSAGE: &'static str = "benchmark revision";

    fn upgrade(db: &Db) -> Result<()> {
        upgrade_template(db)
    }

    fn downgrade(db: &Db) -> Result<()> {
        downgrade_template(db)
    }
}

export_revision!(BenchNext);
