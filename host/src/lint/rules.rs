//! Every rule `retort lint` knows: its name, the level it reports at unless
//! `[lint.rules]` says otherwise, the databases it applies to, and who
//! checks it (squawk for PostgreSQL's lock and rewrite rules, Retort for
//! the rest).

use super::config::Level;
use crate::dialect::Dialect;

/// Who checks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// squawk's linter, under the same name.
    Squawk,
    /// Retort's own rules (`lint::own`).
    Retort,
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// Its name, as findings, `[lint.rules]` and `retort:lint-ignore` say it.
    pub name: &'static str,
    /// Its level unless configured.
    pub level: Level,
    /// The databases it applies to.
    pub dialects: &'static [Dialect],
    /// Who checks it.
    pub checker: Checker,
}

const PG: &[Dialect] = &[Dialect::Postgres];
const MY: &[Dialect] = &[Dialect::Mysql];
const ALL: &[Dialect] = &[Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];

const fn squawk(name: &'static str, level: Level) -> Rule {
    Rule {
        name,
        level,
        dialects: PG,
        checker: Checker::Squawk,
    }
}

const fn own(name: &'static str, level: Level, dialects: &'static [Dialect]) -> Rule {
    Rule {
        name,
        level,
        dialects,
        checker: Checker::Retort,
    }
}

/// The rules, PostgreSQL's (squawk's lock- and rewrite-aware set) first.
pub const RULES: &[Rule] = &[
    squawk("require-concurrent-index-creation", Level::Error),
    squawk("require-concurrent-index-deletion", Level::Warn),
    squawk("ban-concurrent-index-creation-in-transaction", Level::Error),
    squawk("require-concurrent-reindex", Level::Error),
    squawk("require-concurrent-partition-detach", Level::Error),
    squawk("constraint-missing-not-valid", Level::Error),
    squawk("adding-foreign-key-constraint", Level::Error),
    squawk("disallowed-unique-constraint", Level::Error),
    squawk("adding-serial-primary-key-field", Level::Error),
    squawk("adding-not-nullable-field", Level::Error),
    squawk("adding-required-field", Level::Error),
    squawk("adding-field-with-default", Level::Error),
    squawk("changing-column-type", Level::Error),
    squawk("transaction-nesting", Level::Error),
    squawk("ban-drop-database", Level::Error),
    squawk("ban-truncate-cascade", Level::Warn),
    own("vacuum-full-or-cluster", Level::Error, PG),
    own("enum-value-in-transaction", Level::Error, PG),
    // squawk's names, checked by Retort where squawk does not reach.
    own("ban-drop-column", Level::Warn, ALL),
    own("ban-drop-table", Level::Warn, ALL),
    own("renaming-column", Level::Warn, ALL),
    own("renaming-table", Level::Warn, ALL),
    own("mysql-table-copy", Level::Error, MY),
    own("mysql-column-change", Level::Warn, MY),
    own("mysql-mixed-ddl-dml", Level::Warn, MY),
    own("non-transactional-mixed", Level::Warn, ALL),
    own("not-recorded", Level::Warn, ALL),
];

/// The rule called `name`.
pub fn find(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// Every rule's name.
pub fn names() -> Vec<&'static str> {
    RULES.iter().map(|r| r.name).collect()
}

/// The rules of `dialect` that `checker` checks.
pub fn of(dialect: Dialect, checker: Checker) -> impl Iterator<Item = &'static Rule> {
    RULES
        .iter()
        .filter(move |r| r.checker == checker && r.dialects.contains(&dialect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_squawk_knows_its_own() {
        let mut names = names();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        for rule in of(Dialect::Postgres, Checker::Squawk) {
            assert!(
                rule.name.parse::<squawk_linter::Rule>().is_ok(),
                "{}",
                rule.name
            );
        }
    }
}
