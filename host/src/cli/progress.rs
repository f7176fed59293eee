//! Progress for people at a terminal: an indicatif bar on stderr (revision
//! n/N and the current id, or targets n/N in a fan-out) with the progress
//! lines printed above it. Without a terminal, with `--quiet`, or with
//! `--format json`, there is no bar: lines go to stderr as they are (or
//! nowhere, when quiet). `NO_COLOR` turns colour off.

use std::cell::OnceCell;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress lines, with a bar when stderr is a terminal. The bar appears
/// once there is something to count (a plan with steps).
#[derive(Debug)]
pub struct Progress {
    bar: OnceCell<ProgressBar>,
    /// Whether a bar may be drawn at all.
    drawable: bool,
    unit: String,
    quiet: bool,
}

/// Whether colour is wanted: not when `NO_COLOR` is set to anything non-empty
/// (<https://no-color.org>), nor on a dumb terminal.
pub fn color_enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb
}

impl Progress {
    /// Progress that prints lines (unless `quiet`) and, when `bar` is wanted
    /// and stderr is a terminal that can draw one, a bar of `total` `unit`s.
    pub fn new(quiet: bool, bar: bool, total: u64, unit: &str) -> Progress {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        let progress = Progress {
            bar: OnceCell::new(),
            drawable: bar && !quiet && terminal,
            unit: unit.to_string(),
            quiet,
        };
        progress.set_total(total);
        progress
    }

    fn draw(&self, total: u64) -> ProgressBar {
        let unit = &self.unit;
        let template = if color_enabled() {
            format!("{{spinner:.cyan}} [{{pos}}/{{len}} {unit}] {{bar:30.cyan/blue}} {{msg}}")
        } else {
            format!("{{spinner}} [{{pos}}/{{len}} {unit}] {{bar:30}} {{msg}}")
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Progress with no bar and no lines.
    pub fn silent() -> Progress {
        Progress {
            bar: OnceCell::new(),
            drawable: false,
            unit: String::new(),
            quiet: true,
        }
    }

    /// Prints a line on stderr (above the bar), unless quiet.
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let text = &*crate::printable::printable(text);
        match self.bar.get() {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Sets the bar's length (once the plan is known), drawing it from now on.
    pub fn set_total(&self, total: u64) {
        match self.bar.get() {
            Some(bar) => bar.set_length(total),
            None if self.drawable && total > 0 => {
                let _ = self.bar.set(self.draw(total));
            }
            None => {}
        }
    }

    /// Shows what is running now.
    pub fn working_on(&self, message: &str) {
        if let Some(bar) = self.bar.get() {
            bar.set_message(crate::printable::one_line(message).into_owned());
        }
    }

    /// One more step done.
    pub fn advance(&self) {
        if let Some(bar) = self.bar.get() {
            bar.inc(1);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
