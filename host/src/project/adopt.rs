//! `adopt`: a database another tool migrated, taken over where that tool
//! stopped. Under the migration lock, the tool's history table is read,
//! each applied migration is matched with its file (and its checksum,
//! where the tool keeps one) and with the revision `import` made of it,
//! and exactly those revisions are stamped. Any mismatch stamps nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest, Sha384};

use super::{Project, close};
use crate::error::Error;
use crate::graph::{StampPlan, Target};
use crate::import::{Migration, Tool, revision_id};
use crate::sink::{QueryError, Sink};
use crate::value::Value;

/// What `adopt` stamped.
#[derive(Debug)]
pub struct Adopted {
    /// The applied revisions, in chain order.
    pub ids: Vec<String>,
    /// The stamp written (empty when the tool had applied nothing).
    pub plan: Option<StampPlan>,
}

/// One row of the tool's history: a version it applied.
struct AppliedRow {
    version: String,
    /// The tool's checksum of the file, where it keeps one.
    checksum: Option<Checksum>,
}

enum Checksum {
    /// sqlx: SHA-384 of the file.
    Sha384(Vec<u8>),
    /// Flyway: CRC32 of the file's lines, as a signed 32-bit integer.
    Crc32(i64),
}

impl Project {
    /// Stamps the revisions `tool` applied to this database, read from its
    /// history table and checked against its files in `dir` (which
    /// `retort import` turned into this project's revisions).
    pub async fn adopt(&self, tool: Tool, dir: &Path) -> Result<Adopted, Error> {
        let unreadable = |e: crate::import::ImportError| {
            Error::Usage(format!("cannot read the {} history: {e}", tool.name()))
        };
        let migrations = match tool {
            Tool::Alembic => Vec::new(),
            _ => crate::import::tools::read(tool, dir).map_err(unreadable)?.0,
        };
        let alembic_ids: BTreeSet<String> = match tool {
            Tool::Alembic => crate::import::alembic::read(dir)
                .map_err(unreadable)?
                .0
                .into_iter()
                .map(|r| r.id)
                .collect(),
            _ => BTreeSet::new(),
        };
        let sink = self.connect().await?;
        let (sink, result) = self
            .locked(sink, async |sink: &mut Sink| {
                // The revisions to stamp up to: the last applied one of a
                // chain, or every head Alembic recorded.
                let (ids, targets) = match tool {
                    Tool::Alembic => {
                        let heads = alembic_heads(sink, &alembic_ids).await?;
                        (heads.clone(), heads)
                    }
                    _ => {
                        let rows = history(sink, tool, &migrations).await?;
                        let ids = match_files(tool, &migrations, &rows)?;
                        let last = ids.last().cloned().into_iter().collect();
                        (ids, last)
                    }
                };
                for id in &targets {
                    if self.catalog.get(id).is_none() {
                        return Err(Error::Usage(format!(
                            "{} applied migration {id}, but no revision {id} is in {}: run `retort import {} {}` first",
                            tool.name(),
                            self.catalog.dir().display(),
                            tool.name(),
                            dir.display()
                        )));
                    }
                }
                let mut plan: Option<StampPlan> = None;
                for target in &targets {
                    let step = self.stamp_on(sink, &Target::Revision(target.clone())).await?;
                    let all = plan.get_or_insert_with(StampPlan::default);
                    all.insert.extend(step.insert);
                    all.delete.extend(step.delete);
                }
                let ids = match (tool, &plan) {
                    (Tool::Alembic, Some(plan)) => plan.insert.clone(),
                    _ => ids,
                };
                Ok(Adopted { ids, plan })
            })
            .await;
        let (sink, result) = match result {
            Ok(adopted) => self.release(sink, Ok(adopted)).await,
            Err(e) => (sink, Err(e)),
        };
        close(sink).await;
        result
    }
}

/// The heads `alembic_version` records, each a revision of the history.
async fn alembic_heads(sink: &mut Sink, known: &BTreeSet<String>) -> Result<Vec<String>, Error> {
    let rows = sink
        .query("SELECT version_num FROM alembic_version ORDER BY version_num", &[], 1 << 20)
        .await
        .map_err(|e| match e {
            QueryError::Db(e) => Error::Usage(format!(
                "cannot read Alembic's version table alembic_version: {}; is this the database Alembic migrated?",
                e.message
            )),
            QueryError::TooLarge => Error::Usage("alembic_version is larger than 1 MiB".to_string()),
        })?;
    let heads: Vec<String> = rows.values.iter().map(|row| text(&row[0])).collect();
    for head in &heads {
        if !known.contains(head) {
            return Err(Error::Usage(format!(
                "Alembic applied revision {head}, which no module of the history directory declares; nothing was stamped"
            )));
        }
    }
    Ok(heads)
}

