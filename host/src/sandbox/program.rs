//! What runs a revision: its own component, an interpreter component with
//! the revision's script as data, or the host itself sending a SQL file's
//! statements one by one through the same `database` implementation.

use std::sync::Arc;

use wasmtime::component::Component;

use super::RevisionInfo;

/// A revision script, as an interpreter receives it.
#[derive(Debug, PartialEq, Eq)]
pub struct Script {
    /// The name stack traces and error messages show (the file's name).
    pub path: String,
    /// The source text.
    pub source: String,
}

/// One direction of a SQL revision: a file, or a section of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSection {
    /// The file's name, for messages (`file:line`).
    pub file: String,
    /// The SQL text, exactly as written.
    pub text: String,
    /// The line of the file `text` starts on (1-based).
    pub first_line: usize,
}

/// A plain SQL revision's statements, by direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRevision {
    /// What `upgrade` runs.
    pub up: SqlSection,
    /// What `downgrade` runs; `None`: it cannot be downgraded.
    pub down: Option<SqlSection>,
}

#[derive(Clone)]
enum Body {
    Component(Component),
    Script(Component, Arc<Script>),
    Sql(Arc<SqlRevision>),
}

/// A revision ready to instantiate. Cloning is cheap (shared handles).
#[derive(Clone)]
pub struct Program {
    body: Body,
    expected: Option<Arc<RevisionInfo>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("script", &self.script_source().map(|s| &s.path))
            .field("sql", &self.sql_revision().map(|s| &s.up.file))
            .finish_non_exhaustive()
    }
}

impl Program {
    /// A revision component (the `revision` world).
    pub fn component(component: Component) -> Program {
        Program {
            body: Body::Component(component),
            expected: None,
        }
    }

    /// A script run by an interpreter component (the `script-runner` world).
    pub fn script(interpreter: Component, script: Arc<Script>) -> Program {
        Program {
            body: Body::Script(interpreter, script),
            expected: None,
        }
    }

    /// A plain SQL revision, run by the host.
    pub fn sql(revision: Arc<SqlRevision>) -> Program {
        Program {
            body: Body::Sql(revision),
            expected: None,
        }
    }

    /// The same program, to be checked against `info` in the very instance
    /// that runs it, rather than in an instance of its own: the check then
    /// costs a call, not a second instantiation (of a whole interpreter,
    /// for a script).
    pub fn expecting(mut self, info: RevisionInfo) -> Program {
        self.expected = Some(Arc::new(info));
        self
    }

    /// The metadata the call must find the program reporting, if set.
    pub fn expected_info(&self) -> Option<&RevisionInfo> {
        self.expected.as_deref()
    }

    /// The component that is instantiated: the revision's own, or the
    /// interpreter; `None` for SQL.
    pub fn compiled(&self) -> Option<&Component> {
        match &self.body {
            Body::Component(component) | Body::Script(component, _) => Some(component),
            Body::Sql(_) => None,
        }
    }

    /// The script, when an interpreter runs this revision.
    pub fn script_source(&self) -> Option<&Script> {
        match &self.body {
            Body::Script(_, script) => Some(script),
            _ => None,
        }
    }

    /// The statements, for a plain SQL revision.
    pub fn sql_revision(&self) -> Option<&SqlRevision> {
        match &self.body {
            Body::Sql(revision) => Some(revision),
            _ => None,
        }
    }
}
