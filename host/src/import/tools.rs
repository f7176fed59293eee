//! Each tool's history, read as the tool lays it out, into migrations in
//! the tool's order. The SQL is kept byte for byte.

use std::path::{Path, PathBuf};

use super::{ImportError, Migration, Skipped, Tool};

/// The migrations of `tool` in `dir`, in the tool's order, and what could
/// not be imported.
pub(crate) fn read(tool: Tool, dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut found = match tool {
        Tool::Sqlx => sqlx(dir)?,
        Tool::Diesel => diesel(dir)?,
        Tool::GolangMigrate => golang_migrate(dir)?,
        Tool::Goose => goose(dir)?,
        Tool::Dbmate => dbmate(dir)?,
        Tool::Flyway => flyway(dir)?,
    };
    found.0.sort_by_key(|m| order_key(&m.version));
    for pair in found.0.windows(2) {
        if order_key(&pair[0].version) == order_key(&pair[1].version) {
            return Err(ImportError::Layout(format!(
                "{} and {} have the same version {}",
                pair[0].source.display(),
                pair[1].source.display(),
                pair[1].version
            )));
        }
    }
    Ok(found)
}

/// Versions compare as numbers part by part (`1.10` after `1.9`), then as text.
fn order_key(version: &str) -> Vec<(u128, String)> {
    version
        .split(['.', '_', '-'])
        .map(|part| (part.parse::<u128>().unwrap_or(u128::MAX), part.to_string()))
        .collect()
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ImportError::io(dir, e))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn text(path: &Path) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| {
        ImportError::Layout(format!(
            "{} is not UTF-8: Retort's SQL revisions are UTF-8 text",
            path.display()
        ))
    })
}

