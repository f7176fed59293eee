//! Budgets a revision runs within: CPU (time spent running guest code, not
//! waiting on the database), wall-clock time (guest and database time
//! together), linear memory, table elements, log output and SQL text; and
//! the database's own limits around it: how long a statement waits for a
//! lock (and how often the revision is retried when one is not granted),
//! and how long one statement may run on the server. Configured under
//! `[limits]` in retort.toml, and per revision under `[limits.revisions.<id>]`.

use std::time::Duration;

use serde::Deserialize;

/// Budgets as written in retort.toml; unset fields fall back to the defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// CPU budget in seconds of guest execution (database waits excluded).
    pub cpu_secs: Option<f64>,
    /// Wall-clock budget in seconds, database time included.
    pub timeout_secs: Option<f64>,
    /// Linear memory budget in MiB.
    pub memory_mb: Option<u64>,
    /// Table elements budget.
    pub table_elements: Option<u32>,
    /// Log output budget in KiB (messages and stderr together).
    pub log_kb: Option<u64>,
    /// Largest SQL text of one call, parameters included, in KiB.
    pub statement_kb: Option<u64>,
    /// SQL text and parameters of all of a revision's calls together, in
    /// MiB: what an offline script may grow by per revision.
    pub sql_mb: Option<u64>,
    /// Largest result of one `query`, in MiB (never more than `memory_mb`:
    /// the host holds the rows before the revision gets them).
    pub result_mb: Option<u64>,
    /// How long one statement waits for a lock before the database refuses
    /// it, in seconds (0: as long as it takes). PostgreSQL `lock_timeout`,
    /// MySQL `lock_wait_timeout` and `innodb_lock_wait_timeout`, SQLite's
    /// busy timeout.
    #[serde(alias = "lock_timeout")]
    pub lock_timeout_secs: Option<f64>,
    /// How often a revision refused a lock in time is rolled back and run
    /// again (0: never).
    pub lock_retries: Option<u32>,
    /// The wait before the first retry, in seconds; it doubles with each one.
    #[serde(alias = "lock_retry_backoff")]
    pub lock_retry_backoff_secs: Option<f64>,
    /// How long one statement may run on the server, in seconds (0: no
    /// limit). PostgreSQL `statement_timeout`; MySQL `max_execution_time`
    /// (SELECTs only), MariaDB `max_statement_time`. SQLite has no server:
    /// the wall-clock budget stops it.
    #[serde(alias = "statement_timeout")]
    pub statement_timeout_secs: Option<f64>,
    /// Overrides for single revisions, by id (`[limits.revisions.<id>]`).
    pub revisions: Option<std::collections::BTreeMap<String, LimitsSpec>>,
}

/// The budgets of one revision run.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Guest execution time.
    pub cpu: Duration,
    /// Wall-clock time.
    pub timeout: Duration,
    /// Linear memory, bytes.
    pub memory_bytes: usize,
    /// Table elements.
    pub table_elements: usize,
    /// Log output, bytes.
    pub log_bytes: usize,
    /// SQL text and parameters of one call, bytes.
    pub statement_bytes: usize,
    /// SQL text and parameters of all calls of one revision, bytes.
    pub sql_bytes: usize,
    /// Rows of one query as the host holds them, bytes.
    pub result_bytes: usize,
    /// How long a statement waits for a lock (`None`: no limit).
    pub lock_timeout: Option<Duration>,
    /// Retries of a revision refused a lock in time.
    pub lock_retries: u32,
    /// The wait before the first retry (doubling after each).
    pub lock_retry_backoff: Duration,
    /// How long one statement may run on the server (`None`: no limit).
    pub statement_timeout: Option<Duration>,
}

/// The lock timeout when `[limits]` sets none: long enough for a lock
/// held by ordinary traffic, short enough that the queries queued behind a
/// waiting `ALTER TABLE` do not pile up into an outage.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_secs(120),
            timeout: Duration::from_secs(1800),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            log_bytes: 1 << 20,
            statement_bytes: 16 << 20,
            sql_bytes: 256 << 20,
            result_bytes: 64 << 20,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            lock_retries: 3,
            lock_retry_backoff: Duration::from_secs(1),
            statement_timeout: None,
        }
    }
}

