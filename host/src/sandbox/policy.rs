//! SQL policy: what a revision may send, checked before a statement reaches
//! the sink (online and offline alike). Statements are parsed with
//! `sqlparser`; a statement it cannot read is refused under a policy, never
//! waved through.

use std::ops::ControlFlow;

use serde::Deserialize;
use sqlparser::ast::{AlterTableOperation, ObjectName, ObjectType, RenameTableNameKind, Statement};
use sqlparser::dialect::{
    Dialect as ParserDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::parser::Parser;

use super::guard::shorten;
use crate::dialect::Dialect;
use crate::dialect::scan;

/// Statement kinds a policy names. Groups: `ddl` (create, alter, drop,
/// truncate, comment), `dml` (insert, update, delete, merge), `query`
/// (select), `dcl` (grant, revoke).
pub const KINDS: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "create",
    "alter",
    "drop",
    "truncate",
    "comment",
    "grant",
    "revoke",
    "transaction",
    "set",
    "other",
];

const GROUPS: &[(&str, &[&str])] = &[
    ("ddl", &["create", "alter", "drop", "truncate", "comment"]),
    ("dml", &["insert", "update", "delete", "merge"]),
    ("query", &["select"]),
    ("dcl", &["grant", "revoke"]),
];

/// A policy as written in retort.toml (`[policy]`, `[policy.revisions.<id>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Kinds (or groups) allowed; absent means every kind.
    pub allow: Option<Vec<String>>,
    /// Kinds (or groups) refused, even if allowed.
    pub deny: Option<Vec<String>>,
    /// Tables a revision may touch: `name`, `schema.name` or `schema.*`;
    /// absent means any table.
    pub tables: Option<Vec<String>>,
    /// Built-in deny-list rules this revision is exempted from (only in
    /// `[policy.revisions.<id>]`, only for first-party revisions).
    pub exempt: Option<Vec<String>>,
    /// Overrides for single revisions, by id (`[policy.revisions.<id>]`).
    pub revisions: Option<std::collections::BTreeMap<String, PolicySpec>>,
}

impl PolicySpec {
    /// This spec with the fields `over` sets replacing its own.
    pub fn overlay(&self, over: &PolicySpec) -> PolicySpec {
        PolicySpec {
            allow: over.allow.clone().or_else(|| self.allow.clone()),
            deny: over.deny.clone().or_else(|| self.deny.clone()),
            tables: over.tables.clone().or_else(|| self.tables.clone()),
            exempt: over.exempt.clone(),
            revisions: None,
        }
    }

    /// The deny list for revision `id`: the whole list, less the rules its
    /// `[policy.revisions.<id>]` exempts it from.
    pub fn deny_list_for(&self, id: &str) -> Result<super::DenyList, String> {
        if self.exempt.is_some() {
            return Err(
                "policy.exempt: exemptions from the built-in deny list are per revision; put them under [policy.revisions.<id>]".into(),
            );
        }
        let exempt = self
            .revisions
            .as_ref()
            .and_then(|r| r.get(id))
            .and_then(|r| r.exempt.as_deref())
            .unwrap_or_default();
        super::DenyList::exempting(exempt)
    }

    /// The policy of revision `id`: its overrides over this spec.
    pub fn for_revision(&self, id: &str) -> Result<Policy, String> {
        match self.revisions.as_ref().and_then(|r| r.get(id)) {
            Some(over) if over.revisions.is_some() => Err(format!(
                "policy.revisions.{id}: per-revision policies cannot nest further revisions"
            )),
            Some(over) => self.overlay(over).compile(),
            None => self.compile(),
        }
    }

