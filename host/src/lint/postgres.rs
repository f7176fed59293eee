//! PostgreSQL's lock- and rewrite-aware rules, checked by squawk's linter
//! over a revision's statements as one file: a table the revision creates
//! is new (indexing it blocks nobody), every other one exists and is in use.
//! A revision in a transaction is linted inside `BEGIN`/`COMMIT`, as the
//! host runs it, so `CONCURRENTLY` there is an error of its own.

use std::str::FromStr;

use super::rules::{self, Checker};
use super::{Raw, Statement};
use crate::dialect::Dialect;

/// The major version of a PostgreSQL version string (`"11"`, `"16.2"`,
/// `"170004"` as `server_version_num` gives it).
pub fn major(version: &str) -> Option<u32> {
    let version = version.trim();
    let head = version.split('.').next()?;
    let number: u32 = head.parse().ok()?;
    match number {
        // server_version_num: 100000 and up is major * 10000.
        n if n >= 100_000 => Some(n / 10_000),
        // 9.6 as 90600.
        n if n >= 10_000 => Some(n / 10_000),
        n => Some(n),
    }
}

/// squawk's findings over `statements`, each attributed to the statement it
/// points into. `version`: the server's major version.
pub(super) fn check(statements: &[Statement], transactional: bool, version: u32) -> Vec<Raw> {
    // The transaction the host opens, as the linter recognises one (a file
    // of one statement is otherwise taken to run outside any).
    let mut text = String::from(if transactional { "BEGIN;\n" } else { "" });
    let mut spans = Vec::with_capacity(statements.len());
    for statement in statements {
        let start = text.len();
        text.push_str(&statement.sql);
        spans.push((start, text.len()));
        // On a line of its own: a statement may end in a line comment.
        text.push_str("\n;\n");
    }
    if transactional {
        text.push_str("COMMIT;\n");
    }
    let wanted: Vec<squawk_linter::Rule> = rules::of(Dialect::Postgres, Checker::Squawk)
        .filter_map(|r| squawk_linter::Rule::from_str(r.name).ok())
        .collect();
    let mut linter = squawk_linter::Linter::from(wanted);
    if let Ok(v) = squawk_linter::Version::from_str(&version.to_string()) {
        linter.settings.pg_version = v;
    }
    let file = squawk_syntax::SourceFile::parse(&text);
    linter
        .lint(&file, &text)
        .into_iter()
        .map(|violation| {
            let at = usize::from(violation.text_range.start());
            let index = spans
                .iter()
                .position(|&(start, end)| at >= start && at <= end)
                .unwrap_or_else(|| spans.iter().rposition(|&(s, _)| s <= at).unwrap_or(0));
            let rule = violation.code.to_string();
            let help = help(&rule, violation.help, transactional);
            Raw {
                statement: index,
                rule,
                message: violation.message,
                help,
            }
        })
        .collect()
}

/// squawk's advice, with what it takes in a Retort revision.
fn help(rule: &str, squawk: Option<String>, transactional: bool) -> Option<String> {
    let retort = match rule {
        "require-concurrent-index-creation" | "require-concurrent-index-deletion"
            if transactional =>
        {
            Some(
                "CONCURRENTLY cannot run in a transaction: give the statement a revision of its own marked transactional: false",
            )
        }
        "ban-concurrent-index-creation-in-transaction" => Some(
            "mark the revision transactional: false (and keep the statement alone in it): Retort then runs it outside a transaction",
        ),
        _ => None,
    };
    match (squawk, retort) {
        (Some(s), Some(r)) => Some(format!("{s} {r}")),
        (Some(s), None) => Some(s),
        (None, r) => r.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(sql: &[&str]) -> Vec<Statement> {
        sql.iter()
            .map(|s| Statement::new((*s).to_string()))
            .collect()
    }

    fn rules_of(found: &[Raw]) -> Vec<(usize, &str)> {
        found
            .iter()
            .map(|r| (r.statement, r.rule.as_str()))
            .collect()
    }

    #[test]
    fn versions_read_as_majors() {
        assert_eq!(major("11"), Some(11));
        assert_eq!(major("16.2"), Some(16));
        assert_eq!(major("170004"), Some(17));
        assert_eq!(major("90600"), Some(9));
        assert_eq!(major("x"), None);
    }

    #[test]
    fn an_index_on_an_existing_table_but_not_on_a_new_one() {
        let found = check(
            &statements(&[
                "CREATE TABLE fresh (id int)",
                "CREATE INDEX fresh_id ON fresh (id)",
                "CREATE INDEX old_id ON old (id)",
            ]),
            true,
            15,
        );
        assert_eq!(
            rules_of(&found),
            [(2, "require-concurrent-index-creation")],
            "{found:?}"
        );
        assert!(
            found[0]
                .help
                .as_deref()
                .unwrap()
                .contains("transactional: false")
        );
    }

    #[test]
    fn concurrently_in_a_transaction_is_its_own_error() {
        let sql = statements(&["CREATE INDEX CONCURRENTLY old_id ON old (id)"]);
        assert_eq!(
            rules_of(&check(&sql, true, 15)),
            [(0, "ban-concurrent-index-creation-in-transaction")]
        );
        assert!(check(&sql, false, 15).is_empty());
    }

    #[test]
    fn constraints_and_rewrites() {
        let found = check(
            &statements(&[
                "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES u (id)",
                "ALTER TABLE t ADD CONSTRAINT t_c CHECK (a > 0) NOT VALID",
                "ALTER TABLE t ALTER COLUMN a TYPE bigint",
                "ALTER TABLE t ALTER COLUMN b SET NOT NULL",
                "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()",
                "ALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid()",
            ]),
            true,
            15,
        );
        let got = rules_of(&found);
        assert!(
            got.contains(&(0, "constraint-missing-not-valid")),
            "{got:?}"
        );
        assert!(!got.iter().any(|(i, _)| *i == 1), "{got:?}");
        assert!(got.contains(&(2, "changing-column-type")), "{got:?}");
        assert!(got.contains(&(3, "adding-not-nullable-field")), "{got:?}");
        // now() is stable within the transaction: no rewrite on PG 11+.
        assert!(!got.iter().any(|(i, _)| *i == 4), "{got:?}");
        assert!(got.contains(&(5, "adding-field-with-default")), "{got:?}");
    }
}
