//! The statement journal of a revision that can commit part-way (any
//! revision on MySQL/MariaDB, whose DDL commits at once; a revision outside
//! a transaction on any database).
//!
//! The runner writes the revision's record into the failures table before
//! its first statement; while the journal is armed, every statement of the
//! revision that succeeds is counted, hashed (the tap's encoding, one
//! revision's statements only) and written to that record on the revision's
//! own connection. Outside a transaction each write commits with the
//! statement it follows; inside one (MySQL before its first DDL) it commits
//! or rolls back with the statements it counts. So whatever stops the
//! process, the record says how many statements of the revision are in the
//! database, and what they were. (A kill in the instant between a
//! statement's commit and its journal write leaves the record one short: a
//! resume then runs that statement again, and its error says so.)
//!
//! On resume the journal is armed with the record's count and digest: the
//! first `skip` statements are hashed but not sent (`query` calls, which
//! change nothing, are still sent, so the revision sees the rows it asks
//! for), and when the count is reached the digest must equal the record's,
//! or every further statement is refused.

use sha2::{Digest, Sha256};

use super::tap::hash_statement;
use crate::graph::Direction;
use crate::value::{DbError, Value};

/// What the journal's digest stream starts with.
const HEADER: &[u8] = b"retort-journal-v1\n";

/// Environment variable of the crash tests: after this many journaled
/// statements (counted over the process, each once its journal work is
/// done), the process kills itself with SIGKILL, as `kill -9` would, at an
/// exact statement boundary.
pub const KILL_AFTER_ENV: &str = "RETORT_TEST_KILL_AFTER_STATEMENTS";

/// Where a resumed revision picks up: the record of the interrupted run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Statements of the revision that had run.
    pub skip: u64,
    /// The journal's digest over them.
    pub digest: String,
}

/// One revision's journal, armed in an online sink while it runs.
#[derive(Debug)]
pub struct Journal {
    /// The failures table, qualified.
    table: String,
    id: String,
    hasher: Sha256,
    count: u64,
    /// The count the record holds (its last write).
    written: u64,
    /// Whether the revision's statements run inside the host's transaction
    /// (until a statement commits it implicitly, on MySQL).
    in_transaction: bool,
    /// Whether the revision runs in a transaction of the host's, which is
    /// opened again after a statement committed it (MySQL DDL).
    transactional: bool,
    /// The last statement counted, for the record.
    last: String,
    resume: Option<Resume>,
    /// Why statements are refused from now on, once they are.
    stopped: Option<String>,
}

/// What to do with a statement the revision sends.
pub(super) enum Before {
    /// Send it, and journal it afterwards when `record` is true.
    Send { record: bool },
    /// Do not send it: it ran in the interrupted run (answer 0 rows).
    Skip,
    /// Refuse it.
    Refuse(DbError),
}

impl Journal {
    /// The journal of revision `id` run `direction`, recorded in the
    /// failures table `table` (qualified), resuming after `resume` if given.
    pub fn new(table: String, id: &str, direction: Direction, resume: Option<Resume>) -> Journal {
        let written = resume.as_ref().map_or(0, |r| r.skip);
        let mut hasher = Sha256::new();
        hasher.update(HEADER);
        hasher.update(match direction {
            Direction::Upgrade => b"u",
            Direction::Downgrade => b"d",
        });
        hasher.update((id.len() as u64).to_be_bytes());
        hasher.update(id.as_bytes());
        Journal {
            table,
            id: id.to_string(),
            hasher,
            count: 0,
            written,
            in_transaction: false,
            transactional: false,
            last: String::new(),
            resume,
            stopped: None,
        }
    }

    /// Statements counted so far (skipped ones included).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The count the record holds now.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The revision's statements start inside the host's transaction.
    pub fn in_transaction(mut self, open: bool) -> Journal {
        self.in_transaction = open;
        self.transactional = open;
        self
    }

    /// Whether the host's transaction is to be opened again after a
    /// statement committed it.
    pub(super) fn reopens(&self) -> bool {
        self.transactional && !self.in_transaction
    }

