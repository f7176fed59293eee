//! What the database says besides results: PostgreSQL NOTICE and WARNING
//! messages ("drop cascades to 29 other objects"), which psql shows by
//! default, and MySQL's warnings and notes (`SHOW WARNINGS`), which the
//! mariadb client counts. PostgreSQL's driver reports them as tracing
//! events; [`layer`] collects those of the call being [`collect`]ed (a
//! task-local, so parallel targets never see each other's), the MySQL
//! connection [`push`]es what `SHOW WARNINGS` returns, and the call hands
//! them back with its logs.

use std::cell::RefCell;
use std::future::Future;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The driver's tracing target for server notices.
pub const TARGET: &str = "sqlx::postgres::notice";

tokio::task_local! {
    static NOTICES: RefCell<Vec<(Level, String)>>;
}

/// Runs `call`, returning what it produced and the notices received while it ran.
pub async fn collect<F: Future>(call: F) -> (F::Output, Vec<(Level, String)>) {
    NOTICES
        .scope(RefCell::new(Vec::new()), async {
            let output = call.await;
            let notices = NOTICES.with(|n| n.take());
            (output, notices)
        })
        .await
}

/// Whether a [`collect`] is running on this task: only then are notices
/// worth asking the database for.
pub fn collecting() -> bool {
    NOTICES.try_with(|_| ()).is_ok()
}

/// Adds a notice to the running [`collect`] (none running: dropped).
pub fn push(level: Level, message: String) {
    let _ = NOTICES.try_with(|n| n.borrow_mut().push((level, message)));
}

/// The tracing layer that hands notices to [`collect`].
pub fn layer<S: Subscriber>() -> impl Layer<S> {
    Collector
}

struct Collector;

impl<S: Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let level = *event.metadata().level();
        let _ = NOTICES.try_with(|n| n.borrow_mut().push((level, message.0)));
    }
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
