//! The database's own limits around a revision: how long a statement waits
//! for a lock, and how long one may run on the server. What each database
//! calls them, and where they live: PostgreSQL scopes them to the
//! revision's transaction (`SET LOCAL`, gone when it ends) or, for a
//! revision outside one, to the session until reset; MySQL/MariaDB and
//! SQLite keep them for the session, and the host restores them when the
//! run ends.

use std::time::Duration;

use super::Dialect;

/// The limits one revision runs under (`None`: the host sets none, and the
/// server's own setting applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// How long a statement waits for a lock.
    pub lock: Option<Duration>,
    /// How long a statement may run.
    pub statement: Option<Duration>,
}

/// Which server a MySQL-dialect connection talks to: they name the
/// statement limit differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// MySQL: `max_execution_time`, milliseconds, SELECTs only.
    Mysql,
    /// MariaDB: `max_statement_time`, seconds, every statement.
    Mariadb,
    /// Not known (an offline script, or another dialect): a MySQL script
    /// sets no statement limit, since each server refuses the other's name.
    Unknown,
}

/// SQLite's busy timeout as the host connects with it (sqlx's default),
/// which the run restores.
const SQLITE_CONNECTED_BUSY_MS: u128 = 5000;

impl Timeouts {
    /// Whether there is anything to set.
    pub fn is_empty(&self) -> bool {
        self.lock.is_none() && self.statement.is_none()
    }
}

impl Dialect {
    /// Whether timeouts set inside a transaction end with it (PostgreSQL's
    /// `SET LOCAL`); elsewhere they are the session's until changed.
    pub fn scopes_timeouts_to_transactions(self) -> bool {
        self == Dialect::Postgres
    }

    /// The statement that sets `timeouts` for the open transaction only
    /// (PostgreSQL); `None` when there is nothing to set or the database
    /// cannot scope them so.
    pub fn transaction_timeouts(self, timeouts: &Timeouts) -> Option<String> {
        (self == Dialect::Postgres && !timeouts.is_empty())
            .then(|| postgres_settings("SET LOCAL", timeouts))
    }

    /// The statement that sets `timeouts` for the session; `None` when
    /// there is nothing this database can set.
    pub fn session_timeouts(self, timeouts: &Timeouts, server: Server) -> Option<String> {
        match self {
            Dialect::Postgres if !timeouts.is_empty() => {
                Some(postgres_settings("SET SESSION", timeouts))
            }
            Dialect::Postgres => None,
            Dialect::Mysql => {
                let settings: Vec<String> = mysql_variables(timeouts, server)
                    .into_iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect();
                (!settings.is_empty()).then(|| format!("SET SESSION {}", settings.join(", ")))
            }
            Dialect::Sqlite => timeouts
                .lock
                .map(|lock| format!("PRAGMA busy_timeout = {}", lock.as_millis().max(1))),
        }
    }

    /// The statement that returns the session to its settings from before
    /// [`Dialect::session_timeouts`] set `timeouts`.
    pub fn reset_session_timeouts(self, timeouts: &Timeouts, server: Server) -> Option<String> {
        match self {
            Dialect::Postgres => {
                let resets: Vec<String> = postgres_variables(timeouts)
                    .into_iter()
                    .map(|(name, _)| format!("RESET {name}"))
                    .collect();
                (!resets.is_empty()).then(|| resets.join("; "))
            }
            Dialect::Mysql => {
                let settings: Vec<String> = mysql_variables(timeouts, server)
                    .into_iter()
                    .map(|(name, _)| format!("{name} = DEFAULT"))
                    .collect();
                (!settings.is_empty()).then(|| format!("SET SESSION {}", settings.join(", ")))
            }
            Dialect::Sqlite => timeouts
                .lock
                .map(|_| format!("PRAGMA busy_timeout = {SQLITE_CONNECTED_BUSY_MS}")),
        }
    }
}

