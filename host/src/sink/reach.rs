//! What a connection's role can reach outside its database, and the role
//! that could not.
//!
//! A PostgreSQL superuser or a MySQL root session cannot be confined from
//! inside it: whatever the host parses, such a role can write server
//! files, run programs or create users through some spelling the parser
//! never saw. So before third-party revisions run, the host asks the server
//! what the session's role may do and refuses one that reaches further
//! than its own schema (or database), printing the SQL that creates a role
//! that does not.

use super::Sink;
use crate::dialect::Dialect;
use crate::value::{DbError, Value};

/// PostgreSQL: one row per way out, each a sentence.
const POSTGRES_REACH: &str = "\
SELECT 'is a superuser' FROM pg_roles WHERE rolname = current_user AND rolsuper
UNION ALL SELECT 'can create and alter roles (CREATEROLE)' FROM pg_roles WHERE rolname = current_user AND rolcreaterole
UNION ALL SELECT 'can create databases (CREATEDB)' FROM pg_roles WHERE rolname = current_user AND rolcreatedb
UNION ALL SELECT 'can replicate the whole server (REPLICATION)' FROM pg_roles WHERE rolname = current_user AND rolreplication
UNION ALL SELECT 'bypasses row-level security (BYPASSRLS)' FROM pg_roles WHERE rolname = current_user AND rolbypassrls
UNION ALL SELECT 'is a member of ' || rolname || ' (' || CASE rolname
    WHEN 'pg_execute_server_program' THEN 'runs programs on the server'
    WHEN 'pg_read_server_files' THEN 'reads files on the server'
    WHEN 'pg_write_server_files' THEN 'writes files on the server'
    WHEN 'pg_signal_backend' THEN 'stops other sessions'
    ELSE 'reads or writes every table of the database' END || ')'
  FROM pg_roles
  WHERE rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files',
                    'pg_signal_backend', 'pg_read_all_data', 'pg_write_all_data')
    AND pg_has_role(current_user, oid, 'MEMBER')
UNION ALL SELECT 'is a member of ' || rolname || ', which has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS'
  FROM pg_roles
  WHERE rolname <> current_user AND pg_has_role(current_user, oid, 'MEMBER')
    AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)
UNION ALL SELECT 'owns schema ' || quote_ident(nspname) || ', which is not one the migrations use'
  FROM pg_namespace
  WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
    AND nspname NOT IN (OWN_SCHEMAS) AND nspname !~ '^pg_(toast_)?temp_'
    AND nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
UNION ALL SELECT 'can use the ' || extname || ' extension (it reaches other databases or files)'
  FROM pg_extension WHERE extname IN ('dblink', 'postgres_fdw', 'file_fdw', 'adminpack')
UNION ALL SELECT 'can use foreign server ' || quote_ident(srvname)
  FROM pg_foreign_server WHERE has_server_privilege(oid, 'USAGE')
UNION ALL SELECT 'reads string literals differently (standard_conforming_strings is off)'
  WHERE current_setting('standard_conforming_strings') <> 'on'";

impl Sink {
    /// Every way the connection's role reaches outside its schema (or
    /// database), as sentences; empty for a confined role, and for SQLite,
    /// whose authorizer confines the connection itself.
    ///
    /// `own` are the schemas the migrations use (the host's and each
    /// source's): a confined role may own those.
    pub async fn outside_reach(&mut self, own: &[String]) -> Result<Vec<String>, DbError> {
        let schema = self.host_schema().unwrap_or("public").to_string();
        match self.dialect() {
            Dialect::Sqlite => Ok(Vec::new()),
            Dialect::Postgres => {
                let list: Vec<String> = std::iter::once(&schema)
                    .chain(own)
                    .map(|s| format!("'{}'", s.replace('\'', "''")))
                    .collect();
                let sql = POSTGRES_REACH.replace("OWN_SCHEMAS", &list.join(", "));
                let rows = self.host_query(&sql, &[]).await?;
                Ok(rows.values.iter().filter_map(|r| text(r.first())).collect())
            }
            Dialect::Mysql => {
                let grants = self.host_query("SHOW GRANTS", &[]).await?;
                let mut found: Vec<String> = grants
                    .values
                    .iter()
                    .filter_map(|r| text(r.first()))
                    .flat_map(|grant| {
                        let option = grant
                            .to_ascii_uppercase()
                            .contains("WITH GRANT OPTION")
                            .then(|| {
                                "can grant its privileges to others (WITH GRANT OPTION)".to_string()
                            });
                        mysql_grant_reach(&grant, &schema).into_iter().chain(option)
                    })
                    .collect();
                found.dedup();
                let mode = self.host_query("SELECT @@SESSION.sql_mode", &[]).await?;
                let mode = mode
                    .values
                    .first()
                    .and_then(|r| text(r.first()))
                    .unwrap_or_default();
                for flag in ["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"] {
                    if mode.split(',').any(|m| m.eq_ignore_ascii_case(flag)) {
                        found.push(format!(
                            "reads SQL differently from Retort's checks (sql_mode has {flag})"
                        ));
                    }
                }
                Ok(found)
            }
        }
    }

