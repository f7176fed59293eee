//! The benchmark driver behind `scripts/bench`: times `retort upgrade`,
//! `retort downgrade base` and `retort upgrade --sql` against the plain-sqlx
//! floor (`bench_floor`), interleaved in one run, for each dialect and N,
//! with a cold (no cache at all) and a warm cache; then `history` and
//! `heads` warm, `history` cold, and peak RSS. Prints medians and the ratio Retort / floor.
//!
//! ```sh
//! bench_run --templates FIRST.wasm NEXT.wasm [--n 100,1000] [--reps 5]
//!           [--dialects sqlite,postgres,mariadb] [--pg postgres://postgres@127.0.0.1:5432]
//!           [--mysql mysql://root@127.0.0.1:3306] [--work DIR]
//! ```
//!
//! Before timing anything it checks, at N=3 on SQLite, that Retort and the
//! floor leave the same schema, rows and version ids behind.

#[path = "bench/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sqlx::{AssertSqlSafe, Connection, Row};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

struct Options {
    templates: [PathBuf; 2],
    ns: Vec<usize>,
    reps: usize,
    dialects: Vec<String>,
    pg: String,
    mysql: String,
    work: PathBuf,
    /// Whether `work` is ours to remove at the end (no `--work` given).
    scratch: bool,
}