/// PostgreSQL's settings for `timeouts`, with their values.
fn postgres_variables(timeouts: &Timeouts) -> Vec<(&'static str, String)> {
    let ms = |d: Duration| format!("'{}ms'", d.as_millis().max(1));
    let mut out = Vec::new();
    if let Some(lock) = timeouts.lock {
        out.push(("lock_timeout", ms(lock)));
    }
    if let Some(limit) = timeouts.statement {
        out.push(("statement_timeout", ms(limit)));
    }
    out
}

/// MySQL's or MariaDB's session variables for `timeouts`, with their values.
fn mysql_variables(timeouts: &Timeouts, server: Server) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(lock) = timeouts.lock {
        // Whole seconds, at least one: what both servers accept.
        let secs = (lock.as_secs_f64().ceil().max(1.0) as u64).to_string();
        out.push(("lock_wait_timeout", secs.clone()));
        out.push(("innodb_lock_wait_timeout", secs));
    }
    match (timeouts.statement, server) {
        (Some(limit), Server::Mysql) => {
            out.push(("max_execution_time", limit.as_millis().max(1).to_string()))
        }
        (Some(limit), Server::Mariadb) => out.push((
            "max_statement_time",
            limit.as_secs_f64().max(0.001).to_string(),
        )),
        _ => {}
    }
    out
}

fn postgres_settings(set: &str, timeouts: &Timeouts) -> String {
    postgres_variables(timeouts)
        .into_iter()
        .map(|(name, value)| format!("{set} {name} = {value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Timeouts = Timeouts {
        lock: Some(Duration::from_millis(1500)),
        statement: Some(Duration::from_secs(30)),
    };

    #[test]
    fn postgres_scopes_to_the_transaction_and_resets_the_session() {
        let d = Dialect::Postgres;
        assert_eq!(
            d.transaction_timeouts(&BOTH).unwrap(),
            "SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '30000ms'"
        );
        assert_eq!(
            d.session_timeouts(&BOTH, Server::Unknown).unwrap(),
            "SET SESSION lock_timeout = '1500ms'; SET SESSION statement_timeout = '30000ms'"
        );
        assert_eq!(
            d.reset_session_timeouts(&BOTH, Server::Unknown).unwrap(),
            "RESET lock_timeout; RESET statement_timeout"
        );
        assert_eq!(d.transaction_timeouts(&Timeouts::default()), None);
    }

    #[test]
    fn mysql_names_the_statement_limit_per_server() {
        let d = Dialect::Mysql;
        assert_eq!(
            d.session_timeouts(&BOTH, Server::Mariadb).unwrap(),
            "SET SESSION lock_wait_timeout = 2, innodb_lock_wait_timeout = 2, max_statement_time = 30"
        );
        assert_eq!(
            d.session_timeouts(&BOTH, Server::Mysql).unwrap(),
            "SET SESSION lock_wait_timeout = 2, innodb_lock_wait_timeout = 2, max_execution_time = 30000"
        );
        // Offline the server is not known: only what both accept.
        assert_eq!(
            d.session_timeouts(&BOTH, Server::Unknown).unwrap(),
            "SET SESSION lock_wait_timeout = 2, innodb_lock_wait_timeout = 2"
        );
        assert_eq!(
            d.reset_session_timeouts(&BOTH, Server::Mariadb).unwrap(),
            "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT, max_statement_time = DEFAULT"
        );
        assert_eq!(d.transaction_timeouts(&BOTH), None);
    }

    #[test]
    fn sqlite_has_a_busy_timeout_only() {
        let d = Dialect::Sqlite;
        assert_eq!(
            d.session_timeouts(&BOTH, Server::Unknown).unwrap(),
            "PRAGMA busy_timeout = 1500"
        );
        let statement_only = Timeouts { lock: None, ..BOTH };
        assert_eq!(d.session_timeouts(&statement_only, Server::Unknown), None);
        assert_eq!(
            d.reset_session_timeouts(&BOTH, Server::Unknown).unwrap(),
            "PRAGMA busy_timeout = 5000"
        );
    }
}
