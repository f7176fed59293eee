//! The command line, as clap reads it. `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Database migrations in which every revision is a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(
    name = "retort",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  retort init myapp                      a new project with a first revision\n  retort upgrade                         apply every pending revision\n  retort run --format json               what a deploy job calls: JSON lines on stdout\n  retort run --dry-run                   the plan, the SQL and its digest; nothing changes\n  retort run --targets tenants.txt -j 4  the same chain on many databases\n\nExit codes: 0 done or nothing to do, 1 a revision (or the database) failed, 2 usage or\nconfiguration error, 3 the migration lock timed out, 4 refused: drift or an unresolved failure."
)]
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
    /// Database URL: sqlite:PATH, postgres://…, mysql://… [env RETORT_DATABASE_URL, DATABASE_URL].
    /// `run` takes it several times to fan out over several databases.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Vec<String>,
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
    /// Who wrote the revisions: first-party (default) or third-party (contained: every statement
    /// parsed, no deny-list exemptions, a least-privilege connection required) [env RETORT_TRUST]
    #[arg(long, global = true, value_name = "TRUST")]
    pub trust: Option<String>,
    /// With [[sources]] in retort.toml: work on this chain only (`app` is the project's own);
    /// `run`, `history` and `current` cover every source without it
    #[arg(long, global = true, value_name = "NAME")]
    pub source: Option<String>,
    /// Output: human (default; progress on stderr) or json (one JSON object per line on stdout).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        value_name = "FORMAT"
    )]
    pub format: Format,
    /// Print only errors (no progress bar, no progress lines).
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
    /// `retort upgrade --dry-run`, `retort upgrade --sql base:head > upgrade.sql`.
    Upgrade(UpgradeArgs),
    /// Revert revisions down to TARGET.
    ///
    /// Example: `retort downgrade -1`, `retort downgrade base --dry-run`,
    /// `retort downgrade --sql head:base > downgrade.sql`.
    Downgrade(DowngradeArgs),
    /// Show the applied revisions that nothing applied follows (every applied head).
    ///
    /// Example: `retort current`, `retort current --verbose`.
    Current(CurrentArgs),
    /// List revisions, newest first, with their parents, labels and heads.
    ///
    /// Never compiles a component: metadata comes from the cache.
    /// Example: `retort history`, `retort history -r auth@base:auth@head --verbose`,
    /// `retort history -r ae10:` (ae10 and everything after it),
    /// `retort history --graph`, `retort history --dot | dot -Tsvg > graph.svg`.
    History(HistoryArgs),
    /// List the revisions nothing follows.
    ///
    /// Example: `retort heads`, `retort heads --verbose`.
    Heads(HeadsArgs),
    /// List branch points (revisions with several children) and branch labels.
    ///
    /// Example: `retort branches`.
    Branches,
    /// Show one revision: parents, children, labels, dependencies, file and hash.
    ///
    /// Example: `retort show ae10`, `retort show auth@head`, `retort show head`.
    Show(ShowArgs),
    /// Set the version table to TARGET without running any revision.
    ///
    /// Rows for what TARGET needs are added; rows for what comes after a
    /// revision TARGET are removed. With --sql the statements go to stdout.
    /// Example: `retort stamp heads`, `retort stamp ae10`, `retort stamp base`,
    /// `retort stamp --sql base:heads > stamp.sql`.
    Stamp(StampArgs),
    /// Scaffold a merge revision whose parents are REV... (e.g. `heads`).
    ///
    /// Example: `retort merge heads -m "merge auth and billing"`,
    /// `retort merge a7c3 b9e2 -m "join"`.
    Merge(MergeArgs),
    /// Scaffold a new revision crate with a fresh id, following the head.
    ///
    /// Writes `<revisions>/r<id>_<message words>/` (Cargo.toml, src/lib.rs).
    /// Example: `retort revision -m "add widgets"`,
    /// `retort revision -m "start billing" --head base --branch-label billing`,
    /// `retort revision -m "invoices" --head billing@head --depends-on auth@head`.
    Revision(RevisionArgs),
    /// Exit 0 when every head is applied, 1 when some revision is not.
    ///
    /// Example: `retort check || retort upgrade`.
    Check,
    /// Upgrade to every head, non-interactively: what deploy tooling calls.
    ///
    /// With --targets FILE (or --database-url given several times) the same
    /// chain runs on every database, --jobs at a time, each with its own
    /// connection and lock; one result line per target.
    ///
    /// Exit codes: 0 done or nothing to do, 1 a revision (or the database)
    /// failed, 2 usage, configuration or input error, 3 the migration lock
    /// timed out, 4 refused: drift, an earlier failure is unresolved, or
    /// --lint found an error-level finding.
    ///
    /// Example: `DATABASE_URL=postgres://… retort run --format json`, `retort run --lint`,
    /// `retort run --dry-run`, `retort run --targets tenants.txt --jobs 4`.
    Run(RunArgs),
    /// Build the project's Rust revision crates and place their components.
    ///
    /// Runs `cargo build --release --target wasm32-wasip2` for the crates in
    /// the revisions directory (honouring CARGO_TARGET_DIR), copies each
    /// component into the migrations directory, and compiles every revision
    /// new to this machine into the compile cache, so the next run starts warm.
    /// Example: `retort build && retort upgrade`.
    Build,
    /// Write another tool's migration history as Retort SQL revisions.
    ///
    /// Reads DIR as TOOL lays it out and writes one SQL revision per
    /// migration into the migrations directory (or --into): the tool's
    /// version is the revision id, its order the chain, and each file is the
    /// original SQL byte for byte after a `-- retort:` header. Nothing is
    /// written if a file would be overwritten. Files that cannot be imported
    /// (goose Go migrations, Flyway repeatables) are listed by name.
    /// Example: `retort import sqlx ../app/migrations --into migrations`.
    Import(ImportArgs),
    /// Take over a database another tool migrated, where that tool stopped.
    ///
    /// Under the migration lock, reads TOOL's history table on the
    /// configured database (_sqlx_migrations, __diesel_schema_migrations,
    /// schema_migrations, goose_db_version, flyway_schema_history), checks
    /// every applied migration against its file in DIR (sqlx and Flyway
    /// checksums too), and stamps exactly the revisions `retort import` made
    /// of them. A dirty or failed row, a missing or changed file, or a gap
    /// stamps nothing.
    /// Example: `retort import sqlx ../app/migrations && retort adopt sqlx ../app/migrations && retort run`.
    Adopt(AdoptArgs),
    /// Create a new project: retort.toml, migrations/, and a first revision.
    ///
    /// In Rust (the default) the revision is a crate in a cargo workspace;
    /// in Python, JavaScript or WAT it is a file in migrations/ that runs
    /// as it is (no Rust toolchain needed).
    /// Example: `retort init myapp && cd myapp && retort build && retort upgrade`,
    /// `retort init myapp --lang python && cd myapp && retort upgrade`.
    Init(InitArgs),
    /// Print a shell completion script.
    ///
    /// Example: `retort completions bash > ~/.local/share/bash-completion/completions/retort`,
    /// `retort completions zsh > ~/.zfunc/_retort`,
    /// `retort completions fish > ~/.config/fish/completions/retort.fish`.
    Completions(CompletionsArgs),
    /// Settle a revision that failed part-way (recorded in <version_table>_failures).
    ///
    /// `--applied` when everything the revision does is in place (the version
    /// table is set as if it had completed); `--rolled-back` once you have
    /// undone its changes (the version table stays as before it); `--resume`
    /// to run it again from the statement its journal says it stopped at
    /// (a revision that can commit part-way keeps one: any on MySQL/MariaDB,
    /// any with `transactional: false`).
    /// Example: `retort resolve e05b7d9c1a42 --rolled-back`, `retort resolve e05b7d9c1a42 --resume`.
    Resolve(ResolveArgs),
    /// Check that every applied revision's component is the one that was applied.
    ///
    /// Compares the sha256 recorded in the version table with the component
    /// files; exits 4 listing every drift. `--accept ID…` records the current
    /// hash for a deliberate rebuild.
    /// Example: `retort verify`, `retort verify --accept a94d0e6f3c21`.
    Verify(VerifyArgs),
    /// Check what the connection's role can reach outside its database.
    ///
    /// Lists every way out (superuser, server files, other schemas, dblink…)
    /// and prints the SQL that creates a least-privilege role for this
    /// database. Exits 4 under `--trust third-party` when the role reaches
    /// outside (third-party runs would be refused), 0 otherwise.
    /// Example: `retort doctor`, `retort doctor --trust third-party`.
    Doctor,
    /// Check the statements revisions really send for locks and rewrites
    /// that cause outages.
    ///
    /// Records each revision's upgrade as `--sql` does (Rust, Python,
    /// JavaScript, WAT and SQL alike) and checks every statement against
    /// lock- and rewrite-aware rules for the database (squawk's for
    /// PostgreSQL): CREATE INDEX without CONCURRENTLY, constraints without
    /// NOT VALID, SET NOT NULL, type changes, volatile defaults, VACUUM
    /// FULL, MySQL table copies, drops and renames. With a database URL it
    /// lints what that database still needs (read only, nothing locked);
    /// with --dialect or FROM:TO, the range. Exits 1 when a finding is at
    /// `error` level. Levels and exemptions: [lint] in retort.toml,
    /// `-- retort:lint-ignore RULE` in a statement.
    /// Example: `retort lint`, `retort lint --dialect postgres`,
    /// `retort lint ae10:head --format json`.
    Lint(LintArgs),
}

