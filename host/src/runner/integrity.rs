//! After each revision and before its version row, the host checks that its
//! tables are exactly as it left them. The sandbox refuses statements that
//! name them, but text checks can be talked around (dynamic SQL, a function
//! body built at run time): this is the check that looks at the database.
//!
//! - PostgreSQL, in a transaction: the session's pending row counters for
//!   the host's tables (`pg_stat_xact_user_tables`: every insert, update and
//!   delete, rolled-back savepoints included; read as the host's BEGIN runs,
//!   in the same round trip, and again after the revision, and not flushed
//!   in between since the session stays in its transaction block) must have
//!   grown by the host's own writes only, `track_counts` must still be on,
//!   the transaction must be the one the host began, and each table's
//!   identity and shape (oid, file node, columns, triggers, rules, row
//!   security) must be unchanged. One O(1) query.
//! - PostgreSQL outside a transaction, and MySQL/MariaDB: a digest
//!   (sha256 over every `revision_id:sha256`, in byte order) computed by the
//!   server must equal the host's own; on MySQL, where a TEMPORARY table
//!   shadows even a qualified name, the version table must also not be a
//!   temporary one.
//! - SQLite: its authorizer already refuses every access to the host's
//!   tables; the row count is checked as well.
//!
//! The failures table must stay as it was: absent, or without rows but the
//! running revision's journal record, with the count the host wrote.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::version_table::{VersionTable, table_exists};
use crate::dialect::Dialect;
use crate::sink::{Mode, Sink};
use crate::value::{DbError, Value};

/// What the host knows its tables hold.
#[derive(Debug, Clone)]
pub struct HostTables {
    rows: BTreeMap<String, String>,
    failures_exist: bool,
    /// PostgreSQL: each table's identity and shape.
    shape: Option<String>,
    /// Rows the host itself wrote in the open transaction.
    host_writes: i64,
    /// PostgreSQL: the row counters as the open transaction began.
    touched_at_begin: i64,
    /// PostgreSQL: the oids of the schema and of the host's tables, read
    /// once, so the checks plan in no time (no catalog views).
    pg: PgIds,
}

/// Oids the PostgreSQL checks name directly.
#[derive(Debug, Clone, Default)]
struct PgIds {
    namespace: i64,
    tables: Vec<i64>,
}

impl HostTables {
    /// Reads the host's tables as they are now; `None` offline.
    pub async fn read(
        table: &VersionTable,
        sink: &mut Sink,
    ) -> Result<Option<HostTables>, DbError> {
        if sink.mode() == Mode::Offline {
            return Ok(None);
        }
        // Every chain's rows: the server's digest covers the whole table.
        let rows = table
            .for_source(None)
            .read(sink)
            .await?
            .into_iter()
            .map(|r| (r.id, r.sha256))
            .collect();
        let failures_exist = table_exists(sink, &table.failures_name()).await?;
        let mut pg = PgIds::default();
        let (shape, touched_at_begin) = match sink.dialect() {
            Dialect::Postgres => {
                pg = postgres_ids(table, sink).await?;
                let sql = format!("SELECT {}, {}", shape_sql(table, &pg), touched_sql(&pg));
                match sink
                    .host_query(&sql, &[])
                    .await?
                    .values
                    .first()
                    .map(Vec::as_slice)
                {
                    Some([Value::Text(shape), Value::Integer(n)]) => (Some(shape.clone()), *n),
                    other => {
                        return Err(DbError::host(format!("unexpected table shape: {other:?}")));
                    }
                }
            }
            _ => (None, 0),
        };
        Ok(Some(HostTables {
            rows,
            failures_exist,
            shape,
            host_writes: 0,
            touched_at_begin,
            pg,
        }))
    }

