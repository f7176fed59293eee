//! Runs a plain SQL revision: its statements, split with the target's
//! lexer, each sent through the same `database` implementation a
//! component's calls go through (budgets, the host's rules, the policy,
//! the digest), so a `.sql` file is held to every rule a component is.

use super::bindings::retort::migration::database::Host as _;
use super::{HostState, SqlRevision, SqlSection};
use crate::dialect::split;
use crate::graph::Direction;

/// Runs `revision`'s `direction`. The inner `Err` is the failure as
/// `file:line: message`, the statement kept as the call's last failure.
pub(super) async fn run(
    state: &mut HostState,
    revision: &SqlRevision,
    direction: Direction,
) -> wasmtime::Result<Result<(), String>> {
    let section = match direction {
        Direction::Upgrade => &revision.up,
        Direction::Downgrade => match &revision.down {
            Some(down) => down,
            None => {
                return Ok(Err(format!(
                    "{}: it has no downgrade (add a `-- retort:down` section, or a .down.sql file beside it): nothing was run",
                    revision.up.file
                )));
            }
        },
    };
    let dialect = state.sink()?.dialect();
    for statement in split::statements(&section.text, dialect) {
        let at = format!("{}:{}", section.file, line_in_file(section, statement.line));
        if let Some(refusal) = client_command(statement.text) {
            return Ok(Err(format!("{at}: {refusal}")));
        }
        match state.execute(statement.text.to_string(), Vec::new()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Ok(Err(format!("{at}: {}", error.message))),
            Err(trap) => {
                if let Some(refused) = state.refused.as_mut() {
                    *refused = format!("{at}: {refused}");
                }
                return Err(trap);
            }
        }
    }
    Ok(Ok(()))
}

fn line_in_file(section: &SqlSection, line: usize) -> usize {
    section.first_line + line - 1
}

/// A command of psql or the mysql client rather than SQL, which no server
/// understands: said plainly instead of a syntax error.
fn client_command(statement: &str) -> Option<String> {
    let first = statement.split_whitespace().next().unwrap_or_default();
    if first.eq_ignore_ascii_case("DELIMITER") {
        return Some(
            "DELIMITER is a command of the mysql client, not SQL: remove it and end the routine with `END;` (Retort keeps a BEGIN … END body together)"
                .to_string(),
        );
    }
    if first.starts_with('\\') {
        return Some(format!(
            "{first} is a psql meta-command, not SQL: a SQL revision holds statements only"
        ));
    }
    None
}
