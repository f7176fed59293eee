//! Alembic: each `versions/*.py` module read without running it (its
//! `revision`, `down_revision` incl. merges, `branch_labels`, `depends_on`
//! and docstring), and written as a Python revision script: the module as
//! written, after a header with Retort's metadata, its imports of `alembic`
//! and `sqlalchemy` bound to Retort's port (`retort_alembic` in the Python
//! interpreter: `op.execute(sql)` runs `sql`; every other `op.*` call fails
//! until rewritten). Each such call is listed by file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::python::{Kind, Token, logical_lines, tokens};
use super::{ImportError, Skipped};

/// One revision of an Alembic history.
#[derive(Debug)]
pub(crate) struct Revision {
    /// `revision`.
    pub id: String,
    /// `down_revision` (several for a merge, none for a base).
    pub parents: Vec<String>,
    /// The docstring's first line.
    pub message: String,
    /// `branch_labels`.
    pub branch_labels: Vec<String>,
    /// `depends_on`.
    pub depends_on: Vec<String>,
    /// The module's file.
    pub source: PathBuf,
    /// The module's text.
    pub text: String,
}

/// A call in a ported module that Retort cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandPort {
    /// The line in the written script.
    pub line: usize,
    /// The line in the Alembic module.
    pub source_line: usize,
    /// What it is (`op.create_table`).
    pub what: String,
}

/// The Alembic names a module sets that Retort reads.
const METADATA: [&str; 4] = ["revision", "down_revision", "branch_labels", "depends_on"];

/// The `versions` directory of `dir` (an Alembic script directory, or its
/// `versions` itself).
fn versions_dir(dir: &Path) -> PathBuf {
    let versions = dir.join("versions");
    if versions.is_dir() {
        versions
    } else {
        dir.to_path_buf()
    }
}

/// The revisions of the Alembic history in `dir`, parents before children.
pub(crate) fn read(dir: &Path) -> Result<(Vec<Revision>, Vec<Skipped>), ImportError> {
    let versions = versions_dir(dir);
    let mut revisions = Vec::new();
    let mut skipped = Vec::new();
    for path in super::tools::files(&versions)? {
        let name = super::tools::name_of(&path);
        if !path.is_file() || !name.ends_with(".py") || name == "__init__.py" {
            continue;
        }
        let text = super::tools::text(&path)?;
        match module(&path, text)? {
            Some(revision) => revisions.push(revision),
            None => skipped.push(Skipped::new(
                &path,
                "sets no `revision = \"…\"` at module level: not an Alembic revision",
            )),
        }
    }
    Ok((chain_order(revisions)?, skipped))
}

/// Parents before children; among revisions ready together, by id.
fn chain_order(revisions: Vec<Revision>) -> Result<Vec<Revision>, ImportError> {
    let mut by_id: BTreeMap<String, Revision> = BTreeMap::new();
    for revision in revisions {
        if let Some(other) = by_id.get(&revision.id) {
            return Err(ImportError::Layout(format!(
                "{} and {} both set revision = {:?}",
                other.source.display(),
                revision.source.display(),
                revision.id
            )));
        }
        by_id.insert(revision.id.clone(), revision);
    }
    let labels: BTreeSet<&String> = by_id.values().flat_map(|r| &r.branch_labels).collect();
    for revision in by_id.values() {
        for needed in &revision.depends_on {
            if !by_id.contains_key(needed) && !labels.contains(needed) {
                return Err(ImportError::Layout(format!(
                    "{}: depends_on {needed:?} is neither a revision nor a branch label of the history",
                    revision.source.display()
                )));
            }
        }
        for parent in &revision.parents {
            if !by_id.contains_key(parent) {
                return Err(ImportError::Layout(format!(
                    "{}: down_revision {parent:?} is no revision of the history",
                    revision.source.display()
                )));
            }
        }
    }
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !by_id.is_empty() {
        let ready: Vec<String> = by_id
            .values()
            .filter(|r| r.parents.iter().all(|p| placed.contains(p)))
            .map(|r| r.id.clone())
            .collect();
        if ready.is_empty() {
            let stuck = by_id.values().next().expect("not empty");
            return Err(ImportError::Layout(format!(
                "{}: its down_revision chain loops back to itself",
                stuck.source.display()
            )));
        }
        for id in ready {
            placed.insert(id.clone());
            out.push(by_id.remove(&id).expect("ready ids are present"));
        }
    }
    Ok(out)
}

fn lex(path: &Path, text: &str) -> Result<Vec<Token>, ImportError> {
    tokens(text)
        .map_err(|e| ImportError::Layout(format!("{}:{}: {}", path.display(), e.line, e.message)))
}