    /// Validates the kinds and patterns.
    pub fn compile(&self) -> Result<Policy, String> {
        let kinds = |names: &Option<Vec<String>>,
                     key: &str|
         -> Result<Option<Vec<&'static str>>, String> {
            let Some(names) = names else { return Ok(None) };
            let mut out = Vec::new();
            for name in names {
                let name = name.to_ascii_lowercase();
                if let Some((_, members)) = GROUPS.iter().find(|(g, _)| *g == name) {
                    out.extend_from_slice(members);
                } else if let Some(kind) = KINDS.iter().find(|k| **k == name) {
                    out.push(kind);
                } else {
                    return Err(format!(
                        "policy {key}: unknown statement kind {name:?}; use {} or the groups ddl, dml, query, dcl",
                        KINDS.join(", ")
                    ));
                }
            }
            Ok(Some(out))
        };
        let tables = match &self.tables {
            None => None,
            Some(patterns) => Some(
                patterns
                    .iter()
                    .map(|p| TablePattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Policy {
            allow: kinds(&self.allow, "allow")?,
            deny: kinds(&self.deny, "deny")?.unwrap_or_default(),
            tables,
        })
    }
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow: Option<Vec<&'static str>>,
    deny: Vec<&'static str>,
    tables: Option<Vec<TablePattern>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TablePattern {
    schema: Option<String>,
    /// `None` for `schema.*`.
    table: Option<String>,
    /// `prefix*`: the table name starts with `table`.
    prefix: bool,
    text: String,
}

impl TablePattern {
    fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (schema, table) = match lower.split_once('.') {
            Some((schema, "*")) => (Some(schema.to_string()), None),
            Some((schema, table)) => (Some(schema.to_string()), Some(table.to_string())),
            None => (None, Some(lower.clone())),
        };
        let prefix = table
            .as_deref()
            .is_some_and(|t| t.len() > 1 && t.ends_with('*'));
        let table = table.map(|t| {
            if prefix {
                t.trim_end_matches('*').to_string()
            } else {
                t
            }
        });
        let ok = |s: &str| !s.is_empty() && !s.contains(['*', '.', ' ']);
        if schema.as_deref().is_some_and(|s| !ok(s)) || table.as_deref().is_some_and(|t| !ok(t)) {
            return Err(format!(
                "policy tables: {text:?} is not a table pattern; use name, prefix*, schema.name or schema.*"
            ));
        }
        Ok(TablePattern {
            schema,
            table,
            prefix,
            text: text.to_string(),
        })
    }

    /// Whether the pattern names `schema.table`, exactly: an unqualified
    /// pattern is a table of `home` (the schema or database the revision
    /// runs in), an unqualified name is in `home` too, so `seed` never
    /// matches `other.seed`.
    fn matches(&self, schema: Option<&str>, table: &str, home: Option<&str>) -> bool {
        let want = self.schema.as_deref().or(home);
        let got = schema.or(home);
        let schema_ok = match (want, got) {
            (Some(want), Some(got)) => want == got,
            // Without a known home, only two unqualified names compare.
            (None, None) => true,
            _ => false,
        };
        schema_ok
            && self.table.as_deref().is_none_or(|t| {
                if self.prefix {
                    table.starts_with(t)
                } else {
                    t == table
                }
            })
    }
}

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SQL policy refused {statement}: {reason}")]
pub struct PolicyViolation {
    /// The statement, shortened.
    pub statement: String,
    /// Why.
    pub reason: String,
}

impl Policy {
    /// Checks every statement in `sql` (one statement or a script), with
    /// unqualified names and patterns in no particular schema.
    pub fn check(&self, sql: &str, dialect: Dialect) -> Result<(), PolicyViolation> {
        self.check_in(sql, dialect, None)
    }

    /// Checks every statement in `sql`, run in schema (or database) `home`:
    /// what an unqualified table pattern means. The SQL is read as the
    /// server runs it (MySQL executable comments are code), and the bodies
    /// of functions, procedures and `DO` blocks are checked as statements.
    ///
    /// The parse runs on the caller's stack: a revision's host calls get
    /// [`crate::sandbox::HOST_CALL_STACK`] of it, far more than the parser's
    /// depth limit (50) and [`MAX_OPERATOR_CHAIN`] need.
    pub fn check_in(
        &self,
        sql: &str,
        dialect: Dialect,
        home: Option<&str>,
    ) -> Result<(), PolicyViolation> {
        let home = home.map(str::to_ascii_lowercase);
        self.check_text(sql, dialect, home.as_deref(), 0)
    }

