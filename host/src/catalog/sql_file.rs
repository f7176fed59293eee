//! Plain SQL revisions: `<name>.sql` with `-- retort:up` / `-- retort:down`
//! sections, or `<name>.up.sql` with an optional `<name>.down.sql`. The
//! metadata is a header of `-- retort: key=value …` lines at the top:
//!
//! ```sql
//! -- retort: id=3c9f1a7e5b20 parents=b7e2a90c4d11 message="add authors"
//! -- retort: transactional=false branch-labels=auth depends-on=a1,b2
//! ```
//!
//! A file is data, like a script: no interpreter, no compile. Its
//! statements are split when it runs, with the target's lexer.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::sandbox::{RevisionInfo, SqlRevision, SqlSection};

/// The header line prefix.
const HEADER: &str = "-- retort:";

/// Whether `path` is a SQL revision's main file (`*.sql`, not `*.down.sql`).
pub fn is_revision(path: &Path) -> bool {
    let name = file_name(path);
    name.ends_with(".sql") && !name.ends_with(".down.sql")
}

/// Whether `path` is the down half of an up/down pair.
pub fn is_down_file(path: &Path) -> bool {
    file_name(path).ends_with(".down.sql")
}

/// The `.up.sql` file a `.down.sql` belongs to.
pub fn up_file_of(down: &Path) -> PathBuf {
    let name = file_name(down);
    down.with_file_name(format!(
        "{}.up.sql",
        &name[..name.len() - ".down.sql".len()]
    ))
}

fn down_file_of(up: &Path) -> Option<PathBuf> {
    let name = file_name(up);
    let stem = name.strip_suffix(".up.sql")?;
    Some(up.with_file_name(format!("{stem}.down.sql")))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The identity of a SQL revision: the sha256 of its file, or for an
/// up/down pair the sha256 of the two files' hex sha256s, one per line.
pub fn identity(up: &[u8], down: Option<&[u8]>) -> String {
    let up = hex::encode(Sha256::digest(up));
    match down {
        None => up,
        Some(down) => {
            let down = hex::encode(Sha256::digest(down));
            hex::encode(Sha256::digest(format!("{up}\n{down}\n")))
        }
    }
}

/// A SQL revision read from its file(s).
#[derive(Debug)]
pub struct Read {
    /// Its metadata, from the header.
    pub info: RevisionInfo,
    /// Its statements' text, by direction.
    pub revision: SqlRevision,
    /// Its identity (see [`identity`]).
    pub sha256: String,
}

/// Reads the SQL revision whose main file is `path`; `Err` says what is
/// wrong, as `file:line: …`.
pub fn read(path: &Path) -> Result<Read, String> {
    let name = file_name(path);
    let text = read_text(path, &name)?;
    let down = match down_file_of(path) {
        Some(down) if down.is_file() => {
            let down_name = file_name(&down);
            let down_text = read_text(&down, &down_name)?;
            Some((down_name, down_text))
        }
        _ => None,
    };
    let info = header(&name, &text)?;
    let sections = sections(&name, &text)?;
    let (up, down_section) = match (sections, &down) {
        (Sections::Whole, None) => (section(&name, &text, 1), None),
        (Sections::Whole, Some((down_name, down_text))) => (
            section(&name, &text, 1),
            Some(section(down_name, down_text, 1)),
        ),
        (Sections::Marked { .. }, Some((down_name, _))) => {
            return Err(format!(
                "{name}: it has `-- retort:up`/`-- retort:down` sections and {down_name} is beside it: keep one layout"
            ));
        }
        (Sections::Marked { up, down }, None) => (
            section(&name, &text[up.0..up.1], up.2),
            down.map(|(from, to, line)| section(&name, &text[from..to], line)),
        ),
    };
    // UTF-8 text is its bytes: the identity is over the files as they are.
    let sha256 = identity(
        text.as_bytes(),
        down.as_ref().map(|(_, down_text)| down_text.as_bytes()),
    );
    Ok(Read {
        info,
        revision: SqlRevision {
            up,
            down: down_section,
        },
        sha256,
    })
}

/// The file at `path` (called `name` in messages) as UTF-8 text.
fn read_text(path: &Path, name: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read it: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name}: it is not UTF-8 (byte {} is not): save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

fn section(file: &str, text: &str, first_line: usize) -> SqlSection {
    SqlSection {
        file: file.to_string(),
        text: text.to_string(),
        first_line,
    }
}

/// How a file is laid out.
enum Sections {
    /// No markers: the whole file is the upgrade.
    Whole,
    /// Byte ranges and first lines of the marked sections.
    Marked {
        up: (usize, usize, usize),
        down: Option<(usize, usize, usize)>,
    },
}

/// Finds the `-- retort:up` and `-- retort:down` lines (each alone on its
/// line); what comes before the first may only be comments.
fn sections(name: &str, text: &str) -> Result<Sections, String> {
    let mut up: Option<(usize, usize)> = None;
    let mut down: Option<(usize, usize)> = None;
    let mut before_first = true;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        let marker = trimmed
            .strip_prefix(HEADER)
            .map(str::trim)
            .filter(|rest| rest.eq_ignore_ascii_case("up") || rest.eq_ignore_ascii_case("down"));
        let start = offset + line.len();
        offset = start;
        match marker.map(str::to_ascii_lowercase).as_deref() {
            Some("up") if up.is_some() => {
                return Err(format!("{name}:{number}: a second `-- retort:up` section"));
            }
            Some("down") if down.is_some() => {
                return Err(format!(
                    "{name}:{number}: a second `-- retort:down` section"
                ));
            }
            Some("up") if down.is_some() => {
                return Err(format!(
                    "{name}:{number}: `-- retort:up` must come before `-- retort:down`"
                ));
            }
            Some("up") => up = Some((start, number + 1)),
            Some(_) if up.is_none() => {
                return Err(format!(
                    "{name}:{number}: a `-- retort:down` section with no `-- retort:up` before it"
                ));
            }
            Some(_) => down = Some((start, number + 1)),
            None => {
                if before_first && up.is_none() && !is_comment_or_blank(trimmed) {
                    before_first = false;
                }
            }
        }
    }
    let Some((up_start, up_line)) = up else {
        return Ok(Sections::Whole);
    };
    if !before_first {
        return Err(format!(
            "{name}: SQL before `-- retort:up`: only the header and comments may come before it"
        ));
    }
    let up_end = match down {
        Some((down_start, _)) => line_start_before(text, down_start),
        None => text.len(),
    };
    Ok(Sections::Marked {
        up: (up_start, up_end, up_line),
        down: down.map(|(start, line)| (start, text.len(), line)),
    })
}