/// The revision `text` (the module at `path`) declares, if it declares one.
fn module(path: &Path, text: String) -> Result<Option<Revision>, ImportError> {
    let all = lex(path, &text)?;
    let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut message = None;
    for (n, line) in logical_lines(&all).enumerate() {
        if let (
            0,
            [
                Token {
                    kind: Kind::Str(doc),
                    ..
                },
            ],
        ) = (n, line)
        {
            message = doc
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string);
        }
        let Some(name) = METADATA.iter().find(|name| line[0].is_name(name)) else {
            continue;
        };
        if line[0].col != 0 {
            continue;
        }
        let Some(value) = assigned(line) else {
            continue;
        };
        let strings = literal(value).ok_or_else(|| {
            ImportError::Layout(format!(
                "{}:{}: `{name}` is not a literal (None, a string, or a tuple or list of strings): Retort reads it without running the module",
                path.display(),
                line[0].line
            ))
        })?;
        values.insert(name, strings);
    }
    let Some(ids) = values.remove("revision") else {
        return Ok(None);
    };
    let [id] = <[String; 1]>::try_from(ids).map_err(|_| {
        ImportError::Layout(format!("{}: `revision` must be one string", path.display()))
    })?;
    let mut take = |name: &str| values.remove(name).unwrap_or_default();
    Ok(Some(Revision {
        parents: take("down_revision"),
        branch_labels: take("branch_labels"),
        depends_on: take("depends_on"),
        message: message.unwrap_or_else(|| id.clone()),
        id,
        source: path.to_path_buf(),
        text,
    }))
}

/// The tokens after the `=` of an assignment (`name = …` or `name: T = …`).
pub(crate) fn assigned(line: &[Token]) -> Option<&[Token]> {
    if !(line.get(1)?.is_op('=') || line.get(1)?.is_op(':')) {
        return None;
    }
    let mut depth = 0usize;
    for (i, token) in line.iter().enumerate() {
        match token.kind {
            Kind::Op('(' | '[' | '{') => depth += 1,
            Kind::Op(')' | ']' | '}') => depth = depth.saturating_sub(1),
            // `==` is no assignment; `=` inside brackets is an argument.
            Kind::Op('=') if depth == 0 && !line.get(i + 1).is_some_and(|t| t.is_op('=')) => {
                return Some(&line[i + 1..]);
            }
            _ => {}
        }
    }
    None
}

/// `None`, a string (adjacent literals joined), or a tuple or list of strings.
pub(crate) fn literal(tokens: &[Token]) -> Option<Vec<String>> {
    match tokens {
        [t] if t.is_name("None") => Some(Vec::new()),
        [open, inner @ .., close]
            if (open.is_op('(') && close.is_op(')')) || (open.is_op('[') && close.is_op(']')) =>
        {
            let mut out = Vec::new();
            for item in inner.split(|t| t.is_op(',')) {
                match item {
                    [] => {}
                    _ => out.push(one_string(item)?),
                }
            }
            Some(out)
        }
        _ => one_string(tokens).map(|s| vec![s]),
    }
}

pub(crate) fn one_string(tokens: &[Token]) -> Option<String> {
    let mut out = String::new();
    for token in tokens {
        match &token.kind {
            Kind::Str(s) => out.push_str(s),
            _ => return None,
        }
    }
    (!tokens.is_empty()).then_some(out)
}