/// `retort lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// heads (default), head, a revision; or FROM:TO (from base: `base:heads`).
    #[arg(default_value = "heads")]
    pub target: String,
    /// Lint for this database (sqlite, postgres, mysql) without connecting to one.
    #[arg(long, value_name = "DIALECT")]
    pub dialect: Option<String>,
    /// Take the statements from a dry run on the database instead of a recording, so
    /// revisions that read rows are linted too. On PostgreSQL and SQLite that rehearses
    /// the plan (rolled back) and takes the locks its revisions take: use a copy.
    #[arg(long, conflicts_with = "dialect")]
    pub rehearse: bool,
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
    /// Show the plan and the SQL, and print its digest, without changing the database.
    #[arg(long, conflicts_with = "sql")]
    pub dry_run: bool,
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
    /// Show the plan and the SQL, and print its digest, without changing the database.
    #[arg(long, conflicts_with = "sql")]
    pub dry_run: bool,
}

/// `retort run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Show the plan and the SQL, and print its digest, without changing the database.
    #[arg(long)]
    pub dry_run: bool,
    /// Run on every database listed in FILE: one `URL [schema=NAME] [name=LABEL]` per line
    /// (`#` comments, `${VAR}` expanded).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// How many targets run at once.
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Lint the plan before migrating: `error` (the default for a bare --lint) refuses
    /// (exit 4) on error-level findings, `warn` reports them and migrates, `off` skips
    /// [default: `lint` in retort.toml, else off].
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, require_equals = true, default_missing_value = "error")]
    pub lint: Option<String>,
}

