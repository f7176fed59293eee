//! `retort completions bash|zsh|fish|…`: the shell completion script, made
//! by clap_complete from the same definitions as `--help`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn write(shell: Shell) {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "retort", &mut script);
    // A closed pipe (`retort completions bash | head`) is not an error.
    let _ = std::io::stdout().lock().write_all(&script);
}
