//! The command line, as clap reads it. `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Database migrations in which every revision is a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "retort", version, about, long_about = None)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file [default: ./retort.toml if present; env RETORT_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite:PATH, postgres://…, mysql://… [env RETORT_DATABASE_URL, DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory of revision components (*.wasm) [env RETORT_MIGRATIONS]
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
    /// Name of the version table [default: retort_version; env RETORT_VERSION_TABLE]
    #[arg(long, global = true, value_name = "NAME")]
    pub version_table: Option<String>,
    /// PostgreSQL schema for the version table and search_path (created if missing) [env RETORT_SCHEMA]
    #[arg(long, global = true, value_name = "NAME")]
    pub schema: Option<String>,
    /// Seconds to wait for another run's migration lock [default: 60; env RETORT_LOCK_TIMEOUT]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub lock_timeout: Option<f64>,
    /// Run without the migration lock (for databases that cannot lock). Unsafe with concurrent deploys.
    #[arg(long, global = true)]
    pub no_lock: bool,
    /// per-revision (default): each revision in its own transaction; all: the whole run in one
    /// (PostgreSQL and SQLite only) [env RETORT_TRANSACTION_MODE]
    #[arg(long, global = true, value_name = "MODE")]
    pub transaction_mode: Option<String>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics (-v, -vv, -vvv); RUST_LOG overrides.
    #[arg(short = 'v', long = "verbosity", global = true, action = clap::ArgAction::Count)]
    pub verbosity: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply revisions up to TARGET.
    ///
    /// Example: `retort upgrade` (all heads), `retort upgrade +1`, `retort upgrade ae10`,
    /// `retort upgrade --sql base:head > upgrade.sql`.
    Upgrade(UpgradeArgs),
    /// Revert revisions down to TARGET.
    ///
    /// Example: `retort downgrade -1`, `retort downgrade base`,
    /// `retort downgrade --sql head:base > downgrade.sql`.
    Downgrade(DowngradeArgs),
    /// Show the applied revisions that nothing applied follows.
    ///
    /// Example: `retort current`.
    Current(CurrentArgs),
    /// List revisions, newest first.
    ///
    /// Example: `retort history`.
    History,
    /// List the revisions nothing follows.
    ///
    /// Example: `retort heads`.
    Heads,
    /// Upgrade to every head, non-interactively: what deploy tooling calls.
    ///
    /// Exit codes: 0 done or nothing to do, 1 a revision (or the database)
    /// failed, 2 usage, configuration or input error, 3 the migration lock
    /// timed out, 4 refused: an earlier failure is unresolved.
    /// Example: `DATABASE_URL=postgres://… retort run`.
    Run,
    /// Settle a revision that failed part-way (recorded in <version_table>_failures).
    ///
    /// `--applied` when everything the revision does is in place (the version
    /// table is set as if it had completed); `--rolled-back` once you have
    /// undone its changes (the version table stays as before it).
    /// Example: `retort resolve e05b7d9c1a42 --rolled-back`.
    Resolve(ResolveArgs),
}

/// `retort upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// heads (default), head, a revision id or prefix, +N; with --sql, FROM:TO.
    #[arg(default_value = "heads", allow_hyphen_values = true)]
    pub target: String,
    /// Write the SQL to stdout instead of running it.
    #[arg(long)]
    pub sql: bool,
    /// Dialect of the --sql script when no database URL says it: sqlite, postgres, mysql.
    #[arg(long, value_name = "NAME")]
    pub dialect: Option<String>,
}

/// `retort downgrade`.
#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// base, a revision id or prefix, -N; with --sql, FROM:TO.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
    /// Write the SQL to stdout instead of running it.
    #[arg(long)]
    pub sql: bool,
    /// Dialect of the --sql script when no database URL says it: sqlite, postgres, mysql.
    #[arg(long, value_name = "NAME")]
    pub dialect: Option<String>,
}

/// `retort current`.
#[derive(Debug, Args)]
pub struct CurrentArgs {
    /// Also show each applied revision's hash, time and duration.
    #[arg(long)]
    pub verbose: bool,
}

/// `retort resolve`.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("resolution").required(true).args(["applied", "rolled_back"])))]
pub struct ResolveArgs {
    /// The revision id (or a unique prefix) that failed part-way.
    pub revision: String,
    /// Its changes are all in place: record it as done.
    #[arg(long)]
    pub applied: bool,
    /// Its changes have been undone: record it as not done.
    #[arg(long)]
    pub rolled_back: bool,
}