/// `retort import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool whose history it is.
    #[arg(value_enum)]
    pub tool: ToolArg,
    /// Its migrations directory.
    pub dir: PathBuf,
    /// Where to write the revisions [default: the configured migrations directory].
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

/// `retort adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The tool that migrated the database.
    #[arg(value_enum)]
    pub tool: ToolArg,
    /// Its migrations directory (the one `retort import` read).
    pub dir: PathBuf,
}

/// The tools `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolArg {
    /// sqlx-cli: `<version>_<desc>.sql`, or `.up.sql` + `.down.sql`.
    Sqlx,
    /// Diesel: `<version>_<name>/up.sql`, `down.sql`, `metadata.toml`.
    Diesel,
    /// golang-migrate: `<N>_<name>.up.sql` + `.down.sql`.
    #[value(alias = "migrate")]
    GolangMigrate,
    /// goose: `-- +goose Up` / `-- +goose Down` sections.
    Goose,
    /// dbmate: `-- migrate:up` / `-- migrate:down` sections.
    Dbmate,
    /// Flyway: `V<version>__<desc>.sql`, `U<version>__` undo files.
    Flyway,
    /// Alembic: `versions/*.py` (point at the script directory or `versions`).
    Alembic,
}

impl From<ToolArg> for crate::import::Tool {
    fn from(tool: ToolArg) -> Self {
        use crate::import::Tool;
        match tool {
            ToolArg::Sqlx => Tool::Sqlx,
            ToolArg::Diesel => Tool::Diesel,
            ToolArg::GolangMigrate => Tool::GolangMigrate,
            ToolArg::Goose => Tool::Goose,
            ToolArg::Dbmate => Tool::Dbmate,
            ToolArg::Flyway => Tool::Flyway,
            ToolArg::Alembic => Tool::Alembic,
        }
    }
}

/// `retort init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Language of the first revision.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: LangArg,
    /// The retort-sdk (plugin-sdk) directory [default: the one this retort was built from].
    #[arg(long, value_name = "PATH", env = "RETORT_SDK")]
    pub sdk: Option<PathBuf>,
}

/// `retort completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
#[command(group(clap::ArgGroup::new("resolution").required(true).args(["applied", "rolled_back", "resume"])))]
pub struct ResolveArgs {
    /// The revision id (or a unique prefix) that failed part-way.
    pub revision: String,
    /// Its changes are all in place: record it as done.
    #[arg(long)]
    pub applied: bool,
    /// Its changes have been undone: record it as not done.
    #[arg(long)]
    pub rolled_back: bool,
    /// Run it again from where its journal says it stopped: the statements
    /// that ran are checked to be the same and skipped, the rest run.
    #[arg(long)]
    pub resume: bool,
}

