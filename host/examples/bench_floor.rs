//! The floor `scripts/bench` measures Retort against: plain sqlx on one
//! connection sending the statements the N benchmark revisions send, with the
//! same per-revision transactions and the same version-table writes. `sql`
//! renders the same statements as a script, with literals, to stdout.
//!
//! ```sh
//! bench_floor URL N upgrade|downgrade|sql      # URL: sqlite:…, postgres://…, mysql://… (mariadb://…)
//! ```

#[path = "bench/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::str::FromStr;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use workload::{ROWS, downgrade, id, row, upgrade, version_delete, version_insert, version_table};

const SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The whole run on one connection `$c`, placeholders starting with `$mark`.
macro_rules! run {
    ($c:expr, $n:expr, $up:expr, $mark:expr) => {{
        let c = &mut $c;
        let raw = |sql: String| sqlx::raw_sql(AssertSqlSafe(sql));
        raw(version_table($mark)).execute(&mut *c).await?;
        let order: Vec<usize> = if $up {
            (0..$n).collect()
        } else {
            (0..$n).rev().collect()
        };
        for i in order {
            raw("BEGIN".into()).execute(&mut *c).await?;
            if $up {
                let up = upgrade(i, $mark);
                for ddl in up.ddl {
                    raw(ddl).execute(&mut *c).await?;
                }
                for r in 1..=ROWS {
                    let (a, b, s) = row(r);
                    let insert = sqlx::query(AssertSqlSafe(up.insert.as_str()));
                    insert.bind(a).bind(b).bind(s).execute(&mut *c).await?;
                }
                let record = sqlx::query(AssertSqlSafe(version_insert($mark)));
                record
                    .bind(id(i))
                    .bind(SHA256)
                    .bind(1_i64)
                    .execute(&mut *c)
                    .await?;
            } else {
                raw(downgrade(i)).execute(&mut *c).await?;
                let forget = sqlx::query(AssertSqlSafe(version_delete($mark)));
                forget.bind(id(i)).execute(&mut *c).await?;
            }
            raw("COMMIT".into()).execute(&mut *c).await?;
        }
        $c.close().await
    }};
}

/// The upgrade as a script: what a hand-written generator would print.
fn script(n: usize) -> String {
    let mut out = format!("{};\n", version_table('$'));
    for i in 0..n {
        let up = upgrade(i, '$');
        out.push_str(&format!("BEGIN;\n{};\n{};\n", up.ddl[0], up.ddl[1]));
        for r in 1..=ROWS {
            let (a, b, s) = row(r);
            let values = format!("({a}, '{}', {s})", b.replace('\'', "''"));
            out.push_str(&up.insert.replace("($1, $2, $3)", &values));
            out.push_str(";\n");
        }
        let record =
            version_insert('$').replace("$1, $2, $3", &format!("'{}', '{SHA256}', NULL", id(i)));
        out.push_str(&format!("{record};\nCOMMIT;\n"));
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, n, mode] = args.as_slice() else {
        return Err("usage: bench_floor URL N upgrade|downgrade|sql".into());
    };
    let (n, up) = (n.parse::<usize>()?, mode == "upgrade");
    if mode == "sql" {
        use std::io::Write;
        return Ok(std::io::stdout().lock().write_all(script(n).as_bytes())?);
    }
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true);
        run!(options.connect().await?, n, up, '?')?;
    } else if let Some(rest) = url
        .strip_prefix("mysql:")
        .or_else(|| url.strip_prefix("mariadb:"))
    {
        let options = MySqlConnectOptions::from_str(&format!("mysql:{rest}"))?;
        run!(options.connect().await?, n, up, 'm')?;
    } else {
        run!(
            PgConnectOptions::from_str(url)?.connect().await?,
            n,
            up,
            '$'
        )?;
    }
    Ok(())
}
