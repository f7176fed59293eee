//! The built-in deny list: statements that reach outside the database
//! (server files and programs, other databases, roles, server settings,
//! native code), refused for every revision whatever its trust or policy.
//!
//! It reads text as the server will: code words, quoted names (a quoted
//! `"pg_read_file"` is the same function), literals that name a file, and
//! — because a function body, a `DO` block or an `EXECUTE 'string'` runs
//! SQL written inside a literal — the SQL inside dollar-quoted bodies and
//! inside the literals of statements that run dynamic SQL, to any depth.
//! MySQL executable comments are code (the lexer says so).
//!
//! This is defense in depth, not the wall: SQL assembled at run time
//! (`EXECUTE 'COPY ' || …`) is not text the host ever sees. The walls are
//! SQLite's authorizer and, on PostgreSQL and MySQL, a connection whose
//! role cannot reach outside its database (checked before a third-party
//! run). A first-party revision may be exempted from single rules
//! (`exempt` in its `[policy.revisions.<id>]`); a third-party one never is,
//! and a dry run never honours an exemption.

use super::guard::shorten;
use crate::dialect::Dialect;
use crate::dialect::scan::{self, Kind};

/// The rules, by name, with what each one keeps out.
pub const RULES: &[(&str, &str)] = &[
    (
        "server-files",
        "reads or writes files on the database server",
    ),
    ("server-program", "runs a program on the database server"),
    ("other-databases", "reaches another database"),
    ("roles", "creates, changes or assumes roles or users"),
    ("databases", "creates, alters or drops whole databases"),
    (
        "server-settings",
        "changes settings of the whole server or of other sessions",
    ),
    (
        "untrusted-code",
        "loads native code or an untrusted language",
    ),
];

/// A statement the deny list refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the built-in deny list refused {statement}: {what} {meaning} (rule `{rule}`)")]
pub struct Denied {
    /// The statement, shortened.
    pub statement: String,
    /// The rule's name (one of [`RULES`]).
    pub rule: &'static str,
    /// What in the statement matched (`pg_read_file`, `COPY … PROGRAM`).
    pub what: String,
    /// What the rule keeps out.
    pub meaning: &'static str,
}

/// The deny list with the rules a revision is exempted from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    exempt: Vec<&'static str>,
}

/// How deep bodies inside bodies are read before the statement is refused
/// as unreadable (a body nested this deep is not a migration).
const MAX_DEPTH: usize = 8;

impl DenyList {
    /// The whole list, exempting the named rules (`all` for every rule).
    pub fn exempting(names: &[String]) -> Result<DenyList, String> {
        let mut exempt = Vec::new();
        for name in names {
            let name = name.to_ascii_lowercase();
            if name == "all" {
                exempt.extend(RULES.iter().map(|(rule, _)| *rule));
            } else if let Some((rule, _)) = RULES.iter().find(|(rule, _)| *rule == name) {
                exempt.push(*rule);
            } else {
                let names: Vec<&str> = RULES.iter().map(|(rule, _)| *rule).collect();
                return Err(format!(
                    "policy exempt: unknown deny-list rule {name:?}; the rules are {} (or all)",
                    names.join(", ")
                ));
            }
        }
        Ok(DenyList { exempt })
    }

    /// Whether any rule is exempted.
    pub fn has_exemptions(&self) -> bool {
        !self.exempt.is_empty()
    }

    /// Checks a call's SQL (a statement or a script).
    pub fn check(&self, sql: &str, dialect: Dialect) -> Result<(), Denied> {
        let mut found = Vec::new();
        scan_text(sql, dialect, 0, &mut found);
        match found
            .into_iter()
            .find(|(rule, _)| !self.exempt.contains(rule))
        {
            None => Ok(()),
            Some((rule, what)) => Err(Denied {
                statement: shorten(sql),
                rule,
                what,
                meaning: RULES
                    .iter()
                    .find(|(name, _)| *name == rule)
                    .map_or("", |(_, meaning)| meaning),
            }),
        }
    }
}

/// A lexical item the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// An unquoted word, uppercase.
    Key(String),
    /// A quoted identifier's name, uppercase.
    Name(String),
    /// A string literal or dollar-quoted body.
    Literal(String),
    /// A `$N` parameter.
    Param,
}

impl Item {
    /// The word, quoted or not.
    fn name(&self) -> Option<&str> {
        match self {
            Item::Key(w) | Item::Name(w) => Some(w),
            _ => None,
        }
    }

