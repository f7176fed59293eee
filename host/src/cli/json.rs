//! `--format json` for the commands that are not runs: one JSON object on
//! stdout per command (see the README for each shape). `run`, `upgrade` and
//! `downgrade` stream events instead ([`super::output`]).

use std::collections::BTreeSet;
use std::process::ExitCode;

use serde_json::json;

use super::args::Command;
use super::commands::{Outcome, record_script, request, script_dialect};
use super::obj::Obj;
use super::output::json_line;
use crate::{Config, Direction, Entry, Error, Project, Range, RevisionGraph, Scaffolded, Target};

type Done = Result<(), Outcome>;

/// Runs `command` and prints its result as one JSON object.
pub async fn run(config: Config, command: Command) -> Done {
    match command {
        Command::Upgrade(args) => {
            script(config, Direction::Upgrade, &args.target, args.dialect).await
        }
        Command::Downgrade(args) => {
            script(config, Direction::Downgrade, &args.target, args.dialect).await
        }
        Command::History(args) => {
            if args.graph || args.dot {
                return Err(Outcome::Error(Error::Usage(
                    "--graph and --dot draw for people and Graphviz; --format json lists every revision with its parents already".into(),
                )));
            }
            let several = config.chains().len() > 1 && args.range.is_none();
            let project = Project::open(config).await?;
            let mut list: Vec<Obj> = Vec::new();
            let chains: Vec<&Project> = if several {
                project.chains().collect()
            } else {
                vec![&project]
            };
            for chain in chains {
                let graph = chain.graph();
                for entry in chain.history(args.range.as_deref())? {
                    let mut value = revision(graph, entry);
                    if several {
                        value.set("source", json!(chain.source_name()));
                    }
                    list.push(value);
                }
            }
            json_line(&Obj::default().with("revisions", list));
            Ok(())
        }
        Command::Heads(_) => {
            let project = Project::open(config).await?;
            let graph = project.graph();
            let list: Vec<Obj> = graph
                .heads()
                .iter()
                .filter_map(|id| project.catalog().get(id))
                .map(|e| revision(graph, e))
                .collect();
            json_line(&Obj::default().with("heads", list));
            Ok(())
        }
        Command::Branches => {
            let project = Project::open(config).await?;
            let graph = project.graph();
            let heads = graph.heads();
            let points: Vec<Obj> = graph
                .branch_points()
                .iter()
                .map(|id| {
                    Obj::default()
                        .with("id", json!(id))
                        .with("children", json!(graph.children(id)))
                })
                .collect();
            let labels: Vec<Obj> = graph
                .labels()
                .into_iter()
                .map(|(label, root)| {
                    let tips: Vec<&str> = graph
                        .branch(label)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|id| heads.contains(id))
                        .collect();
                    Obj::default()
                        .with("label", json!(label))
                        .with("starts_at", json!(root))
                        .with("heads", json!(tips))
                })
                .collect();
            json_line(
                &Obj::default()
                    .with("branch_points", points)
                    .with("labels", labels),
            );
            Ok(())
        }
        Command::Show(args) => {
            let project = Project::open(config).await?;
            let entry = project.show(&args.rev.parse()?)?;
            let graph = project.graph();
            let id = entry.info.id.as_str();
            let value = revision(graph, entry)
                .with("children", json!(graph.children(id)))
                .with("needed_by", json!(graph.dependents(id)))
                .with("branches", json!(graph.branches_of(id)));
            json_line(&Obj::default().with("revision", value));
            Ok(())
        }
        Command::Current(_) => {
            config.require_url()?;
            let several = config.chains().len() > 1;
            let project = Project::open(config).await?;
            let failures = project.failures().await?;
            let mut rows: Vec<Obj> = Vec::new();
            let mut applied_heads: Vec<String> = Vec::new();
            for chain in project.chains() {
                let applied = chain.current().await?;
                let ids: BTreeSet<String> = applied.iter().map(|r| r.id.clone()).collect();
                let graph = chain.graph();
                let heads = graph.heads();
                applied_heads.extend(graph.applied_heads(&ids).into_iter().map(str::to_string));
                for r in &applied {
                    let mut row = Obj::default()
                        .with("id", json!(r.id))
                        .with("head", json!(heads.contains(&r.id.as_str())))
                        .with("applied_at", json!(r.applied_at))
                        .with("duration_ms", json!(r.duration_ms))
                        .with("sha256", json!(r.sha256));
                    if several {
                        row.set("source", json!(chain.source_name()));
                    }
                    rows.push(row);
                }
            }
            let failures: Vec<Obj> = failures
                .iter()
                .map(|f| {
                    Obj::default()
                        .with("id", json!(f.id))
                        .with("direction", json!(f.direction))
                        .with("failed_at", json!(f.failed_at))
                        .with("statement", json!(f.statement))
                        .with("error", json!(f.error))
                        .with("interrupted", json!(f.interrupted()))
                        .with(
                            "statements_run",
                            json!(f.journal.as_ref().map(|j| j.statements)),
                        )
                })
                .collect();
            let dirty = !failures.is_empty();
            json_line(
                &Obj::default()
                    .with("applied_heads", json!(applied_heads))
                    .with("applied", rows)
                    .with("unresolved_failures", failures),
            );
            if dirty {
                Err(Outcome::Exit(ExitCode::from(4)))
            } else {
                Ok(())
            }
        }
        Command::Doctor => {
            config.require_url()?;
            let project = Project::open_or_empty(config).await?;
            let report = project.doctor().await?;
            json_line(
                &Obj::default()
                    .with("dialect", json!(report.dialect.to_string()))
                    .with("trust", json!(report.trust.to_string()))
                    .with("confined", json!(report.outside_reach.is_empty()))
                    .with("outside_reach", json!(report.outside_reach))
                    .with("role_sql", json!(report.role_sql)),
            );
            super::commands::doctor_exit(&report)
        }
        Command::Check => {
            config.require_url()?;
            let project = Project::open(config).await?;
            let several = project.chains().count() > 1;
            let (mut applied_heads, mut pending, mut sources) =
                (Vec::new(), Vec::new(), Vec::new());
            let mut unresolved = Vec::new();
            for chain in project.chains() {
                unresolved.extend(chain.failures().await?.iter().map(|f| f.describe()));
                let check = chain.check().await?;
                if several {
                    sources.push(
                        Obj::default()
                            .with("source", json!(chain.source_name()))
                            .with("up_to_date", json!(check.up_to_date()))
                            .with("applied_heads", json!(check.applied_heads))
                            .with("pending", json!(check.pending)),
                    );
                }
                applied_heads.extend(check.applied_heads);
                pending.extend(check.pending);
            }
            let mut value = Obj::default()
                .with("up_to_date", json!(pending.is_empty()))
                .with("applied_heads", json!(applied_heads))
                .with("pending", json!(pending));
            if several {
                value.set("sources", sources);
            }
            let dirty = !unresolved.is_empty();
            value.set("unresolved_failures", json!(unresolved));
            json_line(&value);
            if dirty {
                Err(Outcome::Exit(ExitCode::from(4)))
            } else if pending.is_empty() {
                Ok(())
            } else {
                Err(Outcome::Exit(ExitCode::from(1)))
            }
        }
        Command::Stamp(args) if args.sql => {
            let range: Range = args.target.parse()?;
            let dialect = script_dialect(&config, args.dialect)?;
            let project = Project::open(config).await?;
            let text = project.stamp_script(&range, dialect).await?;
            json_line(&script_obj("stamp", &range, dialect, text));
            Ok(())
        }
        Command::Stamp(args) => {
            let target: Target = args.target.parse()?;
            config.require_url()?;
            let project = Project::open(config).await?;
            let plan = project.stamp(&target).await?;
            json_line(
                &Obj::default()
                    .with("stamped", json!(target.to_string()))
                    .with("added", json!(plan.insert))
                    .with("removed", json!(plan.delete)),
            );
            Ok(())
        }
        Command::Resolve(args) if args.resume => {
            config.require_url()?;
            let project = Project::open(config).await?;
            let _signals = crate::interrupt::install();
            let (failure, steps) = project.resume(&args.revision, &mut |_| {}).await?;
            let skipped = failure.journal.as_ref().map_or(0, |j| j.statements);
            let statements = steps.first().map_or(0, |s| s.statements);
            json_line(
                &Obj::default()
                    .with("resolved", json!(failure.id))
                    .with(
                        "recorded_as",
                        json!(if failure.direction == "downgrade" {
                            "rolled_back"
                        } else {
                            "applied"
                        }),
                    )
                    .with("resumed", json!(true))
                    .with("skipped", json!(skipped))
                    .with("sent", json!(statements.saturating_sub(skipped)))
                    .with("direction", json!(failure.direction))
                    .with("failed_at", json!(failure.failed_at)),
            );
            Ok(())
        }
        Command::Resolve(args) => {
            config.require_url()?;
            let project = Project::open(config).await?;
            let failure = project.resolve(&args.revision, args.applied).await?;
            json_line(
                &Obj::default()
                    .with("resolved", json!(failure.id))
                    .with(
                        "recorded_as",
                        json!(if args.applied {
                            "applied"
                        } else {
                            "rolled_back"
                        }),
                    )
                    .with("direction", json!(failure.direction))
                    .with("failed_at", json!(failure.failed_at)),
            );
            Ok(())
        }
        Command::Revision(args) => {
            let project = Project::open_or_empty(config).await?;
            let made =
                project.new_revision(&request(args.scaffold, args.heads, args.depends_on))?;
            json_line(&scaffolded(&project, &made));
            Ok(())
        }
        Command::Merge(args) => {
            let project = Project::open(config).await?;
            let made = project.merge(
                &args.revisions,
                &request(args.scaffold, Vec::new(), Vec::new()),
            )?;
            json_line(&scaffolded(&project, &made));
            Ok(())
        }
        other => Err(Outcome::Error(Error::Usage(format!(
            "--format json is not available for {}",
            command_name(&other)
        )))),
    }
}

