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
        Tool::Alembic => {
            return Err(ImportError::Layout(
                "an Alembic history is Python, not SQL: it is read as revision scripts".to_string(),
            ));
        }
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

pub(super) fn files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ImportError::io(dir, e))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

pub(super) fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(super) fn text(path: &Path) -> Result<String, ImportError> {
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

/// What a tool's reader makes of one entry of its history directory.
enum Entry {
    /// A migration.
    Found(Migration),
    /// Looks like part of the history but cannot be imported: why.
    Skip(&'static str),
    /// Not part of the history (a down file, read with its up; a README).
    Ignore,
}

const NO_VERSION: &str = "its name does not start with a numeric version";

/// Runs `one` on every path of `paths`, sorting what it found.
fn each(
    paths: &[PathBuf],
    mut one: impl FnMut(&Path, &str) -> Result<Entry, ImportError>,
) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        match one(path, &name_of(path))? {
            Entry::Found(migration) => out.push(migration),
            Entry::Skip(reason) => skipped.push(Skipped::new(path, reason)),
            Entry::Ignore => {}
        }
    }
    Ok((out, skipped))
}

/// The text of `path`, if there is such a file.
fn optional_text(path: &Path) -> Result<Option<String>, ImportError> {
    path.is_file().then(|| text(path)).transpose()
}

/// sqlx: `<version>_<desc>.sql` (up only), or `.up.sql` + `.down.sql`;
/// `-- no-transaction` on the first line runs it outside a transaction.
fn sqlx(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    each(&files(dir)?, |path, name| {
        if name.ends_with(".down.sql") {
            return Ok(Entry::Ignore);
        }
        let reversible = name.strip_suffix(".up.sql");
        let Some(stem) = reversible.or_else(|| name.strip_suffix(".sql")) else {
            return Ok(if path.is_file() {
                Entry::Skip("not a sqlx migration (<version>_<description>.sql)")
            } else {
                Entry::Ignore
            });
        };
        let Some((version, description)) = split_name(stem, digits) else {
            return Ok(Entry::Skip(NO_VERSION));
        };
        let up = text(path)?;
        let down = match reversible {
            Some(_) => optional_text(&dir.join(format!("{stem}.down.sql")))?,
            None => None,
        };
        Ok(Entry::Found(Migration {
            version,
            description,
            transactional: !up.starts_with("-- no-transaction"),
            up,
            down,
            source: path.to_path_buf(),
        }))
    })
}

/// diesel: `<version>_<name>/up.sql`, `down.sql`, and `metadata.toml` with
/// `run_in_transaction = false`.
fn diesel(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    each(&files(dir)?, |path, name| {
        if !path.is_dir() {
            return Ok(Entry::Ignore);
        }
        let up_path = path.join("up.sql");
        if !up_path.is_file() {
            return Ok(Entry::Skip("no up.sql in it"));
        }
        let Some((version, description)) = split_name(name, |v| {
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }) else {
            return Ok(Entry::Skip("its name does not start with a version"));
        };
        let metadata = path.join("metadata.toml");
        let transactional = match optional_text(&metadata)? {
            Some(toml) => {
                let value: toml::Table = toml
                    .parse()
                    .map_err(|e| ImportError::Layout(format!("{}: {e}", metadata.display())))?;
                value
                    .get("run_in_transaction")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(true)
            }
            None => true,
        };
        Ok(Entry::Found(Migration {
            version,
            description,
            up: text(&up_path)?,
            down: optional_text(&path.join("down.sql"))?,
            transactional,
            source: up_path,
        }))
    })
}

