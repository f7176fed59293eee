//! The single gate to wasmtime: one engine, one linker, one store per call.
//!
//! A revision sees the `database` and `log` imports and a WASI that grants
//! nothing. Everything it does to the database goes to the [`Sink`] the
//! caller hands in, which comes back out with the [`Outcome`].

mod bindings;
mod wasi;

use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::graph::Direction;
use crate::sink::{Mode, Sink};
use crate::value::{DbError, Value};
use bindings::retort::migration::{database, log, types};

/// What a revision says about itself (the WIT `revision-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    /// Unique id.
    pub id: String,
    /// Parent ids.
    pub down_revisions: Vec<String>,
    /// One-line description.
    pub message: String,
    /// Branch labels.
    pub branch_labels: Vec<String>,
    /// Non-parent dependencies.
    pub depends_on: Vec<String>,
    /// False to run outside a transaction.
    pub transactional: bool,
}

/// A message a revision logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message.
    pub message: String,
}

/// The last statement the database refused during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStatement {
    /// The statement as the revision wrote it.
    pub sql: String,
    /// What the database (or host) said.
    pub error: DbError,
}

/// How a call into a revision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// It returned `ok`.
    Completed,
    /// It returned `error(message)`.
    Returned(String),
    /// It trapped (a panic, an `unreachable`, a host refusal) or could not be instantiated.
    Trapped(String),
}

/// Everything a call produced besides the sink it borrowed.
#[derive(Debug)]
pub struct Outcome {
    /// How the call ended.
    pub result: CallResult,
    /// What the revision logged.
    pub logs: Vec<LogLine>,
    /// The last statement that failed, if any.
    pub last_failure: Option<FailedStatement>,
    /// How many statements the revision sent (or recorded).
    pub statements: u64,
    /// How many of them the database accepted.
    pub succeeded: u64,
    /// Whether a statement that commits on its own (DDL on MySQL) was run,
    /// successfully or as part of a failing script.
    pub implicit_commit: bool,
    /// What the revision wrote to stderr (a Rust panic message, say), trimmed.
    pub stderr: String,
    /// Wall-clock time of instantiation and the call.
    pub elapsed: Duration,
}

/// Per-call store state: the borrowed sink and what the call leaves behind.
struct HostState {
    sink: Option<Sink>,
    wasi: WasiCtx,
    table: ResourceTable,
    logs: Vec<LogLine>,
    last_failure: Option<FailedStatement>,
    statements: u64,
    succeeded: u64,
    implicit_commit: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    fn sink(&mut self) -> wasmtime::Result<&mut Sink> {
        self.sink.as_mut().ok_or_else(|| {
            wasmtime::format_err!("info() must not use the database: it is read before any run")
        })
    }

    /// Keeps what a run's failure report and its dirty-state decision need.
    fn account<T>(&mut self, sql: &str, params: &[Value], result: &Result<T, DbError>) {
        let dialect = self.sink.as_ref().map(Sink::dialect);
        let commits = dialect.is_some_and(|d| d.commits_implicitly(sql));
        match result {
            Ok(_) => {
                self.succeeded += 1;
                self.implicit_commit |= commits;
            }
            Err(error) => {
                // A failing script may have run (and committed) its first statements.
                self.implicit_commit |= commits && params.is_empty();
                self.last_failure = Some(FailedStatement {
                    sql: sql.to_string(),
                    error: error.clone(),
                });
            }
        }
    }
}

impl types::Host for HostState {}

impl database::Host for HostState {
    async fn dialect(&mut self) -> wasmtime::Result<types::SqlDialect> {
        use crate::dialect::Dialect;
        Ok(match self.sink()?.dialect() {
            Dialect::Sqlite => types::SqlDialect::Sqlite,
            Dialect::Postgres => types::SqlDialect::Postgres,
            Dialect::Mysql => types::SqlDialect::Mysql,
        })
    }

