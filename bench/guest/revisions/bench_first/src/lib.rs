//! The benchmark's first revision (a base): creates one table, one index
//! and inserts ten rows with bound parameters.
use retort_sdk::{Db, Result, Revision, export_revision, params};

include!("../../../template.rs");

struct BenchFirst;

impl Revision for BenchFirst {
    const ID: &'static str = ID_PLACEHOLDER;
    const MESSAGE: &'static str = "benchmark revision";

    fn upgrade(db: &Db) -> Result<()> {
        upgrade_template(db)
    }

    fn downgrade(db: &Db) -> Result<()> {
        downgrade_template(db)
    }
}

export_revision!(BenchFirst);