impl LimitsSpec {
    /// This spec with the fields `over` sets replacing its own.
    pub fn overlay(&self, over: &LimitsSpec) -> LimitsSpec {
        LimitsSpec {
            cpu_secs: over.cpu_secs.or(self.cpu_secs),
            timeout_secs: over.timeout_secs.or(self.timeout_secs),
            memory_mb: over.memory_mb.or(self.memory_mb),
            table_elements: over.table_elements.or(self.table_elements),
            log_kb: over.log_kb.or(self.log_kb),
            statement_kb: over.statement_kb.or(self.statement_kb),
            sql_mb: over.sql_mb.or(self.sql_mb),
            result_mb: over.result_mb.or(self.result_mb),
            lock_timeout_secs: over.lock_timeout_secs.or(self.lock_timeout_secs),
            lock_retries: over.lock_retries.or(self.lock_retries),
            lock_retry_backoff_secs: over
                .lock_retry_backoff_secs
                .or(self.lock_retry_backoff_secs),
            statement_timeout_secs: over.statement_timeout_secs.or(self.statement_timeout_secs),
            revisions: None,
        }
    }

    /// The budgets of revision `id`: its overrides over these, over the defaults.
    pub fn for_revision(&self, id: &str) -> Result<Limits, String> {
        match self.revisions.as_ref().and_then(|r| r.get(id)) {
            Some(over) if over.revisions.is_some() => Err(format!(
                "limits.revisions.{id}: per-revision limits cannot nest further revisions"
            )),
            Some(over) => self.overlay(over).resolve(),
            None => self.resolve(),
        }
    }

    /// The budgets, with defaults for what is unset.
    pub fn resolve(&self) -> Result<Limits, String> {
        let defaults = Limits::default();
        let seconds = |value: Option<f64>, default: Duration, key: &str| match value {
            None => Ok(default),
            Some(s) => Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("limits {key}: {s} is not a positive number of seconds")),
        };
        let timeout = seconds(self.timeout_secs, defaults.timeout, "timeout_secs")?;
        // 0 switches a database-side limit off.
        let optional = |value: Option<f64>, default: Option<Duration>, key: &str| match value {
            None => Ok(default),
            Some(s) => Duration::try_from_secs_f64(s)
                .map(|d| (!d.is_zero()).then_some(d))
                .map_err(|_| format!("limits {key}: {s} is not a number of seconds (0 for none)")),
        };
        let lock_timeout = optional(
            self.lock_timeout_secs,
            defaults.lock_timeout,
            "lock_timeout_secs",
        )?;
        let statement_timeout = optional(
            self.statement_timeout_secs,
            defaults.statement_timeout,
            "statement_timeout_secs",
        )?;
        let lock_retry_backoff = optional(
            self.lock_retry_backoff_secs,
            Some(defaults.lock_retry_backoff),
            "lock_retry_backoff_secs",
        )?
        .unwrap_or(Duration::ZERO);
        let cpu = seconds(self.cpu_secs, defaults.cpu, "cpu_secs")?;
        let bytes =
            |value: Option<u64>, unit: u64, default: usize, key: &str| -> Result<usize, String> {
                match value {
                    None => Ok(default),
                    Some(0) => Err(format!("limits {key}: 0 leaves nothing to run with")),
                    Some(v) => v
                        .checked_mul(unit)
                        .and_then(|b| usize::try_from(b).ok())
                        .ok_or_else(|| format!("limits {key}: {v} is too large")),
                }
            };
        Ok(Limits {
            cpu,
            timeout,
            memory_bytes: bytes(self.memory_mb, 1 << 20, defaults.memory_bytes, "memory_mb")?,
            table_elements: self
                .table_elements
                .map_or(defaults.table_elements, |t| t as usize),
            log_bytes: bytes(self.log_kb, 1 << 10, defaults.log_bytes, "log_kb")?,
            statement_bytes: bytes(
                self.statement_kb,
                1 << 10,
                defaults.statement_bytes,
                "statement_kb",
            )?,
            sql_bytes: bytes(self.sql_mb, 1 << 20, defaults.sql_bytes, "sql_mb")?,
            result_bytes: bytes(self.result_mb, 1 << 20, defaults.result_bytes, "result_mb")?,
            lock_timeout,
            lock_retries: self.lock_retries.unwrap_or(defaults.lock_retries),
            lock_retry_backoff,
            statement_timeout,
        })
    }
}