fn parse() -> Fallible<Options> {
    let mut o = Options {
        templates: [PathBuf::new(), PathBuf::new()],
        ns: vec![100, 1000],
        reps: 5,
        dialects: vec!["sqlite".into(), "postgres".into(), "mariadb".into()],
        pg: "postgres://postgres@127.0.0.1:5432".into(),
        mysql: "mysql://root@127.0.0.1:3306".into(),
        work: std::env::temp_dir().join(format!("retort-bench-{}", std::process::id())),
        scratch: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--templates" => o.templates = [value()?.into(), value()?.into()],
            "--n" => {
                o.ns = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--reps" => o.reps = value()?.parse()?,
            "--mysql" => o.mysql = value()?,
            "--dialects" => o.dialects = value()?.split(',').map(String::from).collect(),
            "--pg" => o.pg = value()?,
            "--work" => {
                o.work = value()?.into();
                o.scratch = false;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if o.templates[0].as_os_str().is_empty() || o.reps == 0 {
        return Err("usage: bench_run --templates FIRST.wasm NEXT.wasm [--n 100,1000] [--reps 5] [--dialects sqlite,postgres,mariadb] [--pg URL] [--mysql URL] [--work DIR]".into());
    }
    Ok(o)
}

/// The programs next to this one: target/release/{retort, examples/bench_*}.
struct Tools {
    retort: PathBuf,
    floor: PathBuf,
    generator: PathBuf,
}

impl Tools {
    fn find() -> Fallible<Tools> {
        let exe = std::env::current_exe()?;
        let examples = exe.parent().ok_or("no parent directory")?;
        let release = examples.parent().ok_or("no parent directory")?;
        // RETORT_BENCH_RETORT: another build's binary, to compare two builds.
        let retort = std::env::var_os("RETORT_BENCH_RETORT")
            .map_or_else(|| release.join("retort"), PathBuf::from);
        let tools = Tools {
            retort,
            floor: examples.join("bench_floor"),
            generator: examples.join("bench_gen"),
        };
        for tool in [&tools.retort, &tools.floor, &tools.generator] {
            if !tool.is_file() {
                return Err(format!(
                    "{} is missing: build it first (scripts/bench does)",
                    tool.display()
                )
                .into());
            }
        }
        Ok(tools)
    }
}

/// Runs a command to completion, its stdout discarded; returns seconds.
fn time(program: &Path, args: &[&str]) -> Fallible<f64> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let elapsed = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(elapsed)
}

/// The benchmark's config file for a migrations directory (beside it).
fn config_of(migrations: &Path) -> PathBuf {
    migrations.with_file_name("retort.toml")
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Peak resident set size of one run, in MiB (`/usr/bin/time -f %M`).
fn peak_rss(program: &Path, args: &[&str]) -> Fallible<f64> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let kib: f64 = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or(format!("no RSS from /usr/bin/time: {text}"))?;
    Ok(kib / 1024.0)
}

/// One database to migrate, emptied before each upgrade.
struct Target {
    url: String,
    sqlite: Option<PathBuf>,
    admin: Option<(String, String)>,
    mysql: bool,
}

impl Target {
    fn new(dialect: &str, o: &Options, n: usize) -> Target {
        match dialect {
            "sqlite" => {
                let file = o.work.join(format!("bench-{n}.db"));
                Target {
                    url: format!("sqlite:{}", file.display()),
                    sqlite: Some(file),
                    admin: None,
                    mysql: false,
                }
            }
            "mariadb" | "mysql" => {
                let name = format!("retort_bench_{}_{n}", std::process::id());
                Target {
                    url: format!("{}/{name}", o.mysql),
                    sqlite: None,
                    admin: Some((o.mysql.clone(), name)),
                    mysql: true,
                }
            }
            _ => {
                let name = format!("retort_bench_{}_{n}", std::process::id());
                Target {
                    url: format!("{}/{name}", o.pg),
                    sqlite: None,
                    admin: Some((format!("{}/postgres", o.pg), name)),
                    mysql: false,
                }
            }
        }
    }

    async fn reset(&self) -> Fallible<()> {
        if let Some(file) = &self.sqlite {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        self.admin(true).await
    }

    async fn drop(&self) -> Fallible<()> {
        self.reset().await?;
        self.admin(false).await
    }

    /// Drops the scratch database on its server, and creates it again when
    /// `create`.
    async fn admin(&self, create: bool) -> Fallible<()> {
        let Some((admin, name)) = &self.admin else {
            return Ok(());
        };
        let force = if self.mysql { "" } else { " WITH (FORCE)" };
        let mut statements = vec![format!("DROP DATABASE IF EXISTS {name}{force}")];
        if create {
            statements.push(format!("CREATE DATABASE {name}"));
        }
        if self.mysql {
            let mut c = sqlx::MySqlConnection::connect(admin).await?;
            for sql in statements {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await?;
            }
            c.close().await?;
        } else {
            let mut c = sqlx::PgConnection::connect(admin).await?;
            for sql in statements {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await?;
            }
            c.close().await?;
        }
        Ok(())
    }
}

/// Where the N revisions are, and how to run retort on them.
struct Project<'a> {
    tools: &'a Tools,
    migrations: PathBuf,
}

impl Project<'_> {
    fn generate<'t>(tools: &'t Tools, o: &Options, n: usize) -> Fallible<Project<'t>> {
        let migrations = o.work.join(format!("n{n}")).join("migrations");
        let _ = std::fs::remove_dir_all(&migrations);
        let status = Command::new(&tools.generator)
            .arg(&o.templates[0])
            .arg(&o.templates[1])
            .arg(&migrations)
            .arg(n.to_string())
            .status()?;
        if !status.success() {
            return Err("bench_gen failed".into());
        }
        // A configured cache directory keeps compiled code beside the
        // metadata (not in the machine's cache), so a cold run is cold.
        std::fs::write(
            config_of(&migrations),
            "cache_dir = \"migrations/.retort-cache\"\n",
        )?;
        Ok(Project { tools, migrations })
    }

    fn clear_cache(&self) {
        let _ = std::fs::remove_dir_all(self.migrations.join(".retort-cache"));
    }

    fn args(&self, url: &str, command: &[&str]) -> Vec<String> {
        let dir = self.migrations.to_str().unwrap_or_default();
        let config = config_of(&self.migrations).to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "-q",
            "--config",
            &config,
            "--migrations",
            dir,
            "--database-url",
            url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    fn retort(&self, url: &str, command: &[&str]) -> Fallible<f64> {
        let args = self.args(url, command);
        time(
            &self.tools.retort,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }
}

const COMMANDS: [(&str, &[&str]); 3] = [
    ("upgrade", &["upgrade"]),
    ("downgrade base", &["downgrade", "base"]),
    ("upgrade --sql", &["upgrade", "--sql"]),
];
const FLOOR_MODES: [&str; 3] = ["upgrade", "downgrade", "sql"];

/// Samples per (dialect, N, cache, command), for Retort and for the floor.
#[derive(Default)]
struct Samples {
    retort: BTreeMap<(String, usize, &'static str, &'static str), Vec<f64>>,
    floor: BTreeMap<(String, usize, &'static str), Vec<f64>>,
    absolute: BTreeMap<(String, usize, &'static str), Vec<f64>>,
    rss: Vec<(String, usize, &'static str, f64)>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

async fn bench_one(
    project: &Project<'_>,
    target: &Target,
    dialect: &str,
    n: usize,
    o: &Options,
    s: &mut Samples,
) -> Fallible<()> {
    let url = target.url.as_str();
    let n_text = n.to_string();
    // Fill the caches once so that the first warm sample is warm.
    project.retort(url, &["upgrade", "--sql"])?;
    for rep in 0..o.reps {
        eprintln!("  {dialect} N={n}: repetition {}/{}", rep + 1, o.reps);
        // Interleaved, in a rotating order: floor, warm, cold.
        for unit in 0..3 {
            match (unit + rep) % 3 {
                0 => {
                    target.reset().await?;
                    for mode in FLOOR_MODES {
                        let t = time(&project.tools.floor, &[url, &n_text, mode])?;
                        s.floor
                            .entry((dialect.into(), n, mode))
                            .or_default()
                            .push(t);
                    }
                }
                which => {
                    let cache = if which == 1 { "warm" } else { "cold" };
                    target.reset().await?;
                    for (name, command) in COMMANDS {
                        if cache == "cold" {
                            project.clear_cache();
                        }
                        let t = project.retort(url, command)?;
                        s.retort
                            .entry((dialect.into(), n, cache, name))
                            .or_default()
                            .push(t);
                    }
                }
            }
        }
        for name in ["history", "heads"] {
            let t = project.retort(url, &[name])?;
            s.absolute
                .entry((dialect.into(), n, name))
                .or_default()
                .push(t);
        }
        // A fresh clone: no cache at all.
        project.clear_cache();
        let t = project.retort(url, &["history"])?;
        s.absolute
            .entry((dialect.into(), n, "history, cold"))
            .or_default()
            .push(t);
    }
    // Peak RSS: one more run each (upgrade needs an empty database).
    target.reset().await?;
    project.clear_cache();
    let rss = peak_rss(
        &project.tools.retort,
        &strs(&project.args(url, &["upgrade"])),
    )?;
    s.rss.push((dialect.into(), n, "retort upgrade, cold", rss));
    target.reset().await?;
    let rss = peak_rss(
        &project.tools.retort,
        &strs(&project.args(url, &["upgrade"])),
    )?;
    s.rss.push((dialect.into(), n, "retort upgrade, warm", rss));
    target.reset().await?;
    let rss = peak_rss(&project.tools.floor, &[url, &n_text, "upgrade"])?;
    s.rss.push((dialect.into(), n, "floor upgrade", rss));
    Ok(())
}

/// Retort and the floor must leave the same database behind.
async fn check(tools: &Tools, o: &Options) -> Fallible<()> {
    let n = 3;
    let project = Project::generate(tools, o, n)?;
    let mut dumps = Vec::new();
    for who in ["retort", "floor"] {
        let file = o.work.join(format!("check-{who}.db"));
        let url = format!("sqlite:{}", file.display());
        match who {
            "retort" => project.retort(&url, &["upgrade"])?,
            _ => time(&tools.floor, &[&url, "3", "upgrade"])?,
        };
        let mut c = sqlx::SqliteConnection::connect(&url).await?;
        let mut dump: Vec<String> = Vec::new();
        let schema =
            "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'bench_%' ORDER BY name";
        for r in sqlx::query(schema).fetch_all(&mut c).await? {
            dump.push(format!(
                "{} {} {}",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<String, _>(2)
            ));
        }
        for i in 0..n {
            let rows = format!(
                "SELECT id, name, score FROM {} ORDER BY id",
                workload::table(i)
            );
            for r in sqlx::query(AssertSqlSafe(rows)).fetch_all(&mut c).await? {
                dump.push(format!(
                    "{} {} {}",
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<i64, _>(2)
                ));
            }
        }
        let ids = "SELECT revision_id FROM retort_version ORDER BY revision_id";
        for r in sqlx::query(ids).fetch_all(&mut c).await? {
            dump.push(r.get::<String, _>(0));
        }
        c.close().await?;
        dumps.push(dump);
    }
    if dumps[0] != dumps[1] || dumps[0].len() < n * 12 {
        return Err(format!(
            "Retort and the floor disagree; keep bench/guest/template.rs and host/examples/bench/workload.rs in step:\n retort: {:?}\n floor:  {:?}",
            dumps[0], dumps[1]
        )
        .into());
    }
    eprintln!("check: Retort and the floor leave the same schema, rows and version ids (N={n})");
    Ok(())
}

fn report(o: &Options, s: &Samples) {
    println!(
        "\nmedians of {} interleaved repetitions; ratio = Retort / floor (the floor: plain sqlx, same statements and transactions)\n",
        o.reps
    );
    println!(
        "{:<9} {:>5}  {:<5}  {:<15} {:>10} {:>10} {:>7}",
        "dialect", "N", "cache", "command", "retort s", "floor s", "ratio"
    );
    for ((dialect, n, cache, name), samples) in &s.retort {
        let mode = match *name {
            "upgrade" => "upgrade",
            "downgrade base" => "downgrade",
            _ => "sql",
        };
        let floor = s
            .floor
            .get(&(dialect.clone(), *n, mode))
            .map_or(f64::NAN, |v| median(v));
        let ours = median(samples);
        println!(
            "{dialect:<9} {n:>5}  {cache:<5}  {name:<15} {ours:>10.3} {floor:>10.3} {:>6.2}x",
            ours / floor
        );
    }
    println!();
    for ((dialect, n, name), samples) in &s.absolute {
        let (name, cache) = name.split_once(", ").unwrap_or((name, "warm"));
        println!(
            "{dialect:<9} {n:>5}  {cache:<5}  {name:<15} {:>8.1} ms",
            median(samples) * 1000.0
        );
    }
    println!();
    for (dialect, n, what, mib) in &s.rss {
        println!("{dialect:<9} {n:>5}  peak RSS {what:<22} {mib:>6.1} MiB");
    }
}

async fn run() -> Fallible<()> {
    let o = parse()?;
    std::fs::create_dir_all(&o.work)?;
    let result = bench(&o).await;
    if o.scratch {
        let _ = std::fs::remove_dir_all(&o.work);
    }
    result
}

async fn bench(o: &Options) -> Fallible<()> {
    let tools = Tools::find()?;
    check(&tools, o).await?;
    let mut samples = Samples::default();
    for &n in &o.ns {
        let project = Project::generate(&tools, o, n)?;
        for dialect in &o.dialects {
            let target = Target::new(dialect, o, n);
            let result = bench_one(&project, &target, dialect, n, o, &mut samples).await;
            target.drop().await?;
            result?;
        }
    }
    report(o, &samples);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let result = run().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