/// An `import` or `from … import` of alembic or sqlalchemy: the names it
/// binds, each with the dotted path it stands for.
fn bound_names(line: &[Token]) -> Option<Vec<(String, String)>> {
    let words: Vec<String> = line
        .iter()
        .filter_map(|t| match &t.kind {
            Kind::Name(n) => Some(n.clone()),
            Kind::Op(c) if matches!(c, ',' | '.' | '*') => Some(c.to_string()),
            _ => None,
        })
        .collect();
    let root_of = |path: &str| path.split('.').next().unwrap_or_default().to_string();
    let ported = |root: &str| matches!(root, "alembic" | "sqlalchemy");
    let mut out = Vec::new();
    match words.first().map(String::as_str) {
        Some("import") => {
            for item in words[1..].split(|w| w == ",") {
                let (path, alias) = dotted(item);
                if !ported(&root_of(&path)) {
                    return None;
                }
                match alias {
                    Some(alias) => out.push((alias, path)),
                    None => out.push((root_of(&path), root_of(&path))),
                }
            }
        }
        Some("from") => {
            let at = words.iter().position(|w| w == "import")?;
            let (module, _) = dotted(&words[1..at]);
            if !ported(&root_of(&module)) {
                return None;
            }
            for item in words[at + 1..].split(|w| w == ",") {
                let (name, alias) = dotted(item);
                if name.is_empty() {
                    continue;
                }
                out.push((
                    alias.unwrap_or_else(|| name.clone()),
                    format!("{module}.{name}"),
                ));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// `a . b . c [as x]` as `("a.b.c", Some("x"))`.
fn dotted(words: &[String]) -> (String, Option<String>) {
    match words.iter().position(|w| w == "as") {
        Some(at) => (words[..at].concat(), words.get(at + 1).cloned()),
        None => (words.concat(), None),
    }
}

/// The Python revision script of `revision` (from `source`, the module's
/// path as shown to the user) and the calls in it to port by hand.
pub(crate) fn script(
    revision: &Revision,
    source: &str,
) -> Result<(String, Vec<HandPort>), ImportError> {
    let all = lex(&revision.source, &revision.text)?;
    // Lines to replace: from the line an import starts on, its lines and
    // what to bind instead.
    let mut replaced: BTreeMap<usize, (usize, Vec<String>)> = BTreeMap::new();
    let mut future = Vec::new();
    let mut to_port: Vec<(usize, String)> = Vec::new();
    for line in logical_lines(&all) {
        let first = &line[0];
        let last_line = line.last().map_or(first.line, |t| t.end_line);
        let is_future =
            first.is_name("from") && line.get(1).is_some_and(|t| t.is_name("__future__"));
        if first.col == 0 && is_future {
            future.extend(physical(&revision.text, first.line, last_line));
            replaced.insert(
                first.line,
                (last_line, vec!["# (moved to the top)".to_string()]),
            );
            continue;
        }
        let Some(names) = bound_names(line) else {
            continue;
        };
        if first.col != 0 {
            to_port.push((
                first.line,
                "an indented import of alembic or sqlalchemy".to_string(),
            ));
            continue;
        }
        let bindings = names
            .into_iter()
            .map(|(name, path)| match path.as_str() {
                "alembic.op" => format!("{name} = _alembic.op"),
                _ => format!("{name} = _alembic.unported({path:?})"),
            })
            .collect();
        replaced.insert(first.line, (last_line, bindings));
    }
    // The names that stand for sqlalchemy's `text`, whose SQL `op.execute` takes.
    let text_names: BTreeSet<String> = logical_lines(&all)
        .filter_map(bound_names)
        .flatten()
        .filter(|(_, path)| path.starts_with("sqlalchemy"))
        .map(|(name, _)| name)
        .collect();
    for (i, token) in all.iter().enumerate() {
        if !token.is_name("op") || all.get(i + 1).is_none_or(|t| !t.is_op('.')) {
            continue;
        }
        if i > 0 && all[i - 1].is_op('.') {
            continue;
        }
        let Some(Kind::Name(call)) = all.get(i + 2).map(|t| &t.kind) else {
            continue;
        };
        match call.as_str() {
            "f" => {}
            "execute" if executes_text(&all[i + 3..], &text_names) => {}
            "execute" => to_port.push((
                token.line,
                "op.execute of something other than SQL text (a SQLAlchemy construct)".to_string(),
            )),
            other => to_port.push((token.line, format!("op.{other}"))),
        }
    }
    to_port.sort();
    to_port.dedup();

    let mut out = header(revision, source, &future);
    let mut map: BTreeMap<usize, usize> = BTreeMap::new();
    let physical_lines: Vec<&str> = revision.text.split_inclusive('\n').collect();
    let mut n = 0;
    while n < physical_lines.len() {
        let line_no = n + 1;
        map.insert(line_no, out.lines().count() + 1);
        if let Some((last, bindings)) = replaced.get(&line_no) {
            for original in &physical_lines[n..*last] {
                out.push_str("# ");
                out.push_str(original.trim_end_matches('\n'));
                out.push('\n');
            }
            for binding in bindings {
                out.push_str(binding);
                out.push('\n');
            }
            n = *last;
            continue;
        }
        out.push_str(physical_lines[n]);
        if !physical_lines[n].ends_with('\n') {
            out.push('\n');
        }
        n += 1;
    }
    let ports = to_port
        .into_iter()
        .map(|(source_line, what)| HandPort {
            line: map.get(&source_line).copied().unwrap_or(source_line),
            source_line,
            what,
        })
        .collect();
    Ok((out, ports))
}

/// Whether the tokens after `op.execute` are `("…")` or `(<text>("…"))`.
fn executes_text(after: &[Token], text_names: &BTreeSet<String>) -> bool {
    let Some(open) = after.first().filter(|t| t.is_op('(')) else {
        return false;
    };
    let _ = open;
    match &after[1..] {
        [
            Token {
                kind: Kind::Str(_), ..
            },
            ..,
        ] => true,
        [
            Token {
                kind: Kind::Name(name),
                ..
            },
            dot,
            Token {
                kind: Kind::Name(text),
                ..
            },
            paren,
            Token {
                kind: Kind::Str(_), ..
            },
            ..,
        ] if text_names.contains(name) && dot.is_op('.') && text == "text" && paren.is_op('(') => {
            true
        }
        [
            Token {
                kind: Kind::Name(name),
                ..
            },
            paren,
            Token {
                kind: Kind::Str(_), ..
            },
            ..,
        ] if name == "text" && text_names.contains(name) && paren.is_op('(') => true,
        _ => false,
    }
}

/// Lines `from..=to` of `text`, without their endings.
fn physical(text: &str, from: usize, to: usize) -> Vec<String> {
    text.lines()
        .skip(from - 1)
        .take(to + 1 - from)
        .map(str::to_string)
        .collect()
}

fn header(revision: &Revision, source: &str, future: &[String]) -> String {
    let literal = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let parents: Vec<String> = revision.parents.iter().map(|p| literal(p)).collect();
    let mut out = format!(
        "\"\"\"{message}\n\nImported by `retort import alembic` from {source} (Alembic revision\n{id}). Below Retort's metadata is the Alembic module as written, its\nimports of alembic and sqlalchemy bound to Retort's port: `op.execute(sql)`\nruns `sql` with `db.execute`; any other `op.*` call fails until it is\nrewritten (`retort import` listed each by line). Its own `branch_labels`\nand `depends_on` mean what they mean to Retort.\n\"\"\"\n\n",
        message = revision
            .message
            .replace('\\', "\\\\")
            .replace("\"\"\"", "\\\"\\\"\\\""),
        id = revision.id,
    );
    for line in future {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "from retort import db, log  # noqa: F401\nimport retort_alembic as _alembic\n\nid = {}\nparents = [{}]\nmessage = {}\n\n",
        literal(&revision.id),
        parents.join(", "),
        literal(&revision.message)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERGE: &str = r#""""merge heads

Revision ID: c3
Revises: a1, b2
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import (
    postgresql,
)

revision: str = 'c3'
down_revision: Union[str, Sequence[str], None] = ('a1', 'b2')
branch_labels = None
depends_on = "x" "9"


def upgrade() -> None:
    op.execute("CREATE TABLE t (id int)")
    op.execute(sa.text("INSERT INTO t VALUES (1)"))
    op.add_column('t', sa.Column('y', postgresql.JSONB()))


def downgrade() -> None:
    op.drop_table('t')
"#;

    fn parsed() -> Revision {
        module(Path::new("versions/c3_merge.py"), MERGE.to_string())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn metadata_is_read_without_running_the_module() {
        let r = parsed();
        assert_eq!(r.id, "c3");
        assert_eq!(r.parents, ["a1", "b2"]);
        assert_eq!(r.message, "merge heads");
        assert!(r.branch_labels.is_empty());
        assert_eq!(r.depends_on, ["x9"]);
    }

    #[test]
    fn the_script_binds_ported_imports_and_lists_the_rest() {
        let (text, ports) = script(&parsed(), "versions/c3_merge.py").unwrap();
        assert!(text.contains("\nparents = [\"a1\", \"b2\"]\n"), "{text}");
        assert!(
            text.contains("# from alembic import op\nop = _alembic.op\n"),
            "{text}"
        );
        assert!(
            text.contains("# import sqlalchemy as sa\nsa = _alembic.unported(\"sqlalchemy\")\n")
        );
        assert!(text.contains(
            "#     postgresql,\n# )\npostgresql = _alembic.unported(\"sqlalchemy.dialects.postgresql\")\n"
        ));
        assert!(text.contains("from typing import Sequence, Union\n"));
        let what: Vec<(usize, &str)> = ports
            .iter()
            .map(|p| (p.source_line, p.what.as_str()))
            .collect();
        assert_eq!(what, [(23, "op.add_column"), (27, "op.drop_table")]);
        let lines: Vec<&str> = text.lines().collect();
        for port in &ports {
            assert!(
                lines[port.line - 1].contains(&port.what),
                "{port:?} in\n{text}"
            );
        }
    }

    #[test]
    fn a_computed_down_revision_is_refused_with_its_line() {
        let text = "revision = 'b'\ndown_revision = make()\n".to_string();
        let err = module(Path::new("v/b.py"), text).unwrap_err().to_string();
        assert!(
            err.starts_with("v/b.py:2: `down_revision` is not a literal"),
            "{err}"
        );
    }

    #[test]
    fn a_loop_in_the_chain_is_refused() {
        let one = |id: &str, parent: &str| Revision {
            id: id.into(),
            parents: vec![parent.into()],
            message: String::new(),
            branch_labels: Vec::new(),
            depends_on: Vec::new(),
            source: PathBuf::from(format!("{id}.py")),
            text: String::new(),
        };
        let err = chain_order(vec![one("a", "b"), one("b", "a")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("loops back"), "{err}");
    }
}
