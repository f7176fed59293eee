//! What runs a revision: its own component, or an interpreter component with
//! the revision's script as data.

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

/// A revision ready to instantiate. Cloning is cheap (shared handles).
#[derive(Clone)]
pub struct Program {
    component: Component,
    script: Option<Arc<Script>>,
    expected: Option<Arc<RevisionInfo>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("script", &self.script.as_ref().map(|s| &s.path))
            .finish_non_exhaustive()
    }
}

impl Program {
    /// A revision component (the `revision` world).
    pub fn component(component: Component) -> Program {
        Program {
            component,
            script: None,
            expected: None,
        }
    }

    /// A script run by an interpreter component (the `script-runner` world).
    pub fn script(interpreter: Component, script: Arc<Script>) -> Program {
        Program {
            component: interpreter,
            script: Some(script),
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

    /// The component that is instantiated: the revision's own, or the interpreter.
    pub fn compiled(&self) -> &Component {
        &self.component
    }

    /// The script, when an interpreter runs this revision.
    pub fn script_source(&self) -> Option<&Script> {
        self.script.as_deref()
    }
}
