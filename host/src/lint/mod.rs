//! `retort lint`: lock- and rewrite-aware rules over the statements the
//! revisions really send. The plan is recorded as `--sql` records it (each
//! revision runs in the sandbox, offline), so a Rust, Python, JavaScript,
//! WAT or SQL revision is linted alike, on the SQL it builds at run time.
//!
//! PostgreSQL's lock and rewrite rules are squawk's ([`postgres`]); the rest
//! are Retort's own ([`own`]): MySQL/MariaDB's table copies, drops and
//! renames on every database, and what only Retort knows (a revision
//! outside a transaction, the server's version). Each revision is linted on
//! its own: a table it creates is new, every other one exists and is in use.
//!
//! A finding names the revision, its file (and line, for a SQL revision),
//! the statement, the rule and the safe alternative. Levels come from
//! [`rules::RULES`] and `[lint.rules]`; `[lint.revisions.<id>] disable`
//! exempts a revision, and a `-- retort:lint-ignore RULE[, RULE]` comment
//! in a statement (or, in a SQL file, on the lines before it) exempts that
//! statement, unless `inline_ignores` is off.

pub mod config;
mod own;
mod postgres;
pub mod rules;

use serde::Serialize;

use crate::dialect::Dialect;
use crate::dialect::scan::{self, Kind};
pub use config::{Gate, Level, LintEntry, LintSpec, RevisionLint};
pub use postgres::major as postgres_major;

/// The comment that exempts a statement.
const IGNORE: &str = "retort:lint-ignore";

/// What PostgreSQL version the rules assume when neither the server nor
/// `[lint] postgres_version` says.
pub const DEFAULT_POSTGRES_MAJOR: u32 = 15;

/// One call a revision made, as recorded (parameters inlined as literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text.
    pub sql: String,
    /// For a SQL revision: the file's line the statement starts on.
    pub line: Option<usize>,
    /// For a SQL revision: the comments on the lines before it in its file
    /// (which the host does not send).
    pub comments: String,
}

impl Statement {
    /// A statement with no place in a file.
    pub fn new(sql: String) -> Self {
        Statement {
            sql,
            line: None,
            comments: String::new(),
        }
    }
}

/// One revision's calls, as recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The revision id.
    pub id: String,
    /// Its file, for messages.
    pub file: String,
    /// Whether it runs in a transaction.
    pub transactional: bool,
    /// Its calls in order; `Err`: why it could not be recorded.
    pub statements: Result<Vec<Statement>, String>,
}

/// One rule a statement breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The revision id.
    pub revision: String,
    /// Its file.
    pub file: String,
    /// The line of the file, for a SQL revision.
    pub line: Option<usize>,
    /// Which of the revision's statements (1-based; 0: the revision as a whole).
    pub statement_index: usize,
    /// The statement.
    pub statement: String,
    /// The rule's name.
    pub rule: String,
    /// How much it counts.
    pub level: Level,
    /// What is wrong.
    pub message: String,
    /// The safe alternative.
    pub help: Option<String>,
}

/// What a rule found, before levels and exemptions apply.
#[derive(Debug)]
struct Raw {
    /// Index into the revision's calls.
    statement: usize,
    rule: String,
    message: String,
    help: Option<String>,
}

/// How one lint run judges.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The database the statements are for.
    pub dialect: Dialect,
    /// `[lint]`.
    pub spec: &'a LintSpec,
    /// PostgreSQL's major version (the server's, else configured, else
    /// [`DEFAULT_POSTGRES_MAJOR`]).
    pub postgres_major: u32,
    /// Whether inline ignores count.
    pub inline_ignores: bool,
}

/// The findings over one revision, in statement order.
pub fn check(settings: &Settings<'_>, revision: &Recorded) -> Vec<Finding> {
    let statements = match &revision.statements {
        Ok(statements) => statements,
        Err(reason) => {
            return finish(
                settings,
                revision,
                &[],
                vec![Raw {
                    statement: usize::MAX,
                    rule: "not-recorded".into(),
                    message: format!("the revision could not be recorded, so it was not linted: {reason}"),
                    help: Some("a revision that reads rows (query) cannot be recorded offline: lint its statements by hand, or exempt it under [lint.revisions.<id>]".into()),
                }],
            );
        }
    };
    let mut raw = Vec::new();
    if settings.dialect == Dialect::Postgres {
        raw.extend(postgres::check(
            statements,
            revision.transactional,
            settings.postgres_major,
        ));
    }
    raw.extend(own::check(
        settings.dialect,
        statements,
        revision.transactional,
        settings.postgres_major,
    ));
    raw.sort_by_key(|r| r.statement);
    finish(settings, revision, statements, raw)
}

