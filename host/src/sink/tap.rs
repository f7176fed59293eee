//! The statement tap: a sha256 over every statement the revisions send
//! through the [`Sink`](super::Sink), online or offline alike, and (when
//! asked) a transcript of them.
//!
//! Only the revisions' own calls count: the runner opens the tap around each
//! revision call ([`Tap::begin_revision`], [`Tap::end_revision`]), so the
//! host's bookkeeping (BEGIN/COMMIT, the version table with its online-only
//! `duration_ms`, the lock) never reaches the digest. Two runs of the same
//! revisions over the same data send the same statements and so have the
//! same digest, whether they went to a database, into a script, or into a
//! rehearsal that was rolled back.
//!
//! The encoding is length-prefixed, so no two streams share an encoding:
//!
//! ```text
//! digest    = sha256("retort-digest-v1\n" record*)
//! record    = "R" direction(u8: 'u' | 'd') len(id) id            a revision starts
//!           | kind(u8: 'E' execute | 'Q' query) len(sql) sql
//!             count(u32) param*                                  one statement
//! param     = "N" | "B" u8 | "I" i64 | "F" f64 bits (u64) | "T" len bytes | "X" len bytes
//! len       = u64; every integer big-endian
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::graph::Direction;
use crate::value::Value;

/// What the digest's stream starts with: the encoding's version.
const HEADER: &[u8] = b"retort-digest-v1\n";

/// The digest of the statements the revisions of a run sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDigest {
    /// Hex sha256 of the canonical encoding.
    pub sha256: String,
    /// How many statements (execute and query calls) it covers.
    pub statements: u64,
    /// How many revision calls it covers.
    pub revisions: u64,
}

impl std::fmt::Display for RunDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.sha256)
    }
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Transcribed {
    /// A revision call starts.
    Revision {
        /// The revision id.
        id: String,
        /// Which way it runs.
        direction: Direction,
    },
    /// A statement the revision sent.
    Statement {
        /// `true` for `query`, `false` for `execute`.
        query: bool,
        /// The SQL as the revision wrote it (`$N` placeholders).
        sql: String,
        /// Its parameters.
        params: Vec<Value>,
    },
}

/// Hashes (and optionally transcribes) what passes through a sink while a
/// revision runs.
#[derive(Debug)]
pub struct Tap {
    hasher: Sha256,
    statements: u64,
    revisions: u64,
    /// The revision being run, while the tap is open.
    current: Option<String>,
    /// Whether the current revision asked for the run mode.
    asked_mode: AtomicBool,
    /// Revisions that asked for the run mode (and may behave differently offline).
    mode_dependent: Vec<String>,
    transcript: Option<Vec<Transcribed>>,
}

impl Default for Tap {
    fn default() -> Self {
        let mut hasher = Sha256::new();
        hasher.update(HEADER);
        Tap {
            hasher,
            statements: 0,
            revisions: 0,
            current: None,
            asked_mode: AtomicBool::new(false),
            mode_dependent: Vec::new(),
            transcript: None,
        }
    }
}

impl Tap {
    /// Keeps a transcript of every tapped statement from now on.
    pub fn keep_transcript(&mut self) {
        self.transcript.get_or_insert_with(Vec::new);
    }

    /// Opens the tap for one revision call.
    pub fn begin_revision(&mut self, id: &str, direction: Direction) {
        self.hasher.update(b"R");
        self.hasher.update(match direction {
            Direction::Upgrade => b"u",
            Direction::Downgrade => b"d",
        });
        put_bytes(&mut self.hasher, id.as_bytes());
        self.revisions += 1;
        self.current = Some(id.to_string());
        self.asked_mode.store(false, Ordering::Relaxed);
        if let Some(t) = &mut self.transcript {
            t.push(Transcribed::Revision {
                id: id.to_string(),
                direction,
            });
        }
    }

    /// Closes the tap after a revision call.
    pub fn end_revision(&mut self) {
        if let Some(id) = self.current.take()
            && self.asked_mode.swap(false, Ordering::Relaxed)
            && !self.mode_dependent.contains(&id)
        {
            self.mode_dependent.push(id);
        }
    }

    /// Whether a revision call is being tapped.
    pub fn is_open(&self) -> bool {
        self.current.is_some()
    }

    /// Notes that the running revision asked whether it runs online or offline.
    pub(super) fn mode_asked(&self) {
        if self.is_open() {
            self.asked_mode.store(true, Ordering::Relaxed);
        }
    }

