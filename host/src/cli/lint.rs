//! `retort lint`, and the lint gate `retort run --lint` passes first.

use std::process::ExitCode;

use serde_json::json;

use super::args::{Format, LintArgs};
use super::commands::{Outcome, note, out};
use super::obj::Obj;
use super::output::{Ui, json_line};
use crate::lint::{Finding, Gate, Level};
use crate::{Config, Dialect, Error, Project, Range};

type Done = Result<(), Outcome>;

/// `retort lint [TARGET] [--dialect D]`: exit 1 on an error-level finding.
pub async fn lint(config: Config, args: &LintArgs, ui: Ui) -> Done {
    let range: Range = args.target.parse().map_err(Error::from)?;
    let dialect = args
        .dialect
        .as_deref()
        .map(parse_dialect)
        .transpose()
        .map_err(Outcome::Error)?;
    let project = Project::open(config).await?;
    let several = project.chains().count() > 1;
    let mut failed = false;
    // Every chain ([[sources]]), each under its own trust.
    for chain in project.chains() {
        let report = chain.lint_with(&range, dialect, args.rehearse).await?;
        let mut line = Obj::event("finding");
        if several {
            line.set("source", json!(chain.source_name()));
        }
        show(&report.findings, ui, &line);
        if ui.format == Format::Human {
            let (errors, warnings) = counts(&report.findings);
            let version = match report.dialect {
                Dialect::Postgres => format!(" {}", report.postgres_major),
                _ => String::new(),
            };
            let source = if several {
                format!("Source {}: ", chain.source_name())
            } else {
                String::new()
            };
            note(
                ui.quiet,
                &format!(
                    "{source}Linted {} revision(s) for {}{version}: {errors} error(s), {warnings} warning(s)",
                    report.revisions.len(),
                    report.dialect
                ),
            );
        }
        failed |= report.has_errors();
    }
    if failed {
        Err(Outcome::Exit(ExitCode::from(1)))
    } else {
        Ok(())
    }
}

/// The gate `run` applies: `--lint[=LEVEL]`, else `lint` in retort.toml.
pub fn gate_of(flag: Option<&str>, config: &Config) -> Result<Gate, Error> {
    match flag {
        Some(text) => text
            .parse()
            .map_err(|m: String| Error::Usage(format!("--lint: {m}"))),
        None => Ok(config.lint.run.unwrap_or_default()),
    }
}

/// Lints what `run` is about to apply (on `dialect` when it fans out,
/// else on the configured database), reports the findings, and refuses
/// (exit 4) on an error-level one under [`Gate::Error`].
pub async fn gate(config: &Config, gate: Gate, dialect: Option<Dialect>, ui: Ui) -> Done {
    if gate == Gate::Off {
        return Ok(());
    }
    let project = Project::open(config.clone()).await?;
    let range: Range = "heads".parse().map_err(Error::from)?;
    let report = project.lint(&range, dialect).await?;
    show(&report.findings, ui, &Obj::event("lint"));
    if ui.format == Format::Human && !report.findings.is_empty() {
        let (errors, warnings) = counts(&report.findings);
        note(
            ui.quiet,
            &format!("Lint: {errors} error(s), {warnings} warning(s)"),
        );
    }
    if gate == Gate::Error && report.has_errors() {
        return Err(Outcome::Error(Error::Lint(report.findings)));
    }
    Ok(())
}

fn parse_dialect(name: &str) -> Result<Dialect, Error> {
    Dialect::from_name(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown dialect {name:?}: use sqlite, postgres or mysql"
        ))
    })
}

/// The findings for people, or as JSON lines that start as `line` does.
fn show(findings: &[Finding], ui: Ui, line: &Obj) {
    for finding in findings {
        match ui.format {
            Format::Json => json_line(&finding_json(line.clone(), finding)),
            Format::Human => print(finding),
        }
    }
}

fn counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    (errors, findings.len() - errors)
}

fn finding_json(base: Obj, f: &Finding) -> Obj {
    base.with("level", json!(f.level))
        .with("rule", json!(f.rule))
        .with("revision", json!(f.revision))
        .with("file", json!(f.file))
        .with("line", json!(f.line))
        .with("statement_index", json!(f.statement_index))
        .with("statement", json!(f.statement))
        .with("message", json!(f.message))
        .with("help", json!(f.help))
}

/// A finding for people: where, the statement (its first lines), what, and the fix.
fn print(f: &Finding) {
    let place = match f.line {
        Some(line) => format!("{}:{line}", f.file),
        None => f.file.clone(),
    };
    let which = match f.statement_index {
        0 => String::new(),
        n => format!(", statement {n}"),
    };
    out(&format!(
        "{}[{}] revision {} ({place}){which}",
        f.level, f.rule, f.revision
    ));
    const SHOWN: usize = 6;
    let lines: Vec<&str> = f.statement.lines().collect();
    for line in lines.iter().take(SHOWN) {
        out(&format!("    {line}"));
    }
    if lines.len() > SHOWN {
        out(&format!("    … ({} more line(s))", lines.len() - SHOWN));
    }
    out(&format!("  {}", f.message));
    if let Some(help) = &f.help {
        out(&format!("  help: {help}"));
    }
    out("");
}
