//! What a person sees while an interpreter compiles (seconds, once per
//! machine): a spinner on a terminal, a line in logs, an event in JSON.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::args::Format;
use super::obj::Obj;
use super::output::{Ui, json_line};
use crate::catalog::compile_notice::{self, Compiled, Notice};

/// The spinner of the interpreter compile under way, if any.
static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Installs the observer of compiles for this process.
pub fn install(ui: Ui) {
    compile_notice::observe(move |notice| match ui.format {
        Format::Json => {
            // Revisions compile in milliseconds: only interpreters get an event.
            if let Notice::Finished(what @ Compiled::Interpreter(_), elapsed) = notice {
                json_line(
                    &Obj::event("compiled")
                        .with("what", json!(what.to_string()))
                        .with("duration_ms", json!(elapsed.as_millis() as u64)),
                );
            }
        }
        Format::Human if ui.quiet => {}
        Format::Human => human(notice),
    });
}

fn human(notice: Notice<'_>) {
    // A revision compiles in milliseconds: only interpreters are worth a word.
    let mut spinner = SPINNER.lock().unwrap_or_else(|e| e.into_inner());
    match notice {
        Notice::Started(what @ Compiled::Interpreter(_)) => {
            let text = format!(
                "compiling {what} to native code (once per machine and Retort version; it takes a few seconds)"
            );
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    )
                    .with_message(text);
                bar.enable_steady_tick(Duration::from_millis(120));
                *spinner = Some(bar);
            } else {
                eprintln!("{text}");
            }
        }
        Notice::Finished(what @ Compiled::Interpreter(_), elapsed) => {
            if let Some(bar) = spinner.take() {
                bar.finish_and_clear();
            }
            eprintln!(
                "compiled {what} in {:.1} s (cached: later runs load it)",
                elapsed.as_secs_f64()
            );
        }
        _ => {}
    }
}

/// The summary's words on compiles in this process, if there were any:
/// `compiled 2 component(s) in 9.8 s first`.
pub fn summary() -> Option<String> {
    let (count, time) = compile_notice::totals();
    (count > 0).then(|| {
        format!(
            "compiled {count} component(s) first, in {:.1} s (cached for the next run)",
            time.as_secs_f64()
        )
    })
}