/// `<version>_<description>` split at the first `_`; the version must be
/// digits (or what `valid` accepts).
fn split_name(stem: &str, valid: impl Fn(&str) -> bool) -> Option<(String, String)> {
    let (version, description) = stem.split_once('_').unwrap_or((stem, ""));
    valid(version).then(|| (version.to_string(), description.replace('_', " ")))
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// sqlx: `<version>_<desc>.sql` (up only), or `.up.sql` + `.down.sql`;
/// `-- no-transaction` on the first line runs it outside a transaction.
fn sqlx(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in files(dir)? {
        let name = name_of(&path);
        if name.ends_with(".down.sql") {
            continue;
        }
        let Some(stem) = name
            .strip_suffix(".up.sql")
            .or_else(|| name.strip_suffix(".sql"))
        else {
            if path.is_file() {
                skipped.push(Skipped::new(
                    &path,
                    "not a sqlx migration (<version>_<description>.sql)",
                ));
            }
            continue;
        };
        let Some((version, description)) = split_name(stem, digits) else {
            skipped.push(Skipped::new(
                &path,
                "its name does not start with a numeric version",
            ));
            continue;
        };
        let up = text(&path)?;
        let down_path = dir.join(format!("{stem}.down.sql"));
        let down = if name.ends_with(".up.sql") && down_path.is_file() {
            Some(text(&down_path)?)
        } else {
            None
        };
        let transactional = !up.starts_with("-- no-transaction");
        out.push(Migration {
            version,
            description,
            up,
            down,
            transactional,
            source: path,
        });
    }
    Ok((out, skipped))
}

/// diesel: `<version>_<name>/up.sql`, `down.sql`, and `metadata.toml` with
/// `run_in_transaction = false`.
fn diesel(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in files(dir)? {
        if !path.is_dir() {
            continue;
        }
        let name = name_of(&path);
        let up_path = path.join("up.sql");
        if !up_path.is_file() {
            skipped.push(Skipped::new(&path, "no up.sql in it"));
            continue;
        }
        let Some((version, description)) = split_name(&name, |v| {
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }) else {
            skipped.push(Skipped::new(
                &path,
                "its name does not start with a version",
            ));
            continue;
        };
        let down_path = path.join("down.sql");
        let metadata = path.join("metadata.toml");
        let transactional = if metadata.is_file() {
            let value: toml::Table = text(&metadata)?
                .parse()
                .map_err(|e| ImportError::Layout(format!("{}: {e}", metadata.display())))?;
            value
                .get("run_in_transaction")
                .and_then(toml::Value::as_bool)
                .unwrap_or(true)
        } else {
            true
        };
        out.push(Migration {
            version,
            description,
            up: text(&up_path)?,
            down: down_path.is_file().then(|| text(&down_path)).transpose()?,
            transactional,
            source: up_path,
        });
    }
    Ok((out, skipped))
}

/// golang-migrate: `<N>_<name>.up.sql` and `.down.sql`; run in a transaction
/// unless it holds `CONCURRENTLY` or `VACUUM`.
fn golang_migrate(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in files(dir)? {
        let name = name_of(&path);
        if name.ends_with(".down.sql") || !path.is_file() {
            continue;
        }
        let Some(stem) = name.strip_suffix(".up.sql") else {
            skipped.push(Skipped::new(
                &path,
                "not a golang-migrate file (<N>_<name>.up.sql)",
            ));
            continue;
        };
        let Some((version, description)) = split_name(stem, digits) else {
            skipped.push(Skipped::new(
                &path,
                "its name does not start with a numeric version",
            ));
            continue;
        };
        let down_path = dir.join(format!("{stem}.down.sql"));
        let up = text(&path)?;
        // golang-migrate opens no transaction of its own: a file that holds
        // what cannot run in one (and so relies on that) runs outside one.
        let upper = up.to_ascii_uppercase();
        let transactional = !(upper.contains("CONCURRENTLY") || upper.contains("VACUUM"));
        out.push(Migration {
            version,
            description,
            up,
            down: down_path.is_file().then(|| text(&down_path)).transpose()?,
            transactional,
            source: path,
        });
    }
    Ok((out, skipped))
}

/// A file's text split at marker lines: the text of the section after
/// `up` and of the one after `down`, each exactly as written.
fn sections(
    text: &str,
    is_up: impl Fn(&str) -> bool,
    is_down: impl Fn(&str) -> bool,
) -> (Option<&str>, Option<&str>) {
    let mut up: Option<(usize, usize)> = None;
    let mut down: Option<(usize, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let start = offset;
        offset += line.len();
        if is_up(trimmed) {
            if let Some(d) = down.as_mut().filter(|d| d.1 == usize::MAX) {
                d.1 = start;
            }
            up = Some((offset, usize::MAX));
        } else if is_down(trimmed) {
            if let Some(u) = up.as_mut().filter(|u| u.1 == usize::MAX) {
                u.1 = start;
            }
            down = Some((offset, usize::MAX));
        }
    }
    let slice =
        |range: Option<(usize, usize)>| range.map(|(from, to)| &text[from..to.min(text.len())]);
    (slice(up), slice(down))
}

/// goose: `-- +goose Up` / `-- +goose Down` sections (with `StatementBegin`
/// / `StatementEnd` around bodies, kept as the comments they are) and
/// `-- +goose NO TRANSACTION`; Go migrations cannot be imported.
fn goose(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in files(dir)? {
        let name = name_of(&path);
        if name.ends_with(".go") {
            skipped.push(Skipped::new(
                &path,
                "a Go migration: its code runs in goose's binary, so it cannot be imported; port it to SQL or to a revision in another language",
            ));
            continue;
        }
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let Some((version, description)) = split_name(stem, digits) else {
            skipped.push(Skipped::new(
                &path,
                "its name does not start with a numeric version",
            ));
            continue;
        };
        let all = text(&path)?;
        let marker = |word: &'static str| {
            move |line: &str| {
                line.strip_prefix("-- +goose")
                    .is_some_and(|rest| rest.trim().eq_ignore_ascii_case(word))
            }
        };
        let (up, down) = sections(&all, marker("Up"), marker("Down"));
        let Some(up) = up else {
            skipped.push(Skipped::new(&path, "no `-- +goose Up` section"));
            continue;
        };
        out.push(Migration {
            version,
            description,
            up: up.to_string(),
            down: down.map(str::to_string),
            transactional: !all
                .lines()
                .any(|l| l.trim().eq_ignore_ascii_case("-- +goose NO TRANSACTION")),
            source: path,
        });
    }
    Ok((out, skipped))
}