/// golang-migrate: `<N>_<name>.up.sql` and `.down.sql`; run in a transaction
/// unless it holds `CONCURRENTLY` or `VACUUM`.
fn golang_migrate(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    each(&files(dir)?, |path, name| {
        if name.ends_with(".down.sql") || !path.is_file() {
            return Ok(Entry::Ignore);
        }
        let Some(stem) = name.strip_suffix(".up.sql") else {
            return Ok(Entry::Skip("not a golang-migrate file (<N>_<name>.up.sql)"));
        };
        let Some((version, description)) = split_name(stem, digits) else {
            return Ok(Entry::Skip(NO_VERSION));
        };
        let up = text(path)?;
        // golang-migrate opens no transaction of its own: a file that holds
        // what cannot run in one (and so relies on that) runs outside one.
        let upper = up.to_ascii_uppercase();
        let transactional = !(upper.contains("CONCURRENTLY") || upper.contains("VACUUM"));
        Ok(Entry::Found(Migration {
            version,
            description,
            up,
            down: optional_text(&dir.join(format!("{stem}.down.sql")))?,
            transactional,
            source: path.to_path_buf(),
        }))
    })
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

/// How a one-file tool marks its sections (each line is trimmed first).
struct Markers {
    /// The line that starts the upgrade.
    up: fn(&str) -> bool,
    /// The line that starts the downgrade.
    down: fn(&str) -> bool,
    /// The up marker, for the message when there is none.
    missing_up: &'static str,
    /// A line that takes the migration out of the transaction.
    outside_transaction: fn(&str) -> bool,
}

/// A `<version>_<name>.sql` migration with marked up and down sections.
fn sectioned(path: &Path, name: &str, markers: &Markers) -> Result<Entry, ImportError> {
    let Some(stem) = name.strip_suffix(".sql") else {
        return Ok(Entry::Ignore);
    };
    let Some((version, description)) = split_name(stem, digits) else {
        return Ok(Entry::Skip(NO_VERSION));
    };
    let all = text(path)?;
    let (up, down) = sections(&all, markers.up, markers.down);
    let Some(up) = up else {
        return Ok(Entry::Skip(markers.missing_up));
    };
    Ok(Entry::Found(Migration {
        version,
        description,
        up: up.to_string(),
        down: down.map(str::to_string),
        transactional: !all.lines().any(|l| (markers.outside_transaction)(l.trim())),
        source: path.to_path_buf(),
    }))
}

/// goose: `-- +goose Up` / `-- +goose Down` sections (with `StatementBegin`
/// / `StatementEnd` around bodies, kept as the comments they are) and
/// `-- +goose NO TRANSACTION`; Go migrations cannot be imported.
fn goose(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    fn goose_says(line: &str, word: &str) -> bool {
        line.strip_prefix("-- +goose")
            .is_some_and(|rest| rest.trim().eq_ignore_ascii_case(word))
    }
    let markers = Markers {
        up: |line| goose_says(line, "Up"),
        down: |line| goose_says(line, "Down"),
        missing_up: "no `-- +goose Up` section",
        outside_transaction: |line| goose_says(line, "NO TRANSACTION"),
    };
    each(&files(dir)?, |path, name| {
        if name.ends_with(".go") {
            return Ok(Entry::Skip(
                "a Go migration: its code runs in goose's binary, so it cannot be imported; port it to SQL or to a revision in another language",
            ));
        }
        sectioned(path, name, &markers)
    })
}

/// dbmate: `-- migrate:up` / `-- migrate:down` sections; `transaction:false`
/// after the up marker runs it outside a transaction.
fn dbmate(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    fn marker_word(line: &str) -> Option<&str> {
        line.strip_prefix("-- migrate:")
            .and_then(|rest| rest.split_whitespace().next())
    }
    let markers = Markers {
        up: |line| marker_word(line) == Some("up"),
        down: |line| marker_word(line) == Some("down"),
        missing_up: "no `-- migrate:up` section",
        outside_transaction: |line| {
            line.starts_with("-- migrate:up") && line.contains("transaction:false")
        },
    };
    each(&files(dir)?, |path, name| sectioned(path, name, &markers))
}

/// Flyway: `V<version>__<description>.sql`, `U<version>__…` undo files as
/// downs, `<file>.conf` with `executeInTransaction=false`; repeatable `R__`
/// migrations are not supported yet.
fn flyway(dir: &Path) -> Result<(Vec<Migration>, Vec<Skipped>), ImportError> {
    let all = files(dir)?;
    each(&all, |path, name| {
        let Some(stem) = name.strip_suffix(".sql") else {
            return Ok(Entry::Ignore);
        };
        if stem.starts_with("R__") {
            return Ok(Entry::Skip(
                "a repeatable migration (R__): re-run on every change, which Retort does not support yet",
            ));
        }
        if stem.starts_with('U') {
            return Ok(Entry::Ignore);
        }
        let Some(rest) = stem.strip_prefix('V') else {
            return Ok(Entry::Skip(
                "not a versioned Flyway migration (V<version>__<description>.sql)",
            ));
        };
        let Some((version, description)) = rest.split_once("__") else {
            return Ok(Entry::Skip("no `__` between its version and description"));
        };
        let version = version.replace('_', ".");
        if !version.split('.').all(digits) {
            return Ok(Entry::Skip("its version is not numbers separated by dots"));
        }
        let undo = all.iter().find(|p| {
            name_of(p)
                .strip_prefix('U')
                .and_then(|r| r.split_once("__"))
                .is_some_and(|(v, _)| v.replace('_', ".") == version)
        });
        // A script configuration file beside it may take it out of the transaction.
        let conf = optional_text(&path.with_file_name(format!("{name}.conf")))?;
        let transactional = !conf.is_some_and(|conf| {
            conf.lines().any(|line| {
                line.split_once('=').is_some_and(|(k, v)| {
                    k.trim() == "executeInTransaction" && v.trim().eq_ignore_ascii_case("false")
                })
            })
        });
        Ok(Entry::Found(Migration {
            version,
            description: description.replace('_', " "),
            up: text(path)?,
            down: undo.map(|p| text(p)).transpose()?,
            transactional,
            source: path.to_path_buf(),
        }))
    })
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