    /// Adds one statement, if a revision call is being tapped.
    pub(super) fn statement(&mut self, query: bool, sql: &str, params: &[Value]) {
        if !self.is_open() {
            return;
        }
        hash_statement(&mut self.hasher, query, sql, params);
        self.statements += 1;
        if let Some(t) = &mut self.transcript {
            t.push(Transcribed::Statement {
                query,
                sql: sql.to_string(),
                params: params.to_vec(),
            });
        }
    }

    /// The digest of everything tapped so far.
    pub fn digest(&self) -> RunDigest {
        RunDigest {
            sha256: hex::encode(self.hasher.clone().finalize()),
            statements: self.statements,
            revisions: self.revisions,
        }
    }

    /// The transcript, if one is kept.
    pub fn transcript(&self) -> &[Transcribed] {
        self.transcript.as_deref().unwrap_or_default()
    }

    /// Revisions that asked whether they run online or offline, in run order.
    pub fn mode_dependent(&self) -> &[String] {
        &self.mode_dependent
    }
}

/// Adds one statement to `h` in the digest's encoding (see the module docs).
pub(super) fn hash_statement(h: &mut Sha256, query: bool, sql: &str, params: &[Value]) {
    h.update(if query { b"Q" } else { b"E" });
    put_bytes(h, sql.as_bytes());
    h.update((params.len() as u32).to_be_bytes());
    for value in params {
        match value {
            Value::Null => h.update(b"N"),
            Value::Boolean(b) => h.update([b'B', u8::from(*b)]),
            Value::Integer(i) => {
                h.update(b"I");
                h.update(i.to_be_bytes());
            }
            Value::Float(x) => {
                h.update(b"F");
                h.update(x.to_bits().to_be_bytes());
            }
            Value::Text(s) => {
                h.update(b"T");
                put_bytes(h, s.as_bytes());
            }
            Value::Blob(b) => {
                h.update(b"X");
                put_bytes(h, b);
            }
        }
    }
}

fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(&mut Tap)) -> RunDigest {
        let mut tap = Tap::default();
        f(&mut tap);
        tap.digest()
    }

    #[test]
    fn only_revision_calls_count() {
        let empty = run(|_| {});
        let outside = run(|t| t.statement(false, "INSERT INTO v VALUES (1)", &[]));
        assert_eq!(empty, outside);
        let inside = run(|t| {
            t.begin_revision("a", Direction::Upgrade);
            t.statement(false, "INSERT INTO v VALUES (1)", &[]);
            t.end_revision();
        });
        assert_ne!(empty.sha256, inside.sha256);
        assert_eq!((inside.statements, inside.revisions), (1, 1));
    }

    #[test]
    fn every_part_of_a_statement_counts() {
        let one = |query: bool, sql: &str, params: &[Value], dir: Direction| {
            run(|t| {
                t.begin_revision("a", dir);
                t.statement(query, sql, params);
                t.end_revision();
            })
            .sha256
        };
        let base = one(false, "S $1", &[Value::Integer(1)], Direction::Upgrade);
        assert_eq!(
            base,
            one(false, "S $1", &[Value::Integer(1)], Direction::Upgrade)
        );
        for other in [
            one(true, "S $1", &[Value::Integer(1)], Direction::Upgrade),
            one(false, "S $2", &[Value::Integer(1)], Direction::Upgrade),
            one(false, "S $1", &[Value::Integer(2)], Direction::Upgrade),
            one(
                false,
                "S $1",
                &[Value::Text("1".into())],
                Direction::Upgrade,
            ),
            one(false, "S $1", &[Value::Float(1.0)], Direction::Upgrade),
            one(false, "S $1", &[Value::Integer(1)], Direction::Downgrade),
        ] {
            assert_ne!(base, other);
        }
        // Lengths are prefixed: moving a byte between text and params is seen.
        assert_ne!(
            one(false, "ab", &[Value::Text("c".into())], Direction::Upgrade),
            one(false, "a", &[Value::Text("bc".into())], Direction::Upgrade)
        );
    }

    #[test]
    fn mode_questions_are_noted_per_revision() {
        let mut tap = Tap::default();
        tap.keep_transcript();
        tap.mode_asked(); // outside a revision: ignored
        tap.begin_revision("a", Direction::Upgrade);
        tap.end_revision();
        tap.begin_revision("b", Direction::Upgrade);
        tap.mode_asked();
        tap.statement(true, "SELECT 1", &[]);
        tap.end_revision();
        assert_eq!(tap.mode_dependent(), ["b".to_string()]);
        assert_eq!(tap.transcript().len(), 3);
    }
}
