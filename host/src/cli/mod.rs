//! The `retort` command line: flags in, library calls, human output out.

mod args;
mod commands;
mod compiling;
mod completions;
mod fanout;
mod graph;
mod init;
mod json;
mod lint;
mod migrate;
mod obj;
mod output;
mod progress;
mod report;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use args::{Cli, Command, Format};

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbosity, cli.global.quiet);
    let format = cli.global.format;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            match format {
                Format::Json => output::json_line(&output::error_json(&e)),
                Format::Human => {
                    let message = e.to_string();
                    let _ = writeln!(
                        std::io::stderr(),
                        "error: {}",
                        crate::printable::printable(&message)
                    );
                }
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Diagnostics on stderr: `-v` shows each revision's span as it closes
/// (with its time), `-vv` each statement, `-vvv` statement texts and the
/// driver's own log, `-vvvv` everything (wasmtime included). `RUST_LOG`
/// (e.g. `RUST_LOG=retort=debug`) overrides the flags.
fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,retort=info",
        (false, 2) => "warn,retort=debug",
        (false, 3) => "warn,retort=trace,sqlx=debug",
        _ => "trace",
    };
    // The database's notices are shown with each revision's logs (see
    // sink::notices), not a second time as the driver's log lines.
    let default = format!("{default},{}=off", crate::sink::notices::TARGET);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(
            progress::color_enabled() && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_filter(filter);
    let notices = crate::sink::notices::layer().with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target(crate::sink::notices::TARGET, tracing::Level::INFO),
    );
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(notices)
        .try_init();
}