/// Where the line that ends just before `next_line_start` begins (the
/// marker line itself is not part of the section above it).
fn line_start_before(text: &str, next_line_start: usize) -> usize {
    let before = &text[..next_line_start];
    let without_newline = before.strip_suffix('\n').unwrap_or(before);
    without_newline.rfind('\n').map_or(0, |i| i + 1)
}

fn is_comment_or_blank(line: &str) -> bool {
    line.is_empty() || line.starts_with("--") || line.starts_with('#')
}

/// Reads the `-- retort: key=value …` lines at the top of `text`.
fn header(name: &str, text: &str) -> Result<RevisionInfo, String> {
    let mut info = RevisionInfo {
        id: String::new(),
        down_revisions: Vec::new(),
        message: String::new(),
        branch_labels: Vec::new(),
        depends_on: Vec::new(),
        transactional: true,
    };
    let mut seen_id = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if !is_comment_or_blank(trimmed) {
            break;
        }
        let Some(rest) = trimmed.strip_prefix(HEADER) else {
            continue;
        };
        let rest = rest.trim();
        if rest.eq_ignore_ascii_case("up") || rest.eq_ignore_ascii_case("down") {
            break;
        }
        for (key, value) in pairs(rest).map_err(|e| format!("{name}:{number}: {e}"))? {
            let at = |e: String| format!("{name}:{number}: {e}");
            match key.as_str() {
                "id" => {
                    info.id = value;
                    seen_id = true;
                }
                "parents" | "parent" | "down-revision" | "down-revisions" => {
                    info.down_revisions = list(&value)
                }
                "message" => info.message = value,
                "transactional" => {
                    info.transactional = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(at(format!(
                                "transactional is true or false, not {other:?}"
                            )));
                        }
                    }
                }
                "branch-labels" | "branch_labels" => info.branch_labels = list(&value),
                "depends-on" | "depends_on" => info.depends_on = list(&value),
                other => {
                    return Err(at(format!(
                        "unknown key {other:?}: the keys are id, parents, message, transactional, branch-labels, depends-on"
                    )));
                }
            }
        }
    }
    if !seen_id || info.id.is_empty() {
        return Err(format!(
            "{name}:1: a SQL revision starts with its metadata: `-- retort: id=<revision id> parents=<parent ids, comma-separated, or none> message=\"…\"`"
        ));
    }
    Ok(info)
}