    /// What to read as the host begins a transaction (see [`Sink::begin_probing`]).
    pub fn begin_probe(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Postgres => format!(", {}", touched_sql(&self.pg)),
            _ => String::new(),
        }
    }

    /// The host began a transaction; `probe` is what [`HostTables::begin_probe`] read.
    pub fn begun(&mut self, probe: &[Value]) {
        self.host_writes = 0;
        if let [Value::Integer(n)] = probe {
            self.touched_at_begin = *n;
        }
    }

    /// Whether [`HostTables::verify`] checks the transaction too (then the
    /// caller need not).
    pub fn checks_transaction(sink: &Sink, in_transaction: bool) -> bool {
        sink.dialect() == Dialect::Postgres && in_transaction
    }

    /// The host recorded `id` as applied.
    pub fn inserted(&mut self, id: &str, sha256: &str) {
        self.rows.insert(id.to_string(), sha256.to_string());
        self.host_writes += 1;
    }

    /// The host removed `id`'s row.
    pub fn deleted(&mut self, id: &str) {
        self.rows.remove(id);
        self.host_writes += 1;
    }

    /// The host's transaction was committed (or none was open).
    pub fn committed(&mut self) {
        self.host_writes = 0;
    }

    /// The digest the server computes over the version table.
    fn digest(&self) -> String {
        let joined = self
            .rows
            .iter()
            .map(|(id, sha)| format!("{id}:{sha}"))
            .collect::<Vec<_>>()
            .join(",");
        hex::encode(Sha256::digest(joined.as_bytes()))
    }

    /// Checks the tables against what the host knows; `Err` says what changed.
    pub async fn verify(
        &self,
        table: &VersionTable,
        sink: &mut Sink,
        in_transaction: bool,
        journal: Option<(&str, u64)>,
    ) -> Result<(), String> {
        let read = |e: DbError| format!("cannot read the host's tables: {e}");
        let version = VersionTable::qualify(sink, table.name());
        let failures = VersionTable::qualify(sink, &table.failures_name());
        let changed = |what: &str| {
            Err(format!(
                "{what}: a revision may not touch Retort's own tables (the checks on its statements were talked around)"
            ))
        };
        let dialect = sink.dialect();
        if dialect == Dialect::Postgres && in_transaction {
            let sql = format!(
                "SELECT pg_current_xact_id_if_assigned()::text, current_setting('track_counts'), {}, {}",
                touched_sql(&self.pg),
                shape_sql(table, &self.pg)
            );
            let rows = sink.host_query(&sql, &[]).await.map_err(read)?;
            let Some(
                [
                    xid,
                    Value::Text(counting),
                    Value::Integer(touched),
                    Value::Text(shape),
                ],
            ) = rows.values.first().map(Vec::as_slice)
            else {
                return Err(format!(
                    "unexpected state of the host's tables: {:?}",
                    rows.values
                ));
            };
            let xid = match xid {
                Value::Text(x) => Some(x.as_str()),
                _ => None,
            };
            if xid.is_none() || xid != sink.transaction_mark() {
                return Err(format!(
                    "its transaction was ended by the revision (a COMMIT or ROLLBACK got past the checks): the host opened transaction {}, the session is now in {}",
                    sink.transaction_mark().unwrap_or("?"),
                    xid.unwrap_or("none")
                ));
            }
            if counting != "on" {
                return changed("track_counts was turned off during the revision");
            }
            let writes = touched - self.touched_at_begin;
            if writes != self.host_writes {
                return changed(&format!(
                    "{} was written to during the revision ({writes} row change(s); the host made {})",
                    table.name(),
                    self.host_writes
                ));
            }
            if self.shape.as_deref() != Some(shape.as_str()) {
                return changed(&format!(
                    "{} or {} was replaced or altered during the revision",
                    table.name(),
                    table.failures_name()
                ));
            }
            return Ok(());
        }
        if dialect == Dialect::Mysql {
            let show = format!("SHOW CREATE TABLE {version}");
            let rows = sink.host_query(&show, &[]).await.map_err(read)?;
            let temporary = rows.values.first().and_then(|r| r.get(1)).is_some_and(|v| {
                matches!(v, Value::Text(t) if t.to_ascii_uppercase().starts_with("CREATE TEMPORARY"))
            });
            if temporary {
                return changed(&format!(
                    "a TEMPORARY table now stands in for {}",
                    table.name()
                ));
            }
        }
        let digest_sql = match dialect {
            Dialect::Postgres => format!(
                "SELECT count(*)::bigint, encode(sha256(convert_to(coalesce(string_agg(revision_id || ':' || sha256, ',' ORDER BY revision_id COLLATE \"C\"), ''), 'UTF8')), 'hex') FROM {version}"
            ),
            Dialect::Mysql => format!(
                "SELECT CAST(COUNT(*) AS SIGNED), SHA2(COALESCE(GROUP_CONCAT(CONCAT(revision_id, ':', sha256) ORDER BY BINARY revision_id SEPARATOR ','), ''), 256) FROM {version}"
            ),
            // The authorizer keeps revisions away from the table; the count
            // is a cheap second look.
            Dialect::Sqlite => format!("SELECT count(*), '' FROM {version}"),
        };
        let rows = sink.host_query(&digest_sql, &[]).await.map_err(read)?;
        let (count, digest) = match rows.values.first().map(Vec::as_slice) {
            Some([Value::Integer(n), Value::Text(d)]) => (*n, d.clone()),
            other => return Err(format!("unexpected digest of {}: {other:?}", table.name())),
        };
        let expected_digest = if dialect == Dialect::Sqlite {
            String::new()
        } else {
            self.digest()
        };
        if count != self.rows.len() as i64 || digest != expected_digest {
            return changed(&format!(
                "{} does not hold what the host wrote ({count} row(s), {} expected)",
                table.name(),
                self.rows.len()
            ));
        }
        let exists = table_exists(sink, &table.failures_name())
            .await
            .map_err(read)?;
        if exists != self.failures_exist {
            return changed(&format!("{} was created or dropped", table.failures_name()));
        }
        if exists {
            // Nothing but the running revision's journal record, as the host wrote it.
            let (sql, params) = match journal {
                None => (format!("SELECT count(*) FROM {failures}"), Vec::new()),
                Some((id, statements)) => (
                    format!(
                        "SELECT count(*) FROM {failures} WHERE revision_id <> $1 OR statements IS NULL OR statements <> $2"
                    ),
                    vec![
                        Value::Text(id.to_string()),
                        Value::Integer(statements as i64),
                    ],
                ),
            };
            let rows = sink.host_query(&sql, &params).await.map_err(read)?;
            if !matches!(
                rows.values.first().map(Vec::as_slice),
                Some([Value::Integer(0)])
            ) {
                return changed(&format!("rows were written to {}", table.failures_name()));
            }
        }
        Ok(())
    }
}

