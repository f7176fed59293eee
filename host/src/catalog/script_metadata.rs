//! A Python revision script's metadata read from its text, without the
//! interpreter, when the text leaves no doubt: so that `history`, `heads`
//! and planning need not compile CPython on a cold machine.
//!
//! The interpreter's rule (`interpreters/python/runner.py`) is what the
//! module namespace holds after the module ran. This reader decides only
//! when each metadata name (`id`, `parents`, `message`, `branch_labels`,
//! `depends_on`, `transactional`) is bound at most once, by a top-level
//! `name = literal` (or `name: T = literal`), and appears nowhere else but
//! as an attribute (`x.id`); when no star import and nothing that binds
//! names dynamically (`globals`, `exec`, `setattr`, …) is in the file; and
//! when each value is a plain literal of the right kind. Anything else is
//! left to the interpreter, as before. The live `info()` is checked before
//! the script runs, as for metadata from the cache.

use std::collections::HashMap;

use crate::import::alembic::{assigned, literal, one_string};
use crate::import::python::{Kind, Token, logical_lines, tokens};
use crate::sandbox::RevisionInfo;

const NAMES: [&str; 6] = [
    "id",
    "parents",
    "message",
    "branch_labels",
    "depends_on",
    "transactional",
];

/// Names through which a module can bind its globals other than by
/// assignment.
const DYNAMIC: [&str; 13] = [
    "globals",
    "locals",
    "vars",
    "exec",
    "eval",
    "compile",
    "setattr",
    "delattr",
    "__dict__",
    "__builtins__",
    "__import__",
    "importlib",
    "sys",
];

/// The script's metadata, when its text decides it.
pub fn read_python(source: &str) -> Option<RevisionInfo> {
    let all = tokens(source).ok()?;
    for (i, token) in all.iter().enumerate() {
        match &token.kind {
            Kind::Name(name) if DYNAMIC.contains(&name.as_str()) => return None,
            Kind::Name(name) if name == "global" || name == "nonlocal" => return None,
            Kind::Op('*') if i > 0 && all[i - 1].is_name("import") => return None,
            _ => {}
        }
    }
    let mut values: HashMap<&str, &[Token]> = HashMap::new();
    let mut targets: Vec<(usize, usize)> = Vec::new();
    for line in logical_lines(&all) {
        let Some(first) = line.first() else { continue };
        let Kind::Name(name) = &first.kind else {
            continue;
        };
        let Some(&name) = NAMES.iter().find(|n| *n == name) else {
            continue;
        };
        if first.col != 0 {
            continue;
        }
        let value = assigned(line)?;
        let value = match value.last() {
            Some(t) if t.kind == Kind::Newline => &value[..value.len() - 1],
            _ => value,
        };
        if values.insert(name, value).is_some() {
            return None;
        }
        targets.push((first.line, first.col));
    }
    for (i, token) in all.iter().enumerate() {
        if let Kind::Name(name) = &token.kind
            && NAMES.contains(&name.as_str())
            && !targets.contains(&(token.line, token.col))
            && !(i > 0 && all[i - 1].is_op('.'))
        {
            return None;
        }
    }
    // Only plain strings: an f-string or bytes would not be what it reads as.
    let plain = |value: &[Token]| {
        value.iter().all(|t| match t.kind {
            Kind::Str(_) => plain_prefix(source, t),
            _ => true,
        })
    };
    if !values.values().all(|v| plain(v)) {
        return None;
    }
    let strings = |name: &str| match values.get(name) {
        None => Some(Vec::new()),
        Some(value) => literal(value),
    };
    Some(RevisionInfo {
        id: one_string(values.get("id")?)?,
        down_revisions: strings("parents")?,
        message: match values.get("message") {
            None => String::new(),
            Some(value) => one_string(value)?,
        },
        branch_labels: strings("branch_labels")?,
        depends_on: strings("depends_on")?,
        transactional: match values.get("transactional") {
            None => true,
            Some([t]) if t.is_name("False") => false,
            Some([t]) if t.is_name("True") || t.is_name("None") => true,
            Some(_) => return None,
        },
    })
}

/// Whether the string literal at `token` has no `f` or `b` prefix.
fn plain_prefix(source: &str, token: &Token) -> bool {
    let Some(line) = source.lines().nth(token.line.saturating_sub(1)) else {
        return false;
    };
    let prefix: String = line
        .chars()
        .skip(token.col)
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    !prefix.chars().any(|c| matches!(c, 'f' | 'F' | 'b' | 'B'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_metadata_is_read() {
        let info = read_python(
            "\"\"\"A docstring.\"\"\"\nfrom retort import db\n\nid = \"f00000000001\"\nparents: list = ['a', \"b\"]\nmessage = 'add ' 'things'\nbranch_labels = None\ntransactional = False\n\ndef upgrade():\n    db.execute('CREATE TABLE t (id INTEGER)', [])\n    x.id = 3\n",
        )
        .unwrap();
        assert_eq!(info.id, "f00000000001");
        assert_eq!(info.down_revisions, ["a", "b"]);
        assert_eq!(info.message, "add things");
        assert!(info.branch_labels.is_empty() && info.depends_on.is_empty());
        assert!(!info.transactional);
        let single = read_python("id = 'x'\nparents = 'p'\n").unwrap();
        assert_eq!(single.down_revisions, ["p"]);
        assert!(single.transactional);
    }

    #[test]
    fn anything_that_is_not_certain_is_left_to_the_interpreter() {
        for source in [
            "id = 'a'\nid = 'b'\n",
            "id = 'a'\nif x:\n    id = 'b'\n",
            "id = 'a'\ndef upgrade(id=None):\n    pass\n",
            "id = 'a'\nfor message in []:\n    pass\n",
            "id = f'a{1}'\n",
            "id = b'a'\n",
            "id = 'a' + 'b'\n",
            "id = 'a'\nparents = compute()\n",
            "id = 'a'\nfrom helpers import *\n",
            "id = 'a'\nglobals()['parents'] = ['b']\n",
            "id = 'a'\ntransactional = 0\n",
            "id = 'a'\nimport sys\n",
            "message = 'no id'\n",
            "id += 'a'\n",
        ] {
            assert_eq!(read_python(source), None, "{source}");
        }
    }
}