    async fn mode(&mut self) -> wasmtime::Result<types::RunMode> {
        Ok(match self.sink()?.mode() {
            Mode::Online => types::RunMode::Online,
            Mode::Offline => types::RunMode::Offline,
        })
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        let params: Vec<Value> = params.into_iter().map(from_wit).collect();
        self.statements += 1;
        let result = self.sink()?.execute(&sql, &params).await;
        self.account(&sql, &params, &result);
        Ok(result.map_err(to_wit_error))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::Rows, types::DbError>> {
        let params: Vec<Value> = params.into_iter().map(from_wit).collect();
        self.statements += 1;
        let result = self.sink()?.query(&sql, &params).await;
        self.account(&sql, &params, &result);
        Ok(result
            .map(|rows| types::Rows {
                columns: rows.columns,
                values: rows
                    .values
                    .into_iter()
                    .map(|row| row.into_iter().map(to_wit).collect())
                    .collect(),
            })
            .map_err(to_wit_error))
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        tracing::debug!(level, %message, "revision log");
        self.logs.push(LogLine { level, message });
        Ok(())
    }
}

fn from_wit(v: types::Value) -> Value {
    match v {
        types::Value::Null => Value::Null,
        types::Value::Boolean(b) => Value::Boolean(b),
        types::Value::Integer(i) => Value::Integer(i),
        types::Value::Float(f) => Value::Float(f),
        types::Value::Text(s) => Value::Text(s),
        types::Value::Blob(b) => Value::Blob(b),
    }
}

fn to_wit(v: Value) -> types::Value {
    match v {
        Value::Null => types::Value::Null,
        Value::Boolean(b) => types::Value::Boolean(b),
        Value::Integer(i) => types::Value::Integer(i),
        Value::Float(f) => types::Value::Float(f),
        Value::Text(s) => types::Value::Text(s),
        Value::Blob(b) => types::Value::Blob(b),
    }
}

fn to_wit_error(e: DbError) -> types::DbError {
    types::DbError {
        code: e.code,
        message: e.message,
    }
}

/// A wasmtime error as one readable line: its causes, without the wasm
/// backtrace (which names only function indices; `-vv` logs it).
fn describe(e: &wasmtime::Error) -> String {
    tracing::debug!("component error: {e:?}");
    e.chain()
        .map(|cause| cause.to_string())
        .filter(|text| !text.starts_with("error while executing at wasm backtrace"))
        .collect::<Vec<_>>()
        .join(": ")
}

/// The engine and linker every revision runs in.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Builds the engine and links `database`, `log` and deny-all WASI.
    pub fn new() -> Result<Sandbox, wasmtime::Error> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Revision::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        Ok(Sandbox { engine, linker })
    }

    /// Compiles component bytes (or component text, WAT).
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, String> {
        Component::new(&self.engine, bytes).map_err(|e| describe(&e))
    }

    fn store(&self, sink: Option<Sink>) -> (Store<HostState>, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(wasi::STDERR_CAPACITY);
        let state = HostState {
            sink,
            wasi: wasi::deny_all(stderr.clone()),
            table: ResourceTable::new(),
            logs: Vec::new(),
            last_failure: None,
            statements: 0,
            succeeded: 0,
            implicit_commit: false,
        };
        (Store::new(&self.engine, state), stderr)
    }

    /// Instantiates the component and reads its `info()`.
    pub async fn info(&self, component: &Component) -> Result<RevisionInfo, String> {
        let (mut store, stderr) = self.store(None);
        let fail = |e: wasmtime::Error| with_stderr(describe(&e), &stderr);
        let instance = bindings::Revision::instantiate_async(&mut store, component, &self.linker)
            .await
            .map_err(fail)?;
        let info = instance.call_info(&mut store).await.map_err(fail)?;
        Ok(RevisionInfo {
            id: info.id,
            down_revisions: info.down_revisions,
            message: info.message,
            branch_labels: info.branch_labels,
            depends_on: info.depends_on,
            transactional: info.transactional,
        })
    }

    /// Runs `upgrade` or `downgrade` in a fresh store, sending statements to
    /// `sink`, and hands the sink back with what the call produced.
    pub async fn call(
        &self,
        component: &Component,
        direction: Direction,
        sink: Sink,
    ) -> (Sink, Outcome) {
        let started = Instant::now();
        let (mut store, stderr) = self.store(Some(sink));
        let result = async {
            let instance =
                bindings::Revision::instantiate_async(&mut store, component, &self.linker).await?;
            match direction {
                Direction::Upgrade => instance.call_upgrade(&mut store).await,
                Direction::Downgrade => instance.call_downgrade(&mut store).await,
            }
        }
        .await;
        let elapsed = started.elapsed();
        let result = match result {
            Ok(Ok(())) => CallResult::Completed,
            Ok(Err(message)) => CallResult::Returned(message),
            Err(trap) => CallResult::Trapped(describe(&trap)),
        };
        let state = store.into_data();
        let sink = state.sink.expect("the sink is only taken out here");
        let outcome = Outcome {
            result,
            logs: state.logs,
            last_failure: state.last_failure,
            statements: state.statements,
            succeeded: state.succeeded,
            implicit_commit: state.implicit_commit,
            stderr: String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_string(),
            elapsed,
        };
        (sink, outcome)
    }
}

fn with_stderr(message: String, stderr: &MemoryOutputPipe) -> String {
    let text = String::from_utf8_lossy(&stderr.contents())
        .trim()
        .to_string();
    if text.is_empty() {
        message
    } else {
        format!("{message}; the component wrote: {text}")
    }
}