    /// The SQL (to run once, as an administrator) that creates a role for
    /// this database that owns its schema (PostgreSQL) or database (MySQL)
    /// and nothing else.
    pub async fn least_privilege_sql(&mut self, own: &[String]) -> String {
        let schema = self.host_schema().unwrap_or("public").to_string();
        let database = match self.dialect() {
            Dialect::Postgres => self
                .host_query("SELECT current_database()::text", &[])
                .await
                .ok()
                .and_then(|rows| rows.values.first().and_then(|r| text(r.first())))
                .unwrap_or_else(|| "DATABASE".into()),
            _ => schema.clone(),
        };
        // Each source's schema belongs to the role too.
        let others: Vec<String> = own.iter().filter(|s| **s != schema).cloned().collect();
        least_privilege_sql(self.dialect(), &database, &schema, &others)
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Text(t) => Some(t.clone()),
        Value::Blob(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// What one line of MySQL's `SHOW GRANTS` lets the session reach outside
/// `database`, if anything.
fn mysql_grant_reach(grant: &str, database: &str) -> Option<String> {
    let upper = grant.to_ascii_uppercase();
    let rest = upper.strip_prefix("GRANT ")?;
    let Some(on) = rest.find(" ON ") else {
        // `GRANT role TO user`: what the role can do is not visible here.
        return Some(format!("has a role whose reach is not checked: {grant}"));
    };
    let privileges = rest[..on].trim();
    if privileges.starts_with("PROXY") {
        return Some(format!("can act as another user: {grant}"));
    }
    let after_on = &grant[grant.len() - rest.len() + on + 4..];
    let object = after_on
        .split(" TO ")
        .next()
        .unwrap_or("")
        .trim()
        .trim_start_matches("FUNCTION ")
        .trim_start_matches("PROCEDURE ");
    if object == "*.*" {
        return (privileges != "USAGE")
            .then(|| format!("has privileges on every database ({privileges})"));
    }
    let db = object.split('.').next().unwrap_or("");
    // In a grant, `_` and `%` are wildcards unless escaped with `\`.
    let mut name = String::new();
    let mut pattern = false;
    let mut chars = db
        .trim_matches('`')
        .replace("``", "`")
        .chars()
        .collect::<Vec<_>>()
        .into_iter();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            '_' | '%' => {
                pattern = true;
                name.push(c);
            }
            c => name.push(c),
        }
    }
    if pattern {
        Some(format!(
            "has privileges on every database matching {db} ({privileges}); escape _ and % in the grant"
        ))
    } else if name == database {
        None
    } else {
        Some(format!("has privileges on database {db} ({privileges})"))
    }
}

/// The least-privilege role's SQL for `dialect`, owning `schema` (the
/// PostgreSQL schema of `database`, or the MySQL database) and, on
/// PostgreSQL, the `others` schemas (the sources').
pub fn least_privilege_sql(
    dialect: Dialect,
    database: &str,
    schema: &str,
    others: &[String],
) -> String {
    let name = if dialect == Dialect::Postgres && schema != "public" && schema != database {
        format!("retort_{database}_{schema}")
    } else {
        format!("retort_{database}")
    };
    let role_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let ident = dialect.quote_ident(schema);
    // MySQL grants read `_` and `%` in a database name as wildcards.
    let grant_db = dialect.quote_ident(&schema.replace('_', "\\_").replace('%', "\\%"));
    let role = dialect.quote_ident(&role_name);
    let db = dialect.quote_ident(database);
    let others: String = others
        .iter()
        .map(|s| {
            let q = dialect.quote_ident(s);
            format!("CREATE SCHEMA IF NOT EXISTS {q};\nALTER SCHEMA {q} OWNER TO {role};\n")
        })
        .collect();
    match dialect {
        Dialect::Postgres => format!(
            "-- As an administrator, once (on the database the migrations run on):\n\
             CREATE ROLE {role} LOGIN PASSWORD 'choose-a-password';\n\
             CREATE SCHEMA IF NOT EXISTS {ident};\n\
             ALTER SCHEMA {ident} OWNER TO {role};\n\
             -- objects already in it: ALTER TABLE … OWNER TO {role}; (or REASSIGN OWNED BY the old owner)\n\
             {others}\
             GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role};\n\
             -- Then migrate as that role: database_url = \"postgres://{role_name}:…@host/{database}\", schema = \"{schema}\"\n\
             -- It must not be a superuser or a member of one, nor have CREATEROLE, CREATEDB,\n\
             -- REPLICATION, BYPASSRLS, pg_read_server_files, pg_write_server_files or\n\
             -- pg_execute_server_program; dblink and postgres_fdw must not be installed.\n"
        ),
        Dialect::Mysql => format!(
            "-- As an administrator, once:\n\
             CREATE USER '{role_name}'@'%' IDENTIFIED BY 'choose-a-password';\n\
             GRANT ALL PRIVILEGES ON {grant_db}.* TO '{role_name}'@'%';\n\
             -- Then migrate as that user: database_url = \"mysql://{role_name}:…@host/{schema}\"\n\
             -- It must have no global privileges (FILE, SUPER, CREATE USER, …), no grant\n\
             -- option and no privileges on any other database.\n"
        ),
        Dialect::Sqlite => {
            "-- SQLite needs no role: Retort's authorizer confines the connection itself.\n"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_grants_are_read() {
        let db = "app";
        assert_eq!(mysql_grant_reach("GRANT USAGE ON *.* TO `u`@`%`", db), None);
        assert_eq!(
            mysql_grant_reach("GRANT ALL PRIVILEGES ON `app`.* TO `u`@`%`", db),
            None
        );
        assert!(
            mysql_grant_reach("GRANT ALL PRIVILEGES ON `my_app`.* TO `u`@`%`", "my_app").is_some()
        );
        assert_eq!(
            mysql_grant_reach("GRANT SELECT, INSERT ON `app`.`t` TO `u`@`%`", db),
            None
        );
        for grant in [
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`",
            "GRANT FILE ON *.* TO `u`@`%`",
            "GRANT SELECT ON `other`.* TO `u`@`%`",
            "GRANT SELECT ON `ap%`.* TO `u`@`%`",
            "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
            "GRANT `admin` TO `u`@`%`",
        ] {
            assert!(mysql_grant_reach(grant, db).is_some(), "{grant}");
        }
        assert_eq!(
            mysql_grant_reach("GRANT SELECT ON `my\\_app`.* TO `u`@`%`", "my_app"),
            None
        );
    }

    #[test]
    fn the_role_sql_names_the_schema() {
        let sql = least_privilege_sql(Dialect::Postgres, "app", "billing", &["audit".into()]);
        assert!(
            sql.contains("CREATE ROLE \"retort_app_billing\" LOGIN"),
            "{sql}"
        );
        assert!(
            sql.contains("ALTER SCHEMA \"billing\" OWNER TO \"retort_app_billing\""),
            "{sql}"
        );
        assert!(sql.contains("ON DATABASE \"app\" TO"), "{sql}");
        assert!(
            sql.contains("ALTER SCHEMA \"audit\" OWNER TO \"retort_app_billing\";\nGRANT CONNECT"),
            "{sql}"
        );
        let sql = least_privilege_sql(Dialect::Mysql, "shop-1", "shop-1", &[]);
        assert!(
            sql.contains("GRANT ALL PRIVILEGES ON `shop-1`.* TO 'retort_shop_1'@'%'"),
            "{sql}"
        );
        let sql = least_privilege_sql(Dialect::Mysql, "my_app", "my_app", &[]);
        assert!(sql.contains("ON `my\\_app`.* TO"), "{sql}");
    }
}