/// Applies levels, exemptions and inline ignores.
fn finish(
    settings: &Settings<'_>,
    revision: &Recorded,
    statements: &[Statement],
    raw: Vec<Raw>,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for r in raw {
        let default = rules::find(&r.rule).map_or(Level::Warn, |rule| rule.level);
        let level = settings.spec.level(&r.rule, default);
        if level == Level::Off || settings.spec.exempt(&revision.id, &r.rule) {
            continue;
        }
        let statement = statements.get(r.statement);
        if settings.inline_ignores
            && statement.is_some_and(|s| ignores(s, settings.dialect, &r.rule))
        {
            continue;
        }
        let finding = Finding {
            revision: revision.id.clone(),
            file: revision.file.clone(),
            line: statement.and_then(|s| s.line),
            statement_index: statement.map_or(0, |_| r.statement + 1),
            statement: statement.map_or_else(String::new, |s| s.sql.trim().to_string()),
            rule: r.rule,
            level,
            message: r.message,
            help: r.help,
        };
        // squawk reports some rules once per clause: once per statement is enough.
        if !out
            .iter()
            .any(|f| f.statement_index == finding.statement_index && f.rule == finding.rule)
        {
            out.push(finding);
        }
    }
    out
}

/// Whether `statement` carries a `retort:lint-ignore` comment naming
/// `rule` (or naming none: every rule).
fn ignores(statement: &Statement, dialect: Dialect, rule: &str) -> bool {
    let in_comments = |sql: &str| {
        scan::tokens(sql, dialect)
            .filter(|t| t.kind == Kind::Comment)
            .any(|t| {
                let mut rest = t.text;
                while let Some(at) = rest.find(IGNORE) {
                    let after = &rest[at + IGNORE.len()..];
                    let line = after.lines().next().unwrap_or("");
                    let line = line.trim_end_matches("*/");
                    let names: Vec<&str> = line
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|n| !n.is_empty())
                        .collect();
                    if names.is_empty() || names.contains(&rule) {
                        return true;
                    }
                    rest = after;
                }
                false
            })
    };
    in_comments(&statement.sql) || in_comments(&statement.comments)
}

/// Whether any finding is at `error` level.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.level == Level::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(sql: &[&str]) -> Recorded {
        Recorded {
            id: "ab12".into(),
            file: "ab12.wasm".into(),
            transactional: true,
            statements: Ok(sql.iter().map(|s| Statement::new((*s).into())).collect()),
        }
    }

    fn settings(spec: &LintSpec) -> Settings<'_> {
        Settings {
            dialect: Dialect::Postgres,
            spec,
            postgres_major: 15,
            inline_ignores: true,
        }
    }

    #[test]
    fn levels_exemptions_and_inline_ignores() {
        let spec = LintSpec::default();
        let r = revision(&[
            "CREATE INDEX a ON t (a)",
            "-- retort:lint-ignore require-concurrent-index-creation\nCREATE INDEX b ON t (b)",
            "/* retort:lint-ignore ban-drop-table */ CREATE INDEX c ON t (c)",
            "ALTER TABLE t DROP COLUMN x -- retort:lint-ignore",
        ]);
        let found = check(&settings(&spec), &r);
        let got: Vec<(usize, &str, Level)> = found
            .iter()
            .map(|f| (f.statement_index, f.rule.as_str(), f.level))
            .collect();
        assert_eq!(
            got,
            [
                (1, "require-concurrent-index-creation", Level::Error),
                (3, "require-concurrent-index-creation", Level::Error),
            ]
        );
        assert_eq!(found[0].statement, "CREATE INDEX a ON t (a)");
        // A literal that only looks like the comment does not count.
        let r = revision(&["CREATE INDEX a ON t (a) WHERE note <> '-- retort:lint-ignore'"]);
        assert_eq!(check(&settings(&spec), &r).len(), 1);
        // Inline ignores off: the comment is ignored instead.
        let off = Settings {
            inline_ignores: false,
            ..settings(&spec)
        };
        let r = revision(&["-- retort:lint-ignore\nCREATE INDEX a ON t (a)"]);
        assert_eq!(check(&off, &r).len(), 1);

        let spec = LintSpec {
            rules: Some([("require-concurrent-index-creation".into(), Level::Warn)].into()),
            revisions: Some(
                [(
                    "cd34".to_string(),
                    RevisionLint {
                        disable: vec!["all".into()],
                    },
                )]
                .into(),
            ),
            ..LintSpec::default()
        };
        let r = revision(&["CREATE INDEX a ON t (a)"]);
        assert_eq!(check(&settings(&spec), &r)[0].level, Level::Warn);
        let exempt = Recorded {
            id: "cd34".into(),
            ..r
        };
        assert!(check(&settings(&spec), &exempt).is_empty());
    }

    #[test]
    fn a_revision_that_cannot_be_recorded_is_a_finding() {
        let spec = LintSpec::default();
        let r = Recorded {
            statements: Err("query() is not available offline".into()),
            ..revision(&[])
        };
        let found = check(&settings(&spec), &r);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].rule.as_str(),
                found[0].statement_index,
                found[0].level
            ),
            ("not-recorded", 0, Level::Warn)
        );
        assert!(
            found[0]
                .message
                .contains("query() is not available offline")
        );
    }
}