/// `retort verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Accept the rebuilt components of these revisions (ids or prefixes).
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub accept: Vec<String>,
}

/// `retort history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// FROM:TO, either end optional (base, heads): e.g. `ae10:`, `:auth@head`, `base:b9e2`.
    #[arg(
        short = 'r',
        long = "rev-range",
        value_name = "RANGE",
        allow_hyphen_values = true
    )]
    pub range: Option<String>,
    /// Show every detail of each revision.
    #[arg(long, conflicts_with_all = ["graph", "dot"])]
    pub verbose: bool,
    /// Draw the graph: one revision per line, its branches and merges as lines.
    #[arg(long, conflicts_with = "dot")]
    pub graph: bool,
    /// Print the graph in Graphviz dot (`retort history --dot | dot -Tsvg > graph.svg`).
    #[arg(long)]
    pub dot: bool,
    /// Connect and mark the applied revisions (an applied revision whose
    /// file is missing is an error), as `alembic history -i` does.
    #[arg(short = 'i', long = "indicate-current", conflicts_with_all = ["graph", "dot"])]
    pub indicate_current: bool,
}

/// `retort heads`.
#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// Show every detail of each head.
    #[arg(long)]
    pub verbose: bool,
}

/// `retort show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A revision: id or unique prefix, branch label, head, label@head, id+N, id-N.
    #[arg(allow_hyphen_values = true)]
    pub rev: String,
}

/// `retort stamp`.
#[derive(Debug, Args)]
pub struct StampArgs {
    /// heads, head, base, a revision id, label, label@head, label@base, +N, -N; with --sql, FROM:TO.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
    /// Write the SQL to stdout instead of changing the database.
    #[arg(long)]
    pub sql: bool,
    /// Dialect of the --sql script when no database URL says it: sqlite, postgres, mysql.
    #[arg(long, value_name = "NAME")]
    pub dialect: Option<String>,
}

/// Options shared by `revision` and `merge`.
#[derive(Debug, Args)]
pub struct ScaffoldArgs {
    /// The revision's one-line message.
    #[arg(short, long)]
    pub message: String,
    /// Branch label the new revision declares (repeatable).
    #[arg(long = "branch-label", value_name = "LABEL")]
    pub branch_labels: Vec<String>,
    /// Language of the scaffold.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: LangArg,
    /// Directory to write the crate into [default: `revisions` from retort.toml, else ./revisions]
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The retort-sdk (plugin-sdk) directory, when no workspace above DIR provides it.
    #[arg(long, value_name = "PATH", env = "RETORT_SDK")]
    pub sdk: Option<PathBuf>,
}

/// `retort revision`.
#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// What every scaffold takes.
    #[command(flatten)]
    pub scaffold: ScaffoldArgs,
    /// Parent (repeatable): an id, label, label@head, `heads`, or `base` for a new base [default: head]
    #[arg(long = "head", value_name = "REV")]
    pub heads: Vec<String>,
    /// A revision that must be applied first without being a parent (repeatable).
    #[arg(long = "depends-on", value_name = "REV")]
    pub depends_on: Vec<String>,
}

/// `retort merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The revisions to join: ids, labels, label@head, or `heads`.
    #[arg(required = true, value_name = "REV")]
    pub revisions: Vec<String>,
    /// What every scaffold takes.
    #[command(flatten)]
    pub scaffold: ScaffoldArgs,
}

/// How commands print their results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: results on stdout, progress on stderr.
    Human,
    /// For programs: one JSON object per line on stdout.
    Json,
}

/// Languages `revision` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    /// A Rust crate using retort-sdk.
    Rust,
    /// A component written in the WebAssembly text format (one `.wat` file).
    Wat,
    /// A Python revision script (one `.py` file).
    #[value(alias = "py")]
    Python,
    /// A JavaScript revision script (one `.js` file).
    #[value(alias = "javascript")]
    Js,
    /// Plain SQL (one `.sql` file with up and down sections).
    Sql,
}

impl From<LangArg> for crate::scaffold::Lang {
    fn from(lang: LangArg) -> Self {
        use crate::scaffold::Lang;
        match lang {
            LangArg::Rust => Lang::Rust,
            LangArg::Wat => Lang::Wat,
            LangArg::Python => Lang::Python,
            LangArg::Js => Lang::JavaScript,
            LangArg::Sql => Lang::Sql,
        }
    }
}
