//! Retort's own rules: what squawk does not check (MySQL/MariaDB and
//! SQLite, `VACUUM FULL` on PostgreSQL before 19, an enum value added in a
//! transaction on PostgreSQL before 12), and what only Retort knows (a
//! revision outside a transaction). Statements are read with sqlparser; one
//! it cannot parse is checked by its leading words only.

use std::collections::BTreeSet;

use sqlparser::ast::{AlterTableAlgorithm, AlterTableOperation, ObjectType, TableConstraint};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::{Raw, Statement};
use crate::dialect::Dialect;
use crate::dialect::scan::{self, Kind};

/// One statement of a call (a call may send a script of several).
struct Piece<'a> {
    /// Which call of the revision's it is in (0-based).
    call: usize,
    text: &'a str,
    /// Its leading words, upper-cased (code only: no literals or comments).
    words: Vec<String>,
}

/// The findings of Retort's own rules over one revision's calls.
pub(super) fn check(
    dialect: Dialect,
    statements: &[Statement],
    transactional: bool,
    postgres_major: u32,
) -> Vec<Raw> {
    let pieces: Vec<Piece<'_>> = statements
        .iter()
        .enumerate()
        .flat_map(|(call, s)| {
            scan::statements(&s.sql, dialect)
                .into_iter()
                .map(move |text| Piece {
                    call,
                    text,
                    words: words(text, dialect, 8),
                })
                // Only comments or blanks: no statement.
                .filter(|piece| !piece.words.is_empty())
        })
        .collect();
    let mut found = Vec::new();
    let mut report = |call: usize, rule: &str, message: String, help: &str| {
        found.push(Raw {
            statement: call,
            rule: rule.to_string(),
            message,
            help: Some(help.to_string()),
        });
    };
    let mut created = BTreeSet::new();
    let mut first_dml = None;
    let mut first_ddl = None;
    for piece in &pieces {
        let w = |i: usize| piece.words.get(i).map_or("", String::as_str);
        match w(0) {
            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" => {
                first_dml.get_or_insert(piece.call);
            }
            _ if dialect.commits_implicitly(piece.text) => {
                first_ddl.get_or_insert(piece.call);
            }
            _ => {}
        }
        if dialect == Dialect::Postgres {
            if w(0) == "CLUSTER" || (w(0) == "VACUUM" && piece.words.iter().any(|x| x == "FULL")) {
                report(
                    piece.call,
                    "vacuum-full-or-cluster",
                    format!(
                        "{} rewrites the table under an ACCESS EXCLUSIVE lock: every read and write of it waits until the rewrite is done",
                        if w(0) == "CLUSTER" {
                            "CLUSTER"
                        } else {
                            "VACUUM FULL"
                        }
                    ),
                    "rewrite online with pg_repack (or REPACK CONCURRENTLY on PostgreSQL 19+), outside a migration",
                );
            }
            if transactional
                && postgres_major < 12
                && w(0) == "ALTER"
                && w(1) == "TYPE"
                && piece
                    .words
                    .windows(2)
                    .any(|p| p[0] == "ADD" && p[1] == "VALUE")
            {
                report(
                    piece.call,
                    "enum-value-in-transaction",
                    format!(
                        "PostgreSQL {postgres_major} cannot run ALTER TYPE … ADD VALUE inside a transaction block, and this revision runs in one"
                    ),
                    "give the statement a revision of its own marked transactional: false (PostgreSQL 12 and later allow it in a transaction)",
                );
            }
        }
        for statement in parse(dialect, piece.text) {
            structural(dialect, &statement, piece.call, &mut created, &mut report);
        }
    }
    if !transactional && pieces.len() > 1 {
        report(
            pieces[1].call,
            "non-transactional-mixed",
            format!(
                "the revision runs outside a transaction (transactional: false) and sends {} statements: if one fails, those before it stay applied and the revision is left part-way",
                pieces.len()
            ),
            "keep a non-transactional revision to the one statement that needs it (a CREATE INDEX CONCURRENTLY, an ALTER TYPE … ADD VALUE) and put the rest in a transactional revision",
        );
    }
    if dialect == Dialect::Mysql
        && let (Some(dml), Some(ddl)) = (first_dml, first_ddl)
    {
        report(
            dml.max(ddl),
            "mysql-mixed-ddl-dml",
            "the revision changes both schema and data: MySQL/MariaDB commit each DDL statement at once, so if it fails part-way the data changes before the failure stay".to_string(),
            "put data changes (backfills) in a revision of their own, after the one that changes the schema",
        );
    }
    found
}