fn command_name(command: &Command) -> String {
    format!("{command:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

/// `upgrade --sql` / `downgrade --sql`: the script as one object.
async fn script(
    config: Config,
    direction: Direction,
    range: &str,
    dialect: Option<String>,
) -> Done {
    let (range, dialect, text) = record_script(config, direction, range, dialect).await?;
    json_line(&script_obj(&direction.to_string(), &range, dialect, text));
    Ok(())
}

fn script_obj(command: &str, range: &Range, dialect: crate::Dialect, sql: String) -> Obj {
    Obj::event("script")
        .with("command", json!(command))
        .with("range", json!(range.to_string()))
        .with("dialect", json!(dialect.to_string()))
        .with("sql", json!(sql))
}

/// Everything a revision's metadata says, with its place in the graph.
pub fn revision(graph: &RevisionGraph, entry: &Entry) -> Obj {
    let info = &entry.info;
    let id = info.id.as_str();
    Obj::default()
        .with("id", json!(id))
        .with("message", json!(info.message))
        .with("down_revisions", json!(info.down_revisions))
        .with("depends_on", json!(info.depends_on))
        .with("branch_labels", json!(info.branch_labels))
        .with("head", json!(graph.heads().contains(&id)))
        .with("branchpoint", json!(graph.children(id).len() > 1))
        .with("mergepoint", json!(info.down_revisions.len() > 1))
        .with("transactional", json!(info.transactional))
        .with("path", json!(entry.path.display().to_string()))
        .with("sha256", json!(entry.sha256))
}

/// A new revision crate, with the commands that build and install it.
pub fn scaffolded(project: &Project, made: &Scaffolded) -> Obj {
    let component = made.workspace.join(format!(
        "target/wasm32-wasip2/release/{}.wasm",
        made.crate_name
    ));
    Obj::default()
        .with("created", json!(made.id))
        .with("down_revisions", json!(made.down_revisions))
        .with("dir", json!(made.dir.display().to_string()))
        .with("crate", json!(made.crate_name))
        .with("workspace", json!(made.workspace.display().to_string()))
        .with(
            "build",
            json!(format!(
                "cargo build --release --target wasm32-wasip2 --manifest-path {}",
                made.dir.join("Cargo.toml").display()
            )),
        )
        .with("component", json!(component.display().to_string()))
        .with(
            "migrations",
            json!(project.config().migrations.display().to_string()),
        )
}