    fn check_text(
        &self,
        sql: &str,
        dialect: Dialect,
        home: Option<&str>,
        depth: usize,
    ) -> Result<(), PolicyViolation> {
        let refuse = |reason: String| PolicyViolation {
            statement: shorten(sql),
            reason,
        };
        if depth > super::bodies::MAX_DEPTH {
            return Err(refuse("its bodies nest too deep to be checked".into()));
        }
        let executable = scan::executable(sql, dialect);
        let sql = executable.as_ref();
        let parser: &dyn ParserDialect = match dialect {
            Dialect::Postgres => &PostgreSqlDialect {},
            Dialect::Mysql => &MySqlDialect {},
            Dialect::Sqlite => &SQLiteDialect {},
        };
        // A body is checked as the statements it holds; the statement that
        // creates it then only needs its own kind and names checked.
        for body in super::bodies::bodies(sql, dialect) {
            for piece in super::bodies::statements_in(&body, dialect) {
                match piece {
                    super::bodies::Piece::Sql(text) => {
                        self.check_text(&text, dialect, home, depth + 1)?
                    }
                    super::bodies::Piece::Dynamic(what) if self.tables.is_some() => {
                        return Err(refuse(format!(
                            "a body runs dynamic SQL ({what}), which cannot be checked against the tables this revision may touch; write the statements out"
                        )));
                    }
                    super::bodies::Piece::Dynamic(_) => {}
                }
            }
        }
        if let Some(run) = longest_operator_chain(sql, dialect).filter(|n| *n > MAX_OPERATOR_CHAIN)
        {
            return Err(refuse(format!(
                "one expression chains {run} operators (at most {MAX_OPERATOR_CHAIN}): its syntax tree would be too deep to check safely; split it"
            )));
        }
        let without_bodies = super::bodies::without_do_blocks(sql, dialect);
        let statements = Parser::parse_sql(parser, &without_bodies).map_err(|e| {
            refuse(format!(
                "the policy checker cannot read it ({e}); under a policy or third-party trust a revision may only send SQL that can be checked"
            ))
        })?;
        for statement in &statements {
            // A trigger's body holds statements of its own: each counts.
            let mut kinds = Vec::new();
            let _ = sqlparser::ast::visit_statements(statement, |inner| {
                kinds.extend(kinds_of(inner));
                ControlFlow::<()>::Continue(())
            });
            for kind in kinds {
                if self.deny.contains(&kind) {
                    return Err(refuse(format!("`{kind}` statements are denied")));
                }
                if let Some(allow) = &self.allow
                    && !allow.contains(&kind)
                {
                    return Err(refuse(format!(
                        "`{kind}` statements are not among the allowed kinds ({})",
                        allow.join(", ")
                    )));
                }
            }
            if let Some(patterns) = &self.tables {
                for name in relations(statement) {
                    let parts: Vec<String> = name
                        .0
                        .iter()
                        .map(|p| {
                            p.to_string()
                                .trim_matches(['"', '`', '[', ']'])
                                .to_ascii_lowercase()
                        })
                        .collect();
                    let (schema, table) = match parts.as_slice() {
                        [.., schema, table] => (Some(schema.as_str()), table.as_str()),
                        [table] => (None, table.as_str()),
                        [] => continue,
                    };
                    if !patterns.iter().any(|p| p.matches(schema, table, home)) {
                        let allowed: Vec<&str> = patterns.iter().map(|p| p.text.as_str()).collect();
                        return Err(refuse(format!(
                            "it touches {name}, which is not among the tables this revision may touch ({})",
                            allowed.join(", ")
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The most binary operators one expression may chain before the checker
/// refuses it: `1+1+…` parses into a tree as deep as the chain, which the
/// parser's visitors and drop walk recursively, on the revision's call
/// stack. Measured: 10,000 fit in a 1 MiB stack.
const MAX_OPERATOR_CHAIN: usize = 4000;

/// The longest run of binary operators (symbols, `AND`, `OR`) at one
/// parenthesis level, not broken by a comma or a `;`: how deep the parsed
/// expression can be.
fn longest_operator_chain(sql: &str, dialect: Dialect) -> Option<usize> {
    let mut runs = vec![0usize];
    let mut longest = 0;
    for token in scan::tokens(sql, dialect) {
        match token.kind {
            scan::Kind::Code => {}
            scan::Kind::Semicolon => runs = vec![0],
            _ => continue,
        }
        let mut previous_was_operator = false;
        let mut word = String::new();
        let end_word = |word: &mut String, runs: &mut Vec<usize>| {
            if (word.eq_ignore_ascii_case("AND") || word.eq_ignore_ascii_case("OR"))
                && let Some(run) = runs.last_mut()
            {
                *run += 1;
            }
            word.clear();
        };
        for c in token.text.chars() {
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
                previous_was_operator = false;
                continue;
            }
            end_word(&mut word, &mut runs);
            match c {
                '(' => runs.push(0),
                ')' => {
                    runs.pop();
                    if runs.is_empty() {
                        runs.push(0);
                    }
                }
                ',' => {
                    if let Some(run) = runs.last_mut() {
                        *run = 0;
                    }
                }
                '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '|' | '&' | '^' | '~' | '!'
                | '#' => {
                    if !previous_was_operator && let Some(run) = runs.last_mut() {
                        *run += 1;
                    }
                    previous_was_operator = true;
                    longest = longest.max(runs.last().copied().unwrap_or(0));
                    continue;
                }
                _ => {}
            }
            previous_was_operator = false;
            longest = longest.max(runs.last().copied().unwrap_or(0));
        }
        end_word(&mut word, &mut runs);
        longest = longest.max(runs.last().copied().unwrap_or(0));
    }
    Some(longest)
}

/// Every table or view a statement names: what sqlparser's relation visitor
/// finds, plus the objects of `DROP TABLE`/`DROP VIEW`, the table of
/// MySQL's `DROP INDEX … ON t` and the new names of renames, which it does
/// not visit.
fn relations(statement: &Statement) -> Vec<ObjectName> {
    let mut found = Vec::new();
    let _ = sqlparser::ast::visit_relations(statement, |name| {
        found.push(name.clone());
        ControlFlow::<()>::Continue(())
    });
    match statement {
        Statement::AlterTable(alter) => {
            for op in &alter.operations {
                if let AlterTableOperation::RenameTable { table_name } = op {
                    let (RenameTableNameKind::As(name) | RenameTableNameKind::To(name)) =
                        table_name;
                    found.push(name.clone());
                }
            }
        }
        Statement::RenameTable(renames) => {
            for rename in renames {
                found.push(rename.old_name.clone());
                found.push(rename.new_name.clone());
            }
        }
        _ => {}
    }
    if let Statement::Drop {
        object_type,
        names,
        table,
        ..
    } = statement
    {
        if matches!(
            object_type,
            ObjectType::Table | ObjectType::View | ObjectType::MaterializedView
        ) {
            found.extend(names.iter().cloned());
        }
        found.extend(table.iter().cloned());
    }
    found
}

/// The policy kinds of a parsed statement: its own, and `drop` for what
/// takes data away under another name (`ALTER TABLE … DROP COLUMN`,
/// `DROP CONSTRAINT`, any `RENAME`).
fn kinds_of(statement: &Statement) -> Vec<&'static str> {
    let mut kinds = vec![kind_of(statement)];
    let drops = match statement {
        Statement::AlterTable(alter) => alter.operations.iter().any(|op| {
            matches!(
                op,
                AlterTableOperation::DropColumn { .. }
                    | AlterTableOperation::DropConstraint { .. }
                    | AlterTableOperation::DropPrimaryKey { .. }
                    | AlterTableOperation::DropForeignKey { .. }
                    | AlterTableOperation::DropIndex { .. }
                    | AlterTableOperation::RenameColumn { .. }
                    | AlterTableOperation::RenameTable { .. }
                    | AlterTableOperation::RenameConstraint { .. }
            )
        }),
        Statement::RenameTable(_) => true,
        _ => false,
    };
    if drops && !kinds.contains(&"drop") {
        kinds.push("drop");
    }
    kinds
}

/// The policy kind of a parsed statement.
fn kind_of(statement: &Statement) -> &'static str {
    match statement {
        Statement::Query(_) => "select",
        Statement::Insert(_) => "insert",
        Statement::Update(_) => "update",
        Statement::Delete(_) => "delete",
        Statement::Merge(_) => "merge",
        Statement::Truncate(_) => "truncate",
        Statement::Comment { .. } => "comment",
        Statement::Grant(_) | Statement::GrantRole(_) | Statement::AlterDefaultPrivileges(_) => {
            "grant"
        }
        Statement::Revoke(_) | Statement::RevokeRole(_) | Statement::Deny(_) => "revoke",
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => "transaction",
        Statement::Set(_) => "set",
        Statement::RenameTable(_) => "alter",
        other => {
            // The many CREATE/ALTER/DROP variants differ per object type; their
            // names say which family they belong to.
            let debug = format!("{other:?}");
            let name = debug.split(['(', ' ', '{']).next().unwrap_or("");
            if name.starts_with("Create") {
                "create"
            } else if name.starts_with("Alter") {
                "alter"
            } else if name.starts_with("Drop") {
                "drop"
            } else {
                "other"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: Option<&[&str]>, deny: &[&str], tables: Option<&[&str]>) -> Policy {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicySpec {
            allow: allow.map(strings),
            deny: Some(strings(deny)),
            tables: tables.map(strings),
            exempt: None,
            revisions: None,
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn kinds_are_classified() {
        let p = policy(None, &[], None);
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            for sql in [
                "CREATE TABLE t (a INT)",
                "ALTER TABLE t ADD COLUMN b INT",
                "DROP TABLE t",
                "INSERT INTO t (a) VALUES ($1)",
                "UPDATE t SET a = 1 WHERE a = 2",
                "DELETE FROM t",
                "SELECT * FROM t",
                "CREATE INDEX ix ON t (a)",
            ] {
                p.check(sql, d)
                    .unwrap_or_else(|e| panic!("{d}: {sql}: {e}"));
            }
        }
        let parse = |sql| {
            Parser::parse_sql(&PostgreSqlDialect {}, sql)
                .unwrap()
                .remove(0)
        };
        assert_eq!(kind_of(&parse("DROP INDEX ix")), "drop");
        assert_eq!(kind_of(&parse("CREATE VIEW v AS SELECT 1")), "create");
        assert_eq!(kind_of(&parse("TRUNCATE t")), "truncate");
        assert_eq!(kind_of(&parse("GRANT SELECT ON t TO bob")), "grant");
        assert_eq!(kind_of(&parse("COMMIT")), "transaction");
    }

    #[test]
    fn deny_and_allow() {
        let no_drop = policy(None, &["drop", "truncate", "dcl"], None);
        let err = no_drop
            .check("DROP TABLE users", Dialect::Postgres)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the SQL policy refused `DROP TABLE users`: `drop` statements are denied"
        );
        assert!(no_drop.check("TRUNCATE users", Dialect::Postgres).is_err());
        assert!(
            no_drop
                .check("GRANT ALL ON users TO eve", Dialect::Postgres)
                .is_err()
        );
        // A script is checked statement by statement.
        assert!(
            no_drop
                .check("CREATE TABLE a (x INT); DROP TABLE b;", Dialect::Sqlite)
                .is_err()
        );
        let ddl_only = policy(Some(&["ddl"]), &[], None);
        assert!(
            ddl_only
                .check("CREATE TABLE a (x INT)", Dialect::Mysql)
                .is_ok()
        );
        let err = ddl_only.check("DELETE FROM a", Dialect::Mysql).unwrap_err();
        assert!(
            err.to_string()
                .contains("`delete` statements are not among the allowed kinds"),
            "{err}"
        );
    }

    #[test]
    fn tables_allow_list() {
        let p = policy(None, &[], Some(&["users", "app.*", "public.posts"]));
        for ok in [
            "INSERT INTO users (a) VALUES (1)",
            "UPDATE app.anything SET a = 1",
            "SELECT * FROM public.posts JOIN users ON true",
            "CREATE TABLE users (a INT)",
            "ALTER TABLE \"users\" ADD COLUMN b INT",
        ] {
            p.check(ok, Dialect::Postgres)
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "DELETE FROM secrets",
            "SELECT * FROM users JOIN other.tokens ON true",
            "DROP TABLE posts",
            "INSERT INTO users SELECT * FROM secrets",
        ] {
            let err = p.check(bad, Dialect::Postgres).expect_err(bad);
            assert!(err.reason.contains("not among the tables"), "{bad}: {err}");
        }
    }

    #[test]
    fn per_revision_policies_replace_the_fields_they_set() {
        let spec: PolicySpec = toml::from_str(
            "deny = [\"drop\"]\ntables = [\"users\"]\n[revisions.ab12]\ndeny = []\n",
        )
        .unwrap();
        let global = spec.for_revision("other").unwrap();
        assert!(global.check("DROP TABLE users", Dialect::Sqlite).is_err());
        let relaxed = spec.for_revision("ab12").unwrap();
        assert!(relaxed.check("DROP TABLE users", Dialect::Sqlite).is_ok());
        // Fields it does not set stay: the table list still applies.
        assert!(relaxed.check("DROP TABLE posts", Dialect::Sqlite).is_err());
        let nested: PolicySpec =
            toml::from_str("[revisions.ab12.revisions.cd34]\ndeny = []\n").unwrap();
        assert!(nested.for_revision("ab12").is_err());
    }

    /// Deep input never overflows the stack the checks run on: a chain past
    /// the limit is refused before it is parsed, and what the parser's own
    /// depth limit admits fits in a quarter of a revision's host-call stack.
    #[test]
    fn deep_statements_are_checked_within_a_small_stack() {
        let p = policy(None, &[], None);
        let cases = vec![
            (format!("SELECT {}1", "1+".repeat(3000)), true),
            (
                format!("SELECT 1 WHERE {}", vec!["a = 1"; 1500].join(" OR ")),
                true,
            ),
            (
                format!("INSERT INTO t VALUES {}", vec!["(-1, -2)"; 5000].join(", ")),
                true,
            ),
            (format!("SELECT {}1", "1+".repeat(100_000)), false),
            (
                format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
                false,
            ),
            (
                format!("SELECT {}1{}", "(".repeat(45), ")".repeat(45)),
                true,
            ),
            (
                format!("SELECT {}1{}", "(SELECT ".repeat(20), ")".repeat(20)),
                true,
            ),
            (
                format!("SELECT {}1{}", "f(".repeat(45), ")".repeat(45)),
                true,
            ),
            (format!("SELECT {}1", "- ".repeat(10_000)), false),
            (format!("SELECT {}1", "NOT ".repeat(10_000)), false),
        ];
        // As deep as the parser's own limit lets each shape go: refused or
        // not, never a crash.
        let deepest = [
            format!("SELECT {}1{}", "(SELECT ".repeat(60), ")".repeat(60)),
            format!(
                "SELECT {}1{}",
                "CASE WHEN x THEN ".repeat(60),
                " END".repeat(60)
            ),
            format!(
                "SELECT 1 WHERE a IN {}1{}",
                "(SELECT a FROM t WHERE a IN ".repeat(60),
                ")".repeat(60)
            ),
            format!("SELECT {}1{}", "ARRAY[".repeat(60), "]".repeat(60)),
        ];
        for sql in deepest {
            let p = p.clone();
            std::thread::Builder::new()
                .stack_size(crate::sandbox::HOST_CALL_STACK / 4)
                .spawn(move || {
                    let _ = p.check(&sql, Dialect::Postgres);
                })
                .unwrap()
                .join()
                .unwrap();
        }
        for (sql, ok) in cases {
            let p = p.clone();
            let head: String = sql.chars().take(40).collect();
            let result = std::thread::Builder::new()
                .stack_size(crate::sandbox::HOST_CALL_STACK / 4)
                .spawn(move || p.check(&sql, Dialect::Postgres).is_ok())
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(result, ok, "{head}…");
        }
    }

    #[test]
    fn unreadable_sql_is_refused() {
        let p = policy(None, &[], None);
        let err = p.check("CREATE TABEL oops", Dialect::Sqlite).unwrap_err();
        assert!(err.reason.contains("cannot read it"), "{err}");
    }

    #[test]
    fn bad_specs_are_reported() {
        let spec = PolicySpec {
            deny: Some(vec!["explode".into()]),
            ..PolicySpec::default()
        };
        assert!(
            spec.compile()
                .unwrap_err()
                .contains("unknown statement kind \"explode\"")
        );
        let spec = PolicySpec {
            tables: Some(vec!["a.b.c".into()]),
            ..PolicySpec::default()
        };
        assert!(
            spec.compile()
                .unwrap_err()
                .contains("is not a table pattern")
        );
    }
}