/// The first `n` words of `sql`'s code, upper-cased.
fn words(sql: &str, dialect: Dialect, n: usize) -> Vec<String> {
    scan::tokens(sql, dialect)
        .filter(|t| t.kind == Kind::Code)
        .flat_map(|t| {
            t.text
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
        })
        .take(n)
        .collect()
}

fn parse(dialect: Dialect, sql: &str) -> Vec<sqlparser::ast::Statement> {
    let sql = scan::executable(sql, dialect);
    match dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, &sql),
        Dialect::Mysql => Parser::parse_sql(&MySqlDialect {}, &sql),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, &sql),
    }
    .unwrap_or_default()
}

/// The last part of a possibly qualified name, unquoted and lower-cased.
fn base_name(name: &sqlparser::ast::ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map_or_else(String::new, |ident| ident.value.to_lowercase())
}

/// Drops, renames and table rebuilds: found in the parsed statement.
fn structural(
    dialect: Dialect,
    statement: &sqlparser::ast::Statement,
    call: usize,
    created: &mut BTreeSet<String>,
    report: &mut impl FnMut(usize, &str, String, &str),
) {
    use sqlparser::ast::Statement as S;
    const DROP_HELP: &str = "first deploy code that no longer uses it, then drop it in a later revision (expand, migrate, contract)";
    const RENAME_HELP: &str = "add the new name beside the old one (a new column kept in step, or a view), move the code over, then drop the old name in a later revision";
    match statement {
        S::CreateTable(create) => {
            created.insert(base_name(&create.name));
        }
        S::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => {
            for name in names.iter().filter(|n| !created.contains(&base_name(n))) {
                report(
                    call,
                    "ban-drop-table",
                    format!(
                        "drops table {name}: code still reading or writing it fails as soon as this commits"
                    ),
                    DROP_HELP,
                );
            }
        }
        S::RenameTable(renames) => {
            for rename in renames
                .iter()
                .filter(|r| !created.contains(&base_name(&r.old_name)))
            {
                report(
                    call,
                    "renaming-table",
                    format!(
                        "renames table {} to {}: code using the old name breaks as soon as this commits",
                        rename.old_name, rename.new_name
                    ),
                    RENAME_HELP,
                );
            }
        }
        S::AlterTable(alter) => {
            if created.contains(&base_name(&alter.name)) {
                return;
            }
            let table = &alter.name;
            let algorithm = alter.operations.iter().find_map(|op| match op {
                AlterTableOperation::Algorithm { algorithm, .. } => Some(algorithm),
                _ => None,
            });
            let guarded = matches!(
                algorithm,
                Some(AlterTableAlgorithm::Inplace | AlterTableAlgorithm::Instant)
            );
            let adds_primary_key = alter.operations.iter().any(|op| {
                matches!(
                    op,
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::PrimaryKey(_),
                        ..
                    }
                )
            });
            if dialect == Dialect::Mysql && algorithm == Some(&AlterTableAlgorithm::Copy) {
                report(
                    call,
                    "mysql-table-copy",
                    format!(
                        "ALTER TABLE {table} asks for ALGORITHM=COPY: the table is rebuilt row by row and writes to it wait until the copy is done"
                    ),
                    "drop ALGORITHM=COPY and ask for ALGORITHM=INPLACE, LOCK=NONE (or INSTANT); if the server refuses, the change needs an online schema change tool (gh-ost, pt-online-schema-change)",
                );
            }
            for op in &alter.operations {
                match op {
                    AlterTableOperation::DropColumn { column_names, .. } => {
                        for column in column_names {
                            report(
                                call,
                                "ban-drop-column",
                                format!(
                                    "drops column {table}.{column}: code still reading or writing it fails as soon as this commits"
                                ),
                                DROP_HELP,
                            );
                        }
                    }
                    AlterTableOperation::RenameColumn {
                        old_column_name,
                        new_column_name,
                    } => report(
                        call,
                        "renaming-column",
                        format!(
                            "renames column {table}.{old_column_name} to {new_column_name}: code using the old name breaks as soon as this commits"
                        ),
                        RENAME_HELP,
                    ),
                    AlterTableOperation::RenameTable { table_name } => report(
                        call,
                        "renaming-table",
                        format!(
                            "renames table {table} to {table_name}: code using the old name breaks as soon as this commits"
                        ),
                        RENAME_HELP,
                    ),
                    AlterTableOperation::ChangeColumn {
                        old_name, new_name, ..
                    } if dialect == Dialect::Mysql => {
                        if old_name.value.to_lowercase() != new_name.value.to_lowercase() {
                            report(
                                call,
                                "renaming-column",
                                format!(
                                    "renames column {table}.{old_name} to {new_name}: code using the old name breaks as soon as this commits"
                                ),
                                RENAME_HELP,
                            );
                        }
                        if !guarded {
                            column_change(table, old_name, call, report);
                        }
                    }
                    AlterTableOperation::ModifyColumn { col_name, .. }
                        if dialect == Dialect::Mysql && !guarded =>
                    {
                        column_change(table, col_name, call, report);
                    }
                    AlterTableOperation::DropPrimaryKey { .. }
                        if dialect == Dialect::Mysql && !guarded && !adds_primary_key =>
                    {
                        report(
                            call,
                            "mysql-table-copy",
                            format!(
                                "ALTER TABLE {table} drops the primary key without adding one: only ALGORITHM=COPY can do that, and writes to the table wait until the copy is done"
                            ),
                            "drop and add the primary key in the same ALTER TABLE, with ALGORITHM=INPLACE, LOCK=NONE",
                        );
                    }
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::ForeignKey(_),
                        ..
                    } if dialect == Dialect::Mysql && !guarded => report(
                        call,
                        "mysql-table-copy",
                        format!(
                            "ALTER TABLE {table} adds a foreign key: with foreign_key_checks on, only ALGORITHM=COPY can, and writes to the table wait until the copy is done"
                        ),
                        "add it with ALGORITHM=INPLACE, LOCK=NONE after SET foreign_key_checks = 0 (the existing rows are then not checked: check them first), or with an online schema change tool",
                    ),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn column_change(
    table: &sqlparser::ast::ObjectName,
    column: &sqlparser::ast::Ident,
    call: usize,
    report: &mut impl FnMut(usize, &str, String, &str),
) {
    report(
        call,
        "mysql-column-change",
        format!(
            "redefines column {table}.{column}: when the type changes, MySQL/MariaDB rebuild the table with ALGORITHM=COPY, and writes to it wait until the copy is done"
        ),
        "add `, ALGORITHM=INPLACE, LOCK=NONE` to the ALTER TABLE: the server then refuses a change it cannot make online instead of copying, and you find out before production does",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(dialect: Dialect, sql: &[&str], transactional: bool, pg: u32) -> Vec<(usize, String)> {
        let statements: Vec<Statement> = sql.iter().map(|s| Statement::new((*s).into())).collect();
        check(dialect, &statements, transactional, pg)
            .into_iter()
            .map(|r| (r.statement, r.rule))
            .collect()
    }

    fn has(found: &[(usize, String)], at: usize, rule: &str) -> bool {
        found.iter().any(|(i, r)| *i == at && r == rule)
    }

    #[test]
    fn drops_and_renames_of_existing_tables_only() {
        for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
            let f = found(
                dialect,
                &[
                    "CREATE TABLE scratch (id int)",
                    "DROP TABLE scratch",
                    "DROP TABLE old_things",
                    "ALTER TABLE t DROP COLUMN c",
                    "ALTER TABLE t RENAME COLUMN a TO b",
                    "ALTER TABLE t RENAME TO u",
                ],
                true,
                15,
            );
            assert!(!f.iter().any(|(i, _)| *i == 1), "{dialect}: {f:?}");
            assert!(has(&f, 2, "ban-drop-table"), "{dialect}: {f:?}");
            assert!(has(&f, 3, "ban-drop-column"), "{dialect}: {f:?}");
            assert!(has(&f, 4, "renaming-column"), "{dialect}: {f:?}");
            assert!(has(&f, 5, "renaming-table"), "{dialect}: {f:?}");
        }
    }

    #[test]
    fn mysql_copies_unless_told_inplace() {
        let f = found(
            Dialect::Mysql,
            &[
                "ALTER TABLE t MODIFY COLUMN a BIGINT",
                "ALTER TABLE t MODIFY COLUMN a BIGINT, ALGORITHM=INPLACE, LOCK=NONE",
                "ALTER TABLE t ADD COLUMN b INT, ALGORITHM=COPY",
                "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)",
                "ALTER TABLE t DROP PRIMARY KEY",
                "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)",
            ],
            true,
            15,
        );
        assert!(has(&f, 0, "mysql-column-change"), "{f:?}");
        assert!(!f.iter().any(|(i, _)| *i == 1), "{f:?}");
        assert!(has(&f, 2, "mysql-table-copy"), "{f:?}");
        assert!(has(&f, 3, "mysql-table-copy"), "{f:?}");
        assert!(has(&f, 4, "mysql-table-copy"), "{f:?}");
        assert!(!f.iter().any(|(i, _)| *i == 5), "{f:?}");
    }

    #[test]
    fn postgres_rewrites_and_old_enums() {
        let f = found(
            Dialect::Postgres,
            &[
                "VACUUM (FULL, ANALYZE) t",
                "CLUSTER t USING t_pkey",
                "VACUUM ANALYZE t",
                "ALTER TYPE mood ADD VALUE 'meh'",
            ],
            true,
            11,
        );
        assert!(has(&f, 0, "vacuum-full-or-cluster"), "{f:?}");
        assert!(has(&f, 1, "vacuum-full-or-cluster"), "{f:?}");
        assert!(!f.iter().any(|(i, _)| *i == 2), "{f:?}");
        assert!(has(&f, 3, "enum-value-in-transaction"), "{f:?}");
        let f = found(
            Dialect::Postgres,
            &["ALTER TYPE mood ADD VALUE 'meh'"],
            true,
            12,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn mixing_outside_a_transaction_and_ddl_with_dml_on_mysql() {
        let f = found(
            Dialect::Postgres,
            &["CREATE INDEX CONCURRENTLY a ON t (a); CREATE INDEX CONCURRENTLY b ON t (b)"],
            false,
            15,
        );
        assert!(has(&f, 0, "non-transactional-mixed"), "{f:?}");
        assert!(
            found(
                Dialect::Postgres,
                &["CREATE INDEX CONCURRENTLY a ON t (a);"],
                false,
                15
            )
            .is_empty()
        );
        let f = found(
            Dialect::Mysql,
            &["CREATE TABLE n (id INT)", "INSERT INTO n VALUES (1)"],
            true,
            15,
        );
        assert!(has(&f, 1, "mysql-mixed-ddl-dml"), "{f:?}");
    }
}
