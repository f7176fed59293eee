//! Retort: a database migration engine in which every revision is a sandboxed
//! WebAssembly component.
//!
//! A [`Project`] is a configuration, a [`Catalog`] of compiled revisions and
//! its [`RevisionGraph`]. It upgrades and downgrades a database online, over
//! one connection, or records the same calls into a SQL script offline. The
//! two differ only in the [`Sink`] behind the revisions' `database` interface.
//!
//! ```no_run
//! # async fn demo() -> Result<(), retort::Error> {
//! use retort::{Config, Overrides, Project, Target};
//!
//! let config = Config::load(&Overrides {
//!     database_url: Some("sqlite:app.db".into()),
//!     migrations: Some("migrations".into()),
//!     ..Overrides::default()
//! })?;
//! let project = Project::open(config).await?;
//! let applied = project.upgrade(&Target::Heads, &mut |_event| {}).await?;
//! println!("applied {} revision(s)", applied.len());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod catalog;
pub mod cli;
mod config;
mod dialect;
mod error;
mod graph;
pub mod import;
mod init;
mod interrupt;
pub mod lint;
mod printable;
mod project;
pub mod revision_crates;
mod runner;
mod sandbox;
mod scaffold;
mod sink;
mod value;

pub use catalog::{Catalog, CatalogError, Entry, InterpreterPaths, Language};
pub use config::{Config, ConfigError, Overrides};
pub use dialect::{Dialect, LiteralError};
pub use error::Error;
pub use graph::{Direction, GraphError, Plan, Revision, RevisionGraph, StampPlan, Target};
pub use init::{InitOptions, Initialized, SdkDependency, init_project};
pub use project::{
    Adopted, Check, Database, Deployment, Doctor, Drift, DryRun, DryRunMethod, InterpreterChange,
    LintReport, Project, Range, RevisionRequest, Verification,
};
pub use runner::{
    Aftermath, AppliedRevision, Event, RecordedFailure, RevisionFailure, RunError, StepReport,
    TransactionMode, VersionTable,
};
pub use sandbox::{CallResult, Program, RevisionInfo, Sandbox, Script};
pub use scaffold::{Lang, NewRevision, ScaffoldError, Scaffolded};
pub use sink::{LockError, Mode, OnlineSink, Recorder, RunDigest, Sink, Tap, Transcribed};
pub use value::{DbError, Rows, Value};