/// `a,b` → `[a, b]`; empty, `none` and `base` → no parents.
fn list(value: &str) -> Vec<String> {
    if value.is_empty() || value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("base")
    {
        return Vec::new();
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `key=value` pairs of a header line; a value is a word or a
/// double-quoted string with `\"` and `\\` escapes.
fn pairs(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("expected key=value, found {key:?}"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\')) => value.push(c),
                        Some(c) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err(format!("the value of {key} is not closed")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("the value of {key} is not closed with \"")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.to_ascii_lowercase(), value));
    }
}

/// The header of a new SQL revision, as `retort revision --lang sql` writes it.
pub fn header_lines(info: &RevisionInfo) -> String {
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let parents = if info.down_revisions.is_empty() {
        "none".to_string()
    } else {
        info.down_revisions.join(",")
    };
    let mut out = format!(
        "{HEADER} id={} parents={parents} message={}\n",
        info.id,
        quoted(&info.message)
    );
    let mut extra = Vec::new();
    if !info.branch_labels.is_empty() {
        extra.push(format!("branch-labels={}", info.branch_labels.join(",")));
    }
    if !info.depends_on.is_empty() {
        extra.push(format!("depends-on={}", info.depends_on.join(",")));
    }
    if !info.transactional {
        extra.push("transactional=false".to_string());
    }
    if !extra.is_empty() {
        out.push_str(&format!("{HEADER} {}\n", extra.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn one_file_with_sections() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "r1.sql",
            "-- retort: id=aaa parents=none message=\"say \\\"hi\\\"\"\n-- retort: transactional=false depends-on=x,y\n\n-- retort:up\nCREATE TABLE a (x INT);\n-- retort:down\nDROP TABLE a;\n",
        );
        let read = read(&path).unwrap();
        assert_eq!(read.info.id, "aaa");
        assert!(read.info.down_revisions.is_empty());
        assert_eq!(read.info.message, "say \"hi\"");
        assert!(!read.info.transactional);
        assert_eq!(read.info.depends_on, ["x", "y"]);
        assert_eq!(read.revision.up.text, "CREATE TABLE a (x INT);\n");
        assert_eq!(read.revision.up.first_line, 5);
        let down = read.revision.down.unwrap();
        assert_eq!(down.text, "DROP TABLE a;\n");
        assert_eq!(down.first_line, 7);
        assert_eq!(read.sha256, identity(&std::fs::read(&path).unwrap(), None));
    }

    #[test]
    fn an_up_file_and_its_down_file() {
        let dir = tempfile::tempdir().unwrap();
        let up = write(
            dir.path(),
            "1_a.up.sql",
            "-- retort: id=1 parents=0,00\nCREATE TABLE a (x INT);\n",
        );
        write(dir.path(), "1_a.down.sql", "DROP TABLE a;\n");
        let read = read(&up).unwrap();
        assert_eq!(read.info.down_revisions, ["0", "00"]);
        assert_eq!(read.revision.up.first_line, 1);
        assert_eq!(read.revision.down.unwrap().file, "1_a.down.sql");
        assert_eq!(
            read.sha256,
            identity(
                b"-- retort: id=1 parents=0,00\nCREATE TABLE a (x INT);\n",
                Some(b"DROP TABLE a;\n")
            )
        );
        assert!(is_down_file(&dir.path().join("1_a.down.sql")));
        assert!(!is_revision(&dir.path().join("1_a.down.sql")));
        assert_eq!(up_file_of(&dir.path().join("1_a.down.sql")), up);
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            (
                "CREATE TABLE a (x INT);\n",
                "r.sql:1: a SQL revision starts with its metadata",
            ),
            (
                "-- retort: id=a colour=red\n",
                "r.sql:1: unknown key \"colour\"",
            ),
            (
                "-- note\n-- retort: id=a transactional=maybe\n",
                "r.sql:2: transactional is true or false",
            ),
            (
                "-- retort: id=a message=\"open\n",
                "r.sql:1: the value of message is not closed",
            ),
            (
                "-- retort: id=a\n-- retort:down\nDROP TABLE a;\n",
                "r.sql:2: a `-- retort:down` section with no `-- retort:up`",
            ),
            (
                "-- retort: id=a\nSELECT 1;\n-- retort:up\n",
                "r.sql: SQL before `-- retort:up`",
            ),
            (
                "-- retort: id=a\n-- retort:up\n-- retort:up\n",
                "r.sql:3: a second `-- retort:up`",
            ),
        ] {
            let path = write(dir.path(), "r.sql", text);
            let error = read(&path).unwrap_err();
            assert!(error.starts_with(expected), "{text:?}: {error}");
        }
        std::fs::write(dir.path().join("r.sql"), b"-- retort: id=a\n\xff\n").unwrap();
        assert!(
            read(&dir.path().join("r.sql"))
                .unwrap_err()
                .contains("not UTF-8")
        );
    }

    #[test]
    fn the_header_written_reads_back() {
        let info = RevisionInfo {
            id: "abc".into(),
            down_revisions: vec!["p1".into(), "p2".into()],
            message: "it's \"quoted\" \\ é".into(),
            branch_labels: vec!["auth".into()],
            depends_on: vec![],
            transactional: false,
        };
        let text = format!("{}-- retort:up\n", header_lines(&info));
        assert_eq!(header("x.sql", &text).unwrap(), info);
    }
}