/// Which budget a revision ran out of, with what to change to raise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    /// Guest execution time, seconds.
    Cpu(String),
    /// Wall-clock time, seconds.
    Time(String),
    /// Linear memory: the limit and the size asked for, bytes.
    Memory(usize, usize),
    /// Table elements.
    Table(usize),
    /// Log output, bytes.
    Log(usize),
    /// One SQL text with its parameters: the limit and its size, bytes.
    Statement(usize, usize),
    /// All the SQL of the revision, bytes.
    Sql(usize),
    /// One query's rows, bytes.
    Result(usize),
}

impl Exhausted {
    /// The message: which budget, its value, and the retort.toml key that raises it.
    pub fn message(&self, id: &str) -> String {
        let raise = |key: &str| {
            format!(
                "raise `{key}` under [limits] in retort.toml, or for this revision only under [limits.revisions.{id}]"
            )
        };
        match self {
            Exhausted::Cpu(secs) => format!(
                "it ran out of its CPU budget ({secs} s of guest execution); {}",
                raise("cpu_secs")
            ),
            Exhausted::Time(secs) => format!(
                "it ran out of its wall-clock budget ({secs} s, database time included); {}",
                raise("timeout_secs")
            ),
            Exhausted::Memory(limit, asked) => format!(
                "it ran out of its memory budget ({} MiB; it asked for {} MiB); {}",
                limit >> 20,
                asked.div_ceil(1 << 20),
                raise("memory_mb")
            ),
            Exhausted::Table(limit) => format!(
                "it ran out of its table budget ({limit} elements); {}",
                raise("table_elements")
            ),
            Exhausted::Log(limit) => format!(
                "it ran out of its log budget ({} KiB of messages and stderr); {}",
                limit >> 10,
                raise("log_kb")
            ),
            Exhausted::Statement(limit, size) => format!(
                "it sent {} KiB of SQL in one call, over its budget of {} KiB; {}",
                size >> 10,
                limit >> 10,
                raise("statement_kb")
            ),
            Exhausted::Sql(limit) => format!(
                "it sent more than {} MiB of SQL and parameters in all (an offline script grows by as much); {}",
                limit >> 20,
                raise("sql_mb")
            ),
            Exhausted::Result(limit) => format!(
                "a query returned more than {} MiB of rows, over its result budget (which never exceeds the memory budget): select fewer rows at a time (LIMIT, batches) or {}",
                limit >> 20,
                raise("result_mb` (and `memory_mb")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_and_resolve() {
        let global = LimitsSpec {
            cpu_secs: Some(10.0),
            memory_mb: Some(64),
            ..LimitsSpec::default()
        };
        let one = LimitsSpec {
            memory_mb: Some(128),
            timeout_secs: Some(0.5),
            ..LimitsSpec::default()
        };
        let limits = global.overlay(&one).resolve().unwrap();
        assert_eq!(limits.cpu, Duration::from_secs(10));
        assert_eq!(limits.memory_bytes, 128 << 20);
        assert_eq!(limits.timeout, Duration::from_millis(500));
        assert_eq!(limits.log_bytes, Limits::default().log_bytes);
        assert!(
            LimitsSpec {
                cpu_secs: Some(0.0),
                ..LimitsSpec::default()
            }
            .resolve()
            .is_err()
        );
        assert!(
            LimitsSpec {
                timeout_secs: Some(-1.0),
                ..LimitsSpec::default()
            }
            .resolve()
            .is_err()
        );
        assert!(
            LimitsSpec {
                memory_mb: Some(u64::MAX),
                ..LimitsSpec::default()
            }
            .resolve()
            .is_err()
        );
    }

    #[test]
    fn messages_say_how_to_raise() {
        let m = Exhausted::Memory(64 << 20, 65 << 20).message("ab12");
        assert!(
            m.contains("memory budget (64 MiB; it asked for 65 MiB)"),
            "{m}"
        );
        assert!(m.contains("raise `memory_mb` under [limits]"), "{m}");
        assert!(m.contains("[limits.revisions.ab12]"), "{m}");
    }
}