    fn is(&self, key: &str) -> bool {
        matches!(self, Item::Key(w) if w == key)
    }
}

/// Reads `sql` statement by statement, and the SQL inside its bodies,
/// collecting what matches a rule.
fn scan_text(sql: &str, dialect: Dialect, depth: usize, found: &mut Vec<(&'static str, String)>) {
    if depth > MAX_DEPTH {
        found.push(("untrusted-code", "bodies nested too deep to read".into()));
        return;
    }
    let mut items = Vec::new();
    let mut inner: Vec<String> = Vec::new();
    let mut literals: Vec<String> = Vec::new();
    let flush = |items: &mut Vec<Item>,
                 inner: &mut Vec<String>,
                 literals: &mut Vec<String>,
                 found: &mut Vec<(&'static str, String)>| {
        match_rules(items, dialect, found);
        // Literals hold SQL the server will run only in statements that run
        // SQL from text (or inside a body, where any literal may): read them
        // as SQL there and nowhere else, so data that mentions a keyword is
        // not refused.
        if depth > 0 || runs_text(items) {
            inner.append(literals);
        }
        for body in inner.drain(..) {
            scan_text(&body, dialect, depth + 1, found);
        }
        items.clear();
        literals.clear();
    };
    for token in scan::tokens(sql, dialect) {
        match token.kind {
            Kind::Code => {
                items.extend(words(token.text).map(|w| Item::Key(w.to_ascii_uppercase())))
            }
            Kind::QuotedIdent => items.push(Item::Name(
                decoded(unquote(token.text)).to_ascii_uppercase(),
            )),
            Kind::Literal => {
                let text = decoded(unquote(token.text));
                literals.push(text.clone());
                items.push(Item::Literal(text));
            }
            Kind::DollarBody => {
                let body = scan::dollar_body(token.text);
                inner.push(body.to_string());
                items.push(Item::Literal(body.to_string()));
            }
            Kind::Param(_) => items.push(Item::Param),
            Kind::Semicolon => flush(&mut items, &mut inner, &mut literals, found),
            Kind::Comment => {}
        }
    }
    flush(&mut items, &mut inner, &mut literals, found);
}

/// Whether a statement runs SQL given as text: PL/pgSQL `EXECUTE`, MySQL
/// `PREPARE … FROM`, a function or procedure whose body is a literal.
fn runs_text(items: &[Item]) -> bool {
    items.first().is_some_and(|i| i.is("DO"))
        || items.iter().any(|i| {
            matches!(i, Item::Key(w) if matches!(w.as_str(),
                "EXECUTE" | "PREPARE" | "FUNCTION" | "PROCEDURE" | "TRIGGER" | "QUERY_TO_XML"
                    | "QUERY_TO_XMLSCHEMA" | "QUERY_TO_XML_AND_XMLSCHEMA"))
        })
}

fn words(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
}

/// A quoted token's content, its quotes (and an `E`/`U&` prefix's quote)
/// removed and doubled quotes undoubled.
fn unquote(text: &str) -> String {
    let Some(quote) = text.chars().next() else {
        return String::new();
    };
    let close = match quote {
        '[' => ']',
        q => q,
    };
    let inner = text
        .strip_prefix(quote)
        .map(|t| t.strip_suffix(close).unwrap_or(t))
        .unwrap_or(text);
    let doubled: String = [close, close].iter().collect();
    inner.replace(&doubled, &close.to_string())
}

/// Backslash and `U&` escapes decoded, where there are any.
fn decoded(text: String) -> String {
    if text.contains('\\') {
        super::guard::decode_escapes(&text, false)
    } else {
        text
    }
}

/// Functions that read or write the server's files (PostgreSQL).
const PG_FILE_FUNCTIONS: &[&str] = &[
    "PG_READ_FILE",
    "PG_READ_BINARY_FILE",
    "PG_LS_DIR",
    "PG_LS_LOGDIR",
    "PG_LS_WALDIR",
    "PG_LS_TMPDIR",
    "PG_LS_ARCHIVE_STATUSDIR",
    "PG_LS_LOGICALMAPDIR",
    "PG_LS_LOGICALSNAPDIR",
    "PG_LS_REPLSLOTDIR",
    "PG_STAT_FILE",
    "LO_IMPORT",
    "LO_EXPORT",
    "PG_FILE_WRITE",
    "PG_FILE_RENAME",
    "PG_FILE_UNLINK",
    "PG_FILE_SYNC",
    "PG_LOGDIR_LS",
];

/// Functions that act on the server or on other sessions (PostgreSQL).
const PG_SERVER_FUNCTIONS: &[&str] = &[
    "PG_TERMINATE_BACKEND",
    "PG_CANCEL_BACKEND",
    "PG_RELOAD_CONF",
    "PG_ROTATE_LOGFILE",
    "PG_PROMOTE",
    "PG_LOG_BACKEND_MEMORY_CONTEXTS",
    "PG_CREATE_RESTORE_POINT",
    "PG_SWITCH_WAL",
];

/// Extensions that reach files, other databases or native code.
const PG_OUTSIDE_EXTENSIONS: &[(&str, &str)] = &[
    ("DBLINK", "other-databases"),
    ("POSTGRES_FDW", "other-databases"),
    ("MYSQL_FDW", "other-databases"),
    ("ORACLE_FDW", "other-databases"),
    ("FILE_FDW", "server-files"),
    ("ADMINPACK", "server-files"),
    ("PLPYTHON3U", "untrusted-code"),
    ("PLPYTHONU", "untrusted-code"),
    ("PLPERLU", "untrusted-code"),
    ("PLTCLU", "untrusted-code"),
    ("PLSH", "untrusted-code"),
];

/// Collects what one statement's items match.
fn match_rules(items: &[Item], dialect: Dialect, found: &mut Vec<(&'static str, String)>) {
    let key = |i: usize| match items.get(i) {
        Some(Item::Key(w)) => w.as_str(),
        _ => "",
    };
    let mut hit = |rule: &'static str, what: String| found.push((rule, what));
    for (i, item) in items.iter().enumerate() {
        let name = item.name().unwrap_or("");
        let next = key(i + 1);
        match dialect {
            Dialect::Postgres => {
                if PG_FILE_FUNCTIONS.contains(&name) {
                    hit("server-files", name.to_ascii_lowercase());
                }
                if PG_SERVER_FUNCTIONS.contains(&name) {
                    hit("server-settings", name.to_ascii_lowercase());
                }
                if name.starts_with("DBLINK") {
                    hit("other-databases", name.to_ascii_lowercase());
                }
                if item.is("COPY") {
                    copy_rule(&items[i + 1..], &mut hit);
                }
                if item.is("ALTER") && next == "SYSTEM" {
                    hit("server-settings", "ALTER SYSTEM".into());
                }
                if item.is("LOAD") && matches!(items.get(i + 1), Some(Item::Literal(_))) {
                    hit("untrusted-code", "LOAD (a shared library)".into());
                }
                if item.is("CREATE") || item.is("ALTER") || item.is("DROP") {
                    let object = object_after(items, i + 1);
                    match object {
                        "ROLE" | "USER" | "GROUP" => hit("roles", format!("{} {object}", key(i))),
                        "DATABASE" => hit("databases", format!("{} DATABASE", key(i))),
                        "SERVER" => hit("other-databases", format!("{} SERVER", key(i))),
                        "LANGUAGE" => hit("untrusted-code", format!("{} LANGUAGE", key(i))),
                        _ => {}
                    }
                    if object == "EXTENSION" {
                        let extension = items[i + 1..]
                            .iter()
                            .skip_while(|w| {
                                w.is("EXTENSION") || w.is("IF") || w.is("NOT") || w.is("EXISTS")
                            })
                            .find_map(|w| match w {
                                Item::Literal(l) => Some(l.to_ascii_uppercase()),
                                other => other.name().map(str::to_string),
                            })
                            .unwrap_or_default();
                        if let Some((_, rule)) =
                            PG_OUTSIDE_EXTENSIONS.iter().find(|(e, _)| *e == extension)
                        {
                            hit(
                                rule,
                                format!("CREATE EXTENSION {}", extension.to_lowercase()),
                            );
                        }
                    }
                }
                if item.is("IMPORT") && next == "FOREIGN" {
                    hit("other-databases", "IMPORT FOREIGN SCHEMA".into());
                }
                if item.is("FOREIGN") && matches!(next, "DATA" | "TABLE") {
                    hit("other-databases", format!("FOREIGN {next}"));
                }
                if item.is("LANGUAGE") {
                    let language = match items.get(i + 1) {
                        Some(Item::Literal(l)) => l.to_ascii_uppercase(),
                        Some(other) => other.name().unwrap_or("").to_string(),
                        None => String::new(),
                    };
                    let untrusted = language == "C"
                        || language == "INTERNAL"
                        || PG_OUTSIDE_EXTENSIONS
                            .iter()
                            .any(|(e, rule)| *rule == "untrusted-code" && *e == language);
                    if untrusted {
                        hit(
                            "untrusted-code",
                            format!("LANGUAGE {}", language.to_lowercase()),
                        );
                    }
                }
                if item.is("SET") || item.is("RESET") {
                    let mut j = i + 1;
                    while matches!(key(j), "SESSION" | "LOCAL") && key(j + 1) != "AUTHORIZATION" {
                        j += 1;
                    }
                    if item.is("SET") && (key(j) == "ROLE" || key(j + 1) == "AUTHORIZATION") {
                        hit("roles", "SET ROLE / SESSION AUTHORIZATION".into());
                    }
                }
                if name == "SET_CONFIG"
                    && let Some(Item::Literal(setting)) = items.get(i + 1)
                    && matches!(
                        setting.to_ascii_lowercase().as_str(),
                        "role" | "session_authorization"
                    )
                {
                    hit("roles", format!("set_config('{setting}')"));
                }
            }
            Dialect::Mysql => {
                if (item.is("INTO") && matches!(next, "OUTFILE" | "DUMPFILE"))
                    || (item.is("LOAD") && matches!(next, "DATA" | "XML"))
                {
                    hit("server-files", format!("{} {next}", key(i)));
                }
                if name == "LOAD_FILE" {
                    hit("server-files", "LOAD_FILE".into());
                }
                if item.is("CREATE") || item.is("ALTER") || item.is("DROP") || item.is("RENAME") {
                    let object = object_after(items, i + 1);
                    match object {
                        "USER" | "ROLE" => hit("roles", format!("{} {object}", key(i))),
                        "DATABASE" | "SCHEMA" => hit("databases", format!("{} {object}", key(i))),
                        "SERVER" => hit("other-databases", format!("{} SERVER", key(i))),
                        _ => {}
                    }
                }
                if item.is("SET") && matches!(next, "ROLE" | "PASSWORD" | "DEFAULT") {
                    hit("roles", format!("SET {next}"));
                }
                if item.is("SET")
                    && items[i + 1..]
                        .iter()
                        .any(|w| w.is("GLOBAL") || w.is("PERSIST") || w.is("PERSIST_ONLY"))
                {
                    hit("server-settings", "SET GLOBAL".into());
                }
                if matches!(name, "SONAME" | "SYS_EXEC" | "SYS_EVAL")
                    || ((item.is("INSTALL") || item.is("UNINSTALL"))
                        && matches!(next, "PLUGIN" | "SONAME"))
                {
                    hit("untrusted-code", name.to_string());
                }
                if i == 0
                    && matches!(
                        name,
                        "SHUTDOWN" | "KILL" | "RESTART" | "FLUSH" | "PURGE" | "BINLOG"
                    )
                {
                    hit("server-settings", name.to_string());
                }
                if (item.is("CHANGE") && matches!(next, "MASTER" | "REPLICATION"))
                    || (item.is("RESET") && matches!(next, "MASTER" | "SLAVE" | "REPLICA"))
                {
                    hit("server-settings", format!("{} {next}", key(i)));
                }
            }
            Dialect::Sqlite => {
                if i == 0 && (item.is("ATTACH") || item.is("DETACH")) {
                    hit("server-files", format!("{name} (a database file)"));
                }
                if item.is("VACUUM") && items[i + 1..].iter().take(2).any(|w| w.is("INTO")) {
                    hit("server-files", "VACUUM INTO (a file)".into());
                }
                if name == "LOAD_EXTENSION" {
                    hit("untrusted-code", "load_extension".into());
                }
                if item.is("PRAGMA") {
                    let pragma = items[i + 1..]
                        .iter()
                        .take(2)
                        .filter_map(Item::name)
                        .find(|w| {
                            matches!(
                                *w,
                                "WRITABLE_SCHEMA"
                                    | "SCHEMA_VERSION"
                                    | "TRUSTED_SCHEMA"
                                    | "TEMP_STORE_DIRECTORY"
                                    | "DATA_STORE_DIRECTORY"
                            )
                        });
                    if let Some(pragma) = pragma {
                        hit(
                            "untrusted-code",
                            format!("PRAGMA {}", pragma.to_lowercase()),
                        );
                    }
                }
            }
        }
    }
}

/// The object word of `CREATE [OR REPLACE] [TEMP…] <object>`.
fn object_after(items: &[Item], from: usize) -> &str {
    items[from.min(items.len())..]
        .iter()
        .filter_map(|i| match i {
            Item::Key(w) => Some(w.as_str()),
            _ => None,
        })
        .find(|w| {
            !matches!(
                *w,
                "OR" | "REPLACE"
                    | "TEMP"
                    | "TEMPORARY"
                    | "TRUSTED"
                    | "PROCEDURAL"
                    | "IF"
                    | "NOT"
                    | "EXISTS"
                    | "DEFINER"
            )
        })
        .unwrap_or("")
}

/// `COPY … TO|FROM 'file'` and `COPY … PROGRAM`: what follows `COPY`.
fn copy_rule(rest: &[Item], hit: &mut impl FnMut(&'static str, String)) {
    for (j, item) in rest.iter().enumerate() {
        if item.is("PROGRAM") {
            hit("server-program", "COPY … PROGRAM".into());
            return;
        }
        if (item.is("TO") || item.is("FROM"))
            && matches!(rest.get(j + 1), Some(Item::Literal(_)) | Some(Item::Param))
        {
            hit("server-files", "COPY … TO/FROM a file".into());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sql: &str, dialect: Dialect) -> Option<&'static str> {
        DenyList::default()
            .check(sql, dialect)
            .err()
            .map(|d| d.rule)
    }

    #[test]
    fn postgres_escapes_are_refused() {
        for (sql, want) in [
            ("COPY t TO '/tmp/x'", "server-files"),
            ("copy t from '/etc/passwd'", "server-files"),
            ("COPY (SELECT 1) TO $$/tmp/x$$", "server-files"),
            ("COPY t FROM PROGRAM 'id > /tmp/x'", "server-program"),
            ("SELECT pg_read_file('/etc/passwd')", "server-files"),
            ("SELECT \"pg_read_file\"('/etc/passwd')", "server-files"),
            ("SELECT pg_catalog.pg_ls_dir('.')", "server-files"),
            ("SELECT lo_import('/etc/hostname')", "server-files"),
            ("SELECT lo_export(1, '/tmp/x')", "server-files"),
            (
                "SELECT U&\"pg\\005fread_file\"('/etc/passwd')",
                "server-files",
            ),
            (
                "SELECT dblink_exec('dbname=postgres', 'DROP TABLE t')",
                "other-databases",
            ),
            ("ALTER SYSTEM SET work_mem = '1GB'", "server-settings"),
            ("CREATE ROLE eve SUPERUSER LOGIN", "roles"),
            ("create user eve", "roles"),
            ("ALTER ROLE app SUPERUSER", "roles"),
            ("SET ROLE postgres", "roles"),
            ("SET SESSION AUTHORIZATION postgres", "roles"),
            ("SELECT set_config('role', 'postgres', false)", "roles"),
            ("CREATE DATABASE other", "databases"),
            ("DROP DATABASE IF EXISTS other", "databases"),
            ("CREATE EXTENSION dblink", "other-databases"),
            (
                "CREATE EXTENSION IF NOT EXISTS \"postgres_fdw\"",
                "other-databases",
            ),
            ("SELECT pg_terminate_backend(1)", "server-settings"),
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE c AS '/lib/x.so', 'f'",
                "untrusted-code",
            ),
            (
                "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COPY t TO '/tmp/x'; END $$",
                "server-files",
            ),
            (
                "DO $$ BEGIN EXECUTE 'CREATE ROLE eve SUPERUSER'; END $$",
                "roles",
            ),
            (
                "DO $outer$ BEGIN EXECUTE $in$ SELECT pg_read_file('/etc/passwd') $in$; END $outer$",
                "server-files",
            ),
            (
                "CREATE FUNCTION f() RETURNS int AS 'SELECT pg_read_file(''/x'')::int' LANGUAGE sql",
                "server-files",
            ),
            ("DO E'BEGIN EXECUTE \\'CREATE ROLE x\\'; END'", "roles"),
        ] {
            assert_eq!(rule(sql, Dialect::Postgres), Some(want), "{sql}");
        }
    }

    #[test]
    fn mysql_escapes_are_refused() {
        for (sql, want) in [
            ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "server-files"),
            ("SELECT 1 INTO DUMPFILE '/tmp/x'", "server-files"),
            ("SELECT LOAD_FILE('/etc/hostname')", "server-files"),
            (
                "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
                "server-files",
            ),
            (
                "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t",
                "server-files",
            ),
            ("CREATE USER eve IDENTIFIED BY 'x'", "roles"),
            ("DROP USER IF EXISTS eve", "roles"),
            ("CREATE DATABASE other", "databases"),
            ("CREATE SCHEMA other", "databases"),
            ("SET GLOBAL general_log = 1", "server-settings"),
            ("SET @@global.general_log = 1", "server-settings"),
            ("/*!50001 CREATE USER eve */", "roles"),
            (
                "/*M!100100 SELECT LOAD_FILE('/etc/hostname') */",
                "server-files",
            ),
            ("SHUTDOWN", "server-settings"),
            ("INSTALL SONAME 'ha_x'", "untrusted-code"),
            (
                "CREATE PROCEDURE p() BEGIN SELECT 1 INTO OUTFILE '/tmp/x'; END",
                "server-files",
            ),
            ("PREPARE s FROM 'CREATE USER eve'", "roles"),
        ] {
            assert_eq!(rule(sql, Dialect::Mysql), Some(want), "{sql}");
        }
    }

    #[test]
    fn sqlite_escapes_are_refused() {
        for (sql, want) in [
            ("ATTACH DATABASE '/tmp/x.db' AS x", "server-files"),
            ("attach '/tmp/x.db' as x", "server-files"),
            ("VACUUM INTO '/tmp/x.db'", "server-files"),
            ("VACUUM main INTO '/tmp/x.db'", "server-files"),
            ("SELECT load_extension('/tmp/x.so')", "untrusted-code"),
            ("PRAGMA writable_schema = ON", "untrusted-code"),
            ("PRAGMA main.writable_schema = 1", "untrusted-code"),
        ] {
            assert_eq!(rule(sql, Dialect::Sqlite), Some(want), "{sql}");
        }
    }

    #[test]
    fn ordinary_migrations_pass() {
        for (sql, dialect) in [
            (
                "CREATE TABLE users (id INT, role TEXT, \"user\" TEXT)",
                Dialect::Postgres,
            ),
            (
                "INSERT INTO perms (name) VALUES ('create user'), ('drop database')",
                Dialect::Postgres,
            ),
            (
                "INSERT INTO notes VALUES ('COPY t TO ''/tmp/x''')",
                Dialect::Postgres,
            ),
            ("COPY t FROM STDIN", Dialect::Postgres),
            (
                "INSERT INTO perms VALUES ('create user') ON CONFLICT DO NOTHING",
                Dialect::Postgres,
            ),
            ("CREATE EXTENSION IF NOT EXISTS pgcrypto", Dialect::Postgres),
            ("CREATE SCHEMA billing", Dialect::Postgres),
            ("ALTER TABLE users ADD COLUMN role TEXT", Dialect::Postgres),
            ("DROP TABLE users", Dialect::Postgres),
            (
                "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.role := 'user'; RETURN NEW; END $$",
                Dialect::Postgres,
            ),
            ("RESET ROLE", Dialect::Postgres),
            ("SET LOCAL lock_timeout = '5s'", Dialect::Postgres),
            ("SET @x = 'global'", Dialect::Mysql),
            ("SET SESSION foreign_key_checks = 0", Dialect::Mysql),
            ("/*!40101 SET NAMES utf8 */", Dialect::Mysql),
            ("CREATE TABLE t (id INT) ENGINE=InnoDB", Dialect::Mysql),
            ("VACUUM", Dialect::Sqlite),
            ("PRAGMA foreign_keys = ON", Dialect::Sqlite),
            ("CREATE TABLE attachments (id INTEGER)", Dialect::Sqlite),
        ] {
            assert_eq!(rule(sql, dialect), None, "{sql}");
        }
    }

    #[test]
    fn exemptions_lift_single_rules() {
        let exempt = DenyList::exempting(&["roles".into()]).unwrap();
        assert!(
            exempt
                .check("CREATE ROLE app_reader", Dialect::Postgres)
                .is_ok()
        );
        assert!(
            exempt
                .check("COPY t TO '/tmp/x'", Dialect::Postgres)
                .is_err()
        );
        let all = DenyList::exempting(&["all".into()]).unwrap();
        assert!(all.check("COPY t TO '/tmp/x'", Dialect::Postgres).is_ok());
        let err = DenyList::exempting(&["everything".into()]).unwrap_err();
        assert!(
            err.contains("unknown deny-list rule \"everything\""),
            "{err}"
        );
        let denied = DenyList::default()
            .check("SELECT pg_read_file('/etc/passwd')", Dialect::Postgres)
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "the built-in deny list refused `SELECT pg_read_file('/etc/passwd')`: pg_read_file reads or writes files on the database server (rule `server-files`)"
        );
    }
}