/// The tool's history table, read as the tool writes it; a dirty or failed
/// row is refused.
async fn history(
    sink: &mut Sink,
    tool: Tool,
    migrations: &[Migration],
) -> Result<Vec<AppliedRow>, Error> {
    let (table, sql) = match tool {
        Tool::Sqlx => (
            "_sqlx_migrations",
            "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
        ),
        Tool::Diesel => (
            "__diesel_schema_migrations",
            "SELECT version FROM __diesel_schema_migrations ORDER BY version",
        ),
        Tool::GolangMigrate => (
            "schema_migrations",
            "SELECT version, dirty FROM schema_migrations",
        ),
        Tool::Goose => (
            "goose_db_version",
            "SELECT version_id, is_applied FROM goose_db_version ORDER BY id",
        ),
        Tool::Dbmate => (
            "schema_migrations",
            "SELECT version FROM schema_migrations ORDER BY version",
        ),
        Tool::Alembic => return Ok(Vec::new()),
        Tool::Flyway => (
            "flyway_schema_history",
            "SELECT version, success, checksum FROM flyway_schema_history WHERE version IS NOT NULL ORDER BY installed_rank",
        ),
    };
    let rows = sink.query(sql, &[], 64 << 20).await.map_err(|e| match e {
        QueryError::Db(e) => Error::Usage(format!(
            "cannot read {}'s history table {table}: {}; is this the database {} migrated?",
            tool.name(),
            e.message,
            tool.name()
        )),
        QueryError::TooLarge => Error::Usage(format!("{table} is larger than 64 MiB")),
    })?;
    let refuse = |version: &str, what: &str| {
        Error::Usage(format!(
            "{} left migration {version} {what} in {table}: resolve it with {} first; nothing was stamped",
            tool.name(),
            tool.name()
        ))
    };
    let mut out = Vec::new();
    match tool {
        Tool::Sqlx | Tool::Flyway => {
            for row in &rows.values {
                let version = text(&row[0]);
                if !truthy(&row[1]) {
                    return Err(refuse(&version, "failed (success = false)"));
                }
                let checksum = match (tool, &row[2]) {
                    (Tool::Sqlx, Value::Blob(bytes)) => Some(Checksum::Sha384(bytes.clone())),
                    (Tool::Flyway, Value::Integer(n)) => Some(Checksum::Crc32(*n)),
                    _ => None,
                };
                out.push(AppliedRow { version, checksum });
            }
        }
        Tool::GolangMigrate => {
            if let Some(row) = rows.values.first() {
                let current = text(&row[0]);
                if truthy(&row[1]) {
                    return Err(refuse(&current, "dirty (a failed run)"));
                }
                let current: u128 = current.parse().unwrap_or(0);
                for m in migrations {
                    if m.version.parse::<u128>().is_ok_and(|v| v <= current) {
                        out.push(AppliedRow {
                            version: m.version.clone(),
                            checksum: None,
                        });
                    }
                }
            }
        }
        Tool::Goose => {
            // The last row of each version says whether it is applied.
            let mut state: BTreeMap<String, bool> = BTreeMap::new();
            for row in &rows.values {
                state.insert(text(&row[0]), truthy(&row[1]));
            }
            out.extend(
                state
                    .into_iter()
                    .filter(|(version, applied)| *applied && version != "0")
                    .map(|(version, _)| AppliedRow {
                        version,
                        checksum: None,
                    }),
            );
        }
        Tool::Diesel | Tool::Dbmate | Tool::Alembic => {
            out.extend(rows.values.iter().map(|row| AppliedRow {
                version: text(&row[0]),
                checksum: None,
            }));
        }
    }
    Ok(out)
}

/// The revision ids of the applied rows, in chain order, each matched with
/// its file and checksum; the applied ones must be the chain's first.
fn match_files(
    tool: Tool,
    migrations: &[Migration],
    rows: &[AppliedRow],
) -> Result<Vec<String>, Error> {
    // Diesel records its version without the dashes of the directory name.
    let key = |version: &str| match tool {
        Tool::Diesel => version.replace('-', ""),
        _ => version.to_string(),
    };
    let by_version: BTreeMap<String, (usize, &Migration)> = migrations
        .iter()
        .enumerate()
        .map(|(i, m)| (key(&m.version), (i, m)))
        .collect();
    let mut positions = Vec::new();
    for row in rows {
        let Some((position, migration)) = by_version.get(&key(&row.version)) else {
            return Err(Error::Usage(format!(
                "{} applied migration {}, which has no file in the history directory; nothing was stamped",
                tool.name(),
                row.version
            )));
        };
        // sqlx and Flyway keep whole files, which `import` read as `up`.
        let matches = match &row.checksum {
            None => true,
            Some(Checksum::Sha384(recorded)) => {
                Sha384::digest(migration.up.as_bytes())[..] == recorded[..]
            }
            Some(Checksum::Crc32(recorded)) => flyway_checksum(&migration.up) == *recorded,
        };
        if !matches {
            return Err(Error::Usage(format!(
                "{}: changed after {} applied it (its checksum differs from the one in the history table); restore the applied text, nothing was stamped",
                migration.source.display(),
                tool.name()
            )));
        }
        positions.push(*position);
    }
    positions.sort_unstable();
    if let Some((gap, _)) = positions.iter().enumerate().find(|(i, p)| *i != **p) {
        let missing = &migrations[gap];
        return Err(Error::Usage(format!(
            "{} applied later migrations but not {}: a chain cannot skip it; apply it with {} first, nothing was stamped",
            tool.name(),
            missing.version,
            tool.name()
        )));
    }
    Ok(positions
        .into_iter()
        .map(|p| revision_id(&migrations[p].version))
        .collect())
}

/// Flyway's checksum: CRC32 over the file's lines without their endings
/// (and without a leading byte-order mark), as a signed 32-bit integer.
fn flyway_checksum(text: &str) -> i64 {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut hasher = crc32fast::Hasher::new();
    for line in text.lines() {
        hasher.update(line.as_bytes());
    }
    i64::from(hasher.finalize() as i32)
}

fn text(value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Text(s) => s.clone(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null => String::new(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Boolean(b) => *b,
        Value::Integer(n) => *n != 0,
        Value::Text(s) => matches!(s.as_str(), "1" | "t" | "true"),
        _ => false,
    }
}