/// dbmate: `-- migrate:up` / `-- migrate:down` sections; `transaction:false`
/// after a marker runs it outside a transaction.
fn dbmate(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in files(dir)? {
        let name = name_of(&path);
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let Some((version, description)) = split_name(stem, digits) else {
            skipped.push(Skipped::new(
                &path,
                "its name does not start with a numeric version",
            ));
            continue;
        };
        let all = text(&path)?;
        let marker = |word: &'static str| {
            move |line: &str| {
                line.strip_prefix("-- migrate:")
                    .and_then(|rest| rest.split_whitespace().next())
                    .is_some_and(|w| w == word)
            }
        };
        let (up, down) = sections(&all, marker("up"), marker("down"));
        let Some(up) = up else {
            skipped.push(Skipped::new(&path, "no `-- migrate:up` section"));
            continue;
        };
        let transactional = !all
            .lines()
            .any(|l| l.trim().starts_with("-- migrate:up") && l.contains("transaction:false"));
        out.push(Migration {
            version,
            description,
            up: up.to_string(),
            down: down.map(str::to_string),
            transactional,
            source: path,
        });
    }
    Ok((out, skipped))
}

/// Flyway: `V<version>__<description>.sql`, `U<version>__…` undo files as
/// downs, `<file>.conf` with `executeInTransaction=false`; repeatable `R__`
/// migrations are not supported yet.
fn flyway(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let all = files(dir)?;
    for path in &all {
        let name = name_of(path);
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        if stem.starts_with("R__") {
            skipped.push(Skipped::new(
                path,
                "a repeatable migration (R__): re-run on every change, which Retort does not support yet",
            ));
            continue;
        }
        if stem.starts_with('U') {
            continue;
        }
        let Some(rest) = stem.strip_prefix('V') else {
            skipped.push(Skipped::new(
                path,
                "not a versioned Flyway migration (V<version>__<description>.sql)",
            ));
            continue;
        };
        let Some((version, description)) = rest.split_once("__") else {
            skipped.push(Skipped::new(
                path,
                "no `__` between its version and description",
            ));
            continue;
        };
        let version = version.replace('_', ".");
        if !version.split('.').all(digits) {
            skipped.push(Skipped::new(
                path,
                "its version is not numbers separated by dots",
            ));
            continue;
        }
        let undo = all.iter().find(|p| {
            name_of(p)
                .strip_prefix('U')
                .and_then(|r| r.split_once("__"))
                .is_some_and(|(v, _)| v.replace('_', ".") == version)
        });
        // A script configuration file beside it may take it out of the transaction.
        let conf = path.with_file_name(format!("{name}.conf"));
        let transactional = !(conf.is_file()
            && text(&conf)?.lines().any(|line| {
                line.split_once('=').is_some_and(|(k, v)| {
                    k.trim() == "executeInTransaction" && v.trim().eq_ignore_ascii_case("false")
                })
            }));
        out.push(Migration {
            version,
            description: description.replace('_', " "),
            up: text(path)?,
            down: undo.map(|p| text(p)).transpose()?,
            transactional,
            source: path.clone(),
        });
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_numbers() {
        let mut versions = vec!["1.10", "1.9", "2", "1.9.1"];
        versions.sort_by_key(|v| order_key(v));
        assert_eq!(versions, ["1.9", "1.9.1", "1.10", "2"]);
    }

    #[test]
    fn sections_are_the_text_between_markers() {
        let text = "-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n";
        let marker = |w: &'static str| move |l: &str| l == format!("-- +goose {w}");
        let (up, down) = sections(text, marker("Up"), marker("Down"));
        assert_eq!(up, Some("CREATE TABLE a (x int);\n"));
        assert_eq!(down, Some("DROP TABLE a;\n"));
    }
}