/// A literal of `text` for PostgreSQL (the probes run where no parameters can).
fn text_literal(text: &str) -> String {
    Dialect::Postgres
        .literal(&Value::Text(text.to_string()))
        .unwrap_or_else(|_| "''".into())
}

/// The oids of the host's schema and of those of its tables that exist.
async fn postgres_ids(table: &VersionTable, sink: &mut Sink) -> Result<PgIds, DbError> {
    let sql = "SELECT n.oid::bigint, coalesce(string_agg(c.oid::text, ','), '') \
               FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_class c \
               ON c.relnamespace = n.oid AND c.relname IN ($2, $3) WHERE n.nspname = $1 GROUP BY n.oid";
    let params = [
        Value::Text(sink.host_schema().unwrap_or("public").to_string()),
        Value::Text(table.name().to_string()),
        Value::Text(table.failures_name()),
    ];
    match sink
        .host_query(sql, &params)
        .await?
        .values
        .first()
        .map(Vec::as_slice)
    {
        Some([Value::Integer(namespace), Value::Text(oids)]) => Ok(PgIds {
            namespace: *namespace,
            tables: oids.split(',').filter_map(|o| o.parse().ok()).collect(),
        }),
        other => Err(DbError::host(format!("unexpected schema oids: {other:?}"))),
    }
}

/// An expression: row changes the session has pending for the host's tables.
fn touched_sql(pg: &PgIds) -> String {
    let terms: Vec<String> = pg
        .tables
        .iter()
        .map(|oid| {
            format!(
                "pg_stat_get_xact_tuples_inserted({oid}) + pg_stat_get_xact_tuples_updated({oid}) + pg_stat_get_xact_tuples_deleted({oid})"
            )
        })
        .collect();
    if terms.is_empty() {
        "0::bigint".into()
    } else {
        format!("({})::bigint", terms.join(" + "))
    }
}

/// A scalar subquery: the identity and shape of the host's tables.
fn shape_sql(table: &VersionTable, pg: &PgIds) -> String {
    format!(
        "(SELECT coalesce(string_agg(concat_ws('/', c.relname, c.oid::text, c.relfilenode::text, c.relnatts::text, \
         c.relhastriggers::text, c.relhasrules::text, c.relrowsecurity::text, c.relkind::text), ',' ORDER BY c.relname), '') \
         FROM pg_catalog.pg_class c WHERE c.relnamespace = {} AND c.relname IN ({}, {}))",
        pg.namespace,
        text_literal(table.name()),
        text_literal(&table.failures_name())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_over_sorted_rows() {
        let mut t = HostTables {
            rows: BTreeMap::new(),
            failures_exist: false,
            shape: None,
            host_writes: 0,
            touched_at_begin: 0,
            pg: PgIds::default(),
        };
        // sha256 of the empty string, as the servers compute it for no rows.
        assert_eq!(
            t.digest(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        t.inserted("b", "2");
        t.inserted("a", "1");
        assert_eq!(t.digest(), hex::encode(Sha256::digest(b"a:1,b:2")));
        assert_eq!(t.host_writes, 2);
        t.committed();
        t.deleted("a");
        assert_eq!(t.digest(), hex::encode(Sha256::digest(b"b:2")));
    }
}