    /// The host opened its transaction again.
    pub(super) fn reopened(&mut self) {
        self.in_transaction = true;
    }

    /// Whether the host's transaction is still open (MySQL: no statement
    /// has committed it implicitly yet).
    pub fn transaction_open(&self) -> bool {
        self.in_transaction
    }

    /// A statement ran (or failed) that commits on its own (MySQL DDL):
    /// the host's transaction is over.
    pub(super) fn committed_implicitly(&mut self) {
        self.in_transaction = false;
    }

    /// The hex digest over the statements counted so far.
    pub fn digest(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// Why the revision's statements were refused, if they were: a resume
    /// that sent other statements than the interrupted run, or a journal
    /// write that failed.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// A resumed revision that completed must have sent at least the
    /// statements the interrupted run had: `Err` says it did not.
    pub fn finished(&self) -> Result<(), String> {
        if let Some(reason) = &self.stopped {
            return Err(reason.clone());
        }
        match &self.resume {
            Some(resume) if self.count < resume.skip => Err(format!(
                "refused to resume {}: the revision completed after {} statement(s), but the interrupted run had run {} of it, so it is not the revision that was interrupted (it sends other statements now); nothing was sent. Settle it by hand: `retort resolve {} --applied` or `--rolled-back`",
                self.id, self.count, resume.skip, self.id
            )),
            _ => Ok(()),
        }
    }

    /// Decides about one statement before it is sent.
    pub(super) fn before(&mut self, query: bool, sql: &str, params: &[Value]) -> Before {
        if let Some(reason) = &self.stopped {
            return Before::Refuse(DbError::host(reason.clone()));
        }
        let Some(resume) = &self.resume else {
            return Before::Send { record: true };
        };
        if self.count >= resume.skip {
            return Before::Send { record: true };
        }
        hash_statement(&mut self.hasher, query, sql, params);
        self.count += 1;
        if self.count == resume.skip {
            let digest = self.digest();
            if digest != resume.digest {
                let reason = format!(
                    "refused to resume {}: its first {} statement(s) are not the ones the interrupted run sent (journal digest {}, now {digest}): the revision is not deterministic, or it changed; nothing was sent. Settle it by hand: `retort resolve {} --applied` or `--rolled-back`",
                    self.id, resume.skip, resume.digest, self.id
                );
                self.stopped = Some(reason.clone());
                return Before::Refuse(DbError::host(reason));
            }
        }
        if query {
            Before::Send { record: false }
        } else {
            Before::Skip
        }
    }

    /// Counts a statement that succeeded; returns the write that records
    /// it, when one is due now. A query changes nothing: it is counted (the
    /// next write carries it) but not written on its own, so a resume may
    /// send it again, which only reads. Inside the host's transaction the
    /// write waits until the transaction is about to commit (see
    /// [`Journal::flush`]): until then the statements can still roll back.
    pub(super) fn after(
        &mut self,
        query: bool,
        sql: &str,
        params: &[Value],
    ) -> Option<(String, Vec<Value>)> {
        hash_statement(&mut self.hasher, query, sql, params);
        self.count += 1;
        if !query {
            self.last = sql.trim().chars().take(STATEMENT_CHARS).collect();
        }
        if query || self.in_transaction {
            return None;
        }
        Some(self.write())
    }

    /// Before a statement that commits the host's transaction by itself:
    /// the write of what the transaction holds, to commit with it.
    pub(super) fn flush(&mut self) -> Option<(String, Vec<Value>)> {
        (self.in_transaction && self.count > self.written).then(|| self.write())
    }

    fn write(&mut self) -> (String, Vec<Value>) {
        self.written = self.count;
        (
            format!(
                "UPDATE {} SET statements = $1, digest = $2, statement = $3 WHERE revision_id = $4",
                self.table
            ),
            vec![
                Value::Integer(self.count as i64),
                Value::Text(self.digest()),
                Value::Text(self.last.clone()),
                Value::Text(self.id.clone()),
            ],
        )
    }

    /// The journal write failed: the revision stops here.
    pub(super) fn write_failed(&mut self, error: &DbError) -> DbError {
        let reason = format!(
            "recording the statement in the journal ({}) failed: {error}; the revision stops here so that the record stays exact",
            self.table
        );
        self.stopped = Some(reason.clone());
        DbError::host(reason)
    }
}

/// How much of a statement's text the record keeps.
pub const STATEMENT_CHARS: usize = 2000;

/// The crash tests' hook: counts journaled statements and kills the
/// process after the configured number.
pub(super) fn crash_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATEMENTS: AtomicU64 = AtomicU64::new(0);
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let limit = LIMIT.get_or_init(|| std::env::var(KILL_AFTER_ENV).ok()?.parse().ok());
    if let Some(limit) = *limit
        && STATEMENTS.fetch_add(1, Ordering::SeqCst) + 1 >= limit
    {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(resume: Option<Resume>) -> Journal {
        Journal::new("\"t_failures\"".into(), "r1", Direction::Upgrade, resume)
    }

    #[test]
    fn a_resume_skips_what_ran_and_checks_it() {
        let mut first = journal(None);
        for sql in ["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"] {
            assert!(matches!(
                first.before(false, sql, &[]),
                Before::Send { record: true }
            ));
            first.after(false, sql, &[]);
        }
        let resume = Resume {
            skip: 2,
            digest: first.digest(),
        };
        let mut same = journal(Some(resume.clone()));
        assert!(matches!(
            same.before(false, "CREATE TABLE a (x INT)", &[]),
            Before::Skip
        ));
        assert!(matches!(
            same.before(false, "INSERT INTO a VALUES (1)", &[]),
            Before::Skip
        ));
        assert!(matches!(
            same.before(false, "INSERT INTO a VALUES (2)", &[]),
            Before::Send { record: true }
        ));
        assert!(same.finished().is_ok());
        let mut other = journal(Some(resume.clone()));
        assert!(matches!(
            other.before(false, "CREATE TABLE a (x INT)", &[]),
            Before::Skip
        ));
        assert!(matches!(
            other.before(false, "INSERT INTO a VALUES (9)", &[]),
            Before::Refuse(_)
        ));
        assert!(matches!(
            other.before(false, "INSERT INTO a VALUES (3)", &[]),
            Before::Refuse(_)
        ));
        assert!(
            other
                .finished()
                .unwrap_err()
                .contains("not the ones the interrupted run sent")
        );
        let mut short = journal(Some(resume));
        assert!(matches!(
            short.before(false, "CREATE TABLE a (x INT)", &[]),
            Before::Skip
        ));
        assert!(
            short
                .finished()
                .unwrap_err()
                .contains("completed after 1 statement")
        );
        // A query among the skipped statements is still sent (it changes nothing).
        let mut reads = journal(Some(Resume {
            skip: 1,
            digest: String::new(),
        }));
        assert!(matches!(
            reads.before(true, "SELECT 1", &[]),
            Before::Refuse(_)
        ));
        let mut query_first = Journal::new("\"t_failures\"".into(), "r1", Direction::Upgrade, None);
        query_first.after(true, "SELECT 1", &[]);
        let mut reads = journal(Some(Resume {
            skip: 1,
            digest: query_first.digest(),
        }));
        assert!(matches!(
            reads.before(true, "SELECT 1", &[]),
            Before::Send { record: false }
        ));
    }

    #[test]
    fn parameters_and_the_revision_are_in_the_digest() {
        let digest = |id: &str, param: i64| {
            let mut j = Journal::new("t".into(), id, Direction::Upgrade, None);
            j.after(false, "INSERT INTO a VALUES ($1)", &[Value::Integer(param)]);
            j.digest()
        };
        assert_eq!(digest("r1", 1), digest("r1", 1));
        assert_ne!(digest("r1", 1), digest("r1", 2));
        assert_ne!(digest("r1", 1), digest("r2", 1));
    }
}
