//! One instantiated program, whichever world it implements: a revision
//! component (`revision`) or an interpreter running a script
//! (`script-runner`). The sandbox calls both the same way.

use wasmtime::Store;
use wasmtime::component::Linker;

use super::bindings::{self, retort::migration::types, script_runner};
use super::{HostState, Program, RevisionInfo, Script};
use crate::graph::Direction;
use script_runner::retort::migration::scripts;

/// An instance of a [`Program`], ready for calls.
pub(super) enum Instance<'a> {
    /// A revision component.
    Revision(bindings::Revision),
    /// An interpreter with the script it is to run.
    Script {
        runner: script_runner::ScriptRunner,
        script: &'a Script,
        wit: scripts::Script,
    },
}

impl<'a> Instance<'a> {
    /// Instantiates `program` in `store`.
    pub(super) async fn new(
        store: &mut Store<HostState>,
        program: &'a Program,
        linker: &Linker<HostState>,
    ) -> wasmtime::Result<Instance<'a>> {
        let component = program.compiled().ok_or_else(|| {
            wasmtime::format_err!("a SQL revision has no component to instantiate")
        })?;
        Ok(match program.script_source() {
            None => Instance::Revision(
                bindings::Revision::instantiate_async(&mut *store, component, linker).await?,
            ),
            Some(script) => Instance::Script {
                runner: script_runner::ScriptRunner::instantiate_async(
                    &mut *store,
                    component,
                    linker,
                )
                .await?,
                script,
                wit: scripts::Script {
                    path: script.path.clone(),
                    source: script.source.clone(),
                },
            },
        })
    }

    /// The revision's `info()`; a script's exception is the inner `Err`.
    pub(super) async fn info(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<RevisionInfo, String>> {
        Ok(match self {
            Instance::Revision(revision) => Ok(revision.call_info(store).await?),
            Instance::Script {
                runner,
                script,
                wit,
            } => runner
                .call_info(store, wit)
                .await?
                .map_err(|e| script_error(script, e)),
        }
        .map(from_wit_info))
    }

    /// Runs `upgrade` or `downgrade`; the revision's error (a script's
    /// exception, as `file:line: message`) is the inner `Err`.
    pub(super) async fn run(
        &self,
        store: &mut Store<HostState>,
        direction: Direction,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::Revision(revision) => match direction {
                Direction::Upgrade => revision.call_upgrade(store).await,
                Direction::Downgrade => revision.call_downgrade(store).await,
            },
            Instance::Script {
                runner,
                script,
                wit,
            } => {
                let result = match direction {
                    Direction::Upgrade => runner.call_upgrade(store, wit).await?,
                    Direction::Downgrade => runner.call_downgrade(store, wit).await?,
                };
                Ok(result.map_err(|e| script_error(script, e)))
            }
        }
    }
}

fn from_wit_info(info: types::RevisionInfo) -> RevisionInfo {
    RevisionInfo {
        id: info.id,
        down_revisions: info.down_revisions,
        message: info.message,
        branch_labels: info.branch_labels,
        depends_on: info.depends_on,
        transactional: info.transactional,
    }
}

/// A script's exception as one line: `file:line: message`.
fn script_error(script: &Script, error: scripts::ScriptError) -> String {
    match error.line {
        Some(line) => format!("{}:{line}: {}", script.path, error.message),
        None => format!("{}: {}", script.path, error.message),
    }
}
