//! The single gate to wasmtime: one engine, one linker, one store per call.
//!
//! A revision sees the `database` and `log` imports and a WASI that grants
//! nothing. Everything it does to the database goes to the [`Sink`] the
//! caller hands in, which comes back out with the [`Outcome`].

mod bindings;
mod bodies;
mod compiler;
mod cpu;
pub mod deny;
pub mod guard;
mod imports;
mod instance;
pub mod limits;
pub mod policy;
mod pool;
mod program;
mod sql_run;
mod trust;
mod wasi;

use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::graph::Direction;
use crate::sink::{Mode, QueryError, Sink};
use crate::value::{DbError, Value};
use bindings::retort::migration::{database, log, types};
use cpu::{CpuMeter, Metered, SharedMeter};
pub use deny::DenyList;
pub use guard::Guard;
pub use limits::{Exhausted, Limits, LimitsSpec};
pub use policy::{Policy, PolicySpec};
pub use program::{Program, Script, SqlRevision, SqlSection};
pub use trust::Trust;

use bindings::script_runner::retort::migration::scripts;
use instance::Instance;

/// What one revision may do: its budgets, the host's own rules and,
/// optionally, a SQL policy.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The budgets.
    pub limits: Limits,
    /// The SQL policy; `None` lets every statement through unparsed.
    pub policy: Option<Policy>,
    /// What the host keeps to itself (always checked).
    pub guard: Guard,
    /// What reaches outside the database (always checked, less the rules a
    /// first-party revision is exempted from).
    pub deny: DenyList,
    /// The schema (or database) unqualified names and table patterns mean;
    /// `None`: where the connection's session puts them.
    pub home: Option<String>,
    /// SQLite: the prefix every table a revision touches must have (a
    /// source's scope), enforced by the authorizer.
    pub table_prefix: Option<String>,
}

/// What each log call costs its budget besides its text: the line the host
/// keeps and shows for it.
const LOG_OVERHEAD: usize = 64;

/// The stack a revision's calls run on (its wasm code gets wasmtime's
/// default 512 KiB of it; the host's imports, the SQL checks among them,
/// the rest). Reserved per pooled store, backed only where touched. The
/// policy parser needs tens of KiB per nesting level up to its limit of 50.
pub const HOST_CALL_STACK: usize = 8 << 20;

/// How often the engine's epoch advances: the resolution of wall-clock budgets.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    /// It ran out of a budget (the message names it and how to raise it).
    OverBudget(String),
    /// The SQL policy refused one of its statements.
    Refused(String),
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

/// Per-call store state: the borrowed sink, the call's rules, and what the
/// call leaves behind.
struct HostState {
    sink: Option<Sink>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
    policy: Option<Policy>,
    /// SQL texts the policy already passed in this call: a verdict depends
    /// only on the text (and this call's policy and home), and a loop of
    /// bound inserts sends one text many times.
    policy_passed: std::collections::HashSet<String>,
    guard: Guard,
    deny: DenyList,
    home: Option<String>,
    deadline: Instant,
    /// CPU time of guest execution: what the CPU budget counts.
    cpu: SharedMeter,
    log_used: usize,
    /// SQL text and parameter bytes sent (or recorded) so far.
    sql_used: usize,
    /// The budget the revision ran out of, if it did.
    exhausted: Option<Exhausted>,
    /// Why a statement was refused (by the host's rules or the policy), if one was.
    refused: Option<String>,
    /// What the host did about a statement it gave up on, if it did.
    abandoned: Option<String>,
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

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            return Err(self.exhaust(Exhausted::Memory(self.limits.memory_bytes, desired)));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            return Err(self.exhaust(Exhausted::Table(self.limits.table_elements)));
        }
        Ok(true)
    }
}

impl HostState {
    /// Notes the exhausted budget and returns the trap that stops the guest.
    fn exhaust(&mut self, what: Exhausted) -> wasmtime::Error {
        self.exhausted = Some(what);
        wasmtime::format_err!("budget exhausted")
    }

    /// Everything checked before a statement goes to the sink: time left,
    /// the size of the SQL and its parameters (one call's, and the whole
    /// revision's), the host's rules, the policy. Returns the time left.
    fn admit(&mut self, sql: &str, params: &[Value]) -> wasmtime::Result<Duration> {
        if let Some(signal) = crate::interrupt::requested() {
            return Err(self.interrupted(signal, None));
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.exhaust(self.time_budget()));
        }
        let size = params
            .iter()
            .fold(sql.len(), |n, p| n.saturating_add(p.size()));
        if size > self.limits.statement_bytes {
            return Err(self.exhaust(Exhausted::Statement(self.limits.statement_bytes, size)));
        }
        self.sql_used = self.sql_used.saturating_add(size);
        if self.sql_used > self.limits.sql_bytes {
            return Err(self.exhaust(Exhausted::Sql(self.limits.sql_bytes)));
        }
        let dialect = self.sink()?.dialect();
        if !params.is_empty()
            && sql.contains(';')
            && crate::dialect::split::statements(sql, dialect).len() > 1
        {
            // Online, a server prepares one statement; offline, the text
            // would render and run as several: refused alike in both.
            self.refused = Some(
                "a statement with parameters must be one statement, and this text holds several: send each with its own execute (parameters bind to one statement)"
                    .to_string(),
            );
            return Err(wasmtime::format_err!("refused by the host's rules"));
        }
        if let Err(refusal) = self.guard.check(sql, params, dialect) {
            self.refused = Some(refusal.to_string());
            return Err(wasmtime::format_err!("refused by the host's rules"));
        }
        if let Err(denied) = self.deny.check(sql, dialect) {
            self.refused = Some(denied.to_string());
            return Err(wasmtime::format_err!("refused by the deny list"));
        }
        let home = self
            .home
            .as_deref()
            .or_else(|| self.sink.as_ref().and_then(Sink::host_schema));
        if let Some(policy) = &self.policy
            && !self.policy_passed.contains(sql)
        {
            if let Err(violation) = policy.check_in(sql, dialect, home) {
                self.refused = Some(violation.to_string());
                return Err(wasmtime::format_err!("policy violation"));
            }
            // Short texts, a bounded number: what a loop repeats.
            if sql.len() <= 4096 && self.policy_passed.len() < 4096 {
                self.policy_passed.insert(sql.to_string());
            }
        }
        Ok(left)
    }

    /// A statement overran the wall-clock budget: it is stopped on the
    /// server (not merely no longer waited for) and the connection is given
    /// up. Returns the trap that ends the call.
    async fn abandon(&mut self) -> wasmtime::Error {
        let budget = self.time_budget();
        if let Some(sink) = self.sink.as_mut() {
            self.abandoned = Some(sink.abandon().await).filter(|note| !note.is_empty());
        }
        self.exhaust(budget)
    }

    /// A signal asked the run to stop: the revision stops here (`note`
    /// says what was done about the statement under way, if one was).
    fn interrupted(
        &mut self,
        signal: crate::interrupt::Signal,
        note: Option<String>,
    ) -> wasmtime::Error {
        self.refused = Some(match note {
            Some(note) if !note.is_empty() => format!(
                "interrupted by {}: the statement under way was stopped ({note})",
                signal.name()
            ),
            Some(_) => format!(
                "interrupted by {}: the statement under way was stopped",
                signal.name()
            ),
            None => format!("interrupted by {} before its next statement", signal.name()),
        });
        wasmtime::format_err!("interrupted")
    }

    /// A signal came while a statement ran: it is stopped on the server
    /// and the connection given up, as an overrun one is.
    async fn interrupt_statement(
        &mut self,
        signal: crate::interrupt::Signal,
        sql: &str,
    ) -> wasmtime::Error {
        let note = match self.sink.as_mut() {
            Some(sink) => sink.abandon().await,
            None => String::new(),
        };
        self.last_failure = Some(FailedStatement {
            sql: sql.to_string(),
            error: DbError::host(format!("stopped by {}", signal.name())),
        });
        self.interrupted(signal, Some(note))
    }

    fn time_budget(&self) -> Exhausted {
        Exhausted::Time(format!("{}", self.limits.timeout.as_secs_f64()))
    }

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
                // A failing script may have run (and committed) its first
                // statements; and MySQL commits the open transaction before
                // a DDL statement runs, so a refused one commits what came
                // before it. A lone statement refused first commits nothing.
                let script = || {
                    dialect.is_some_and(|d| {
                        crate::dialect::scan::statements(sql, d)
                            .iter()
                            .filter(|s| !s.trim().is_empty())
                            .count()
                            > 1
                    })
                };
                self.implicit_commit |=
                    commits && params.is_empty() && (self.succeeded > 0 || script());
                self.last_failure = Some(FailedStatement {
                    sql: sql.to_string(),
                    error: error.clone(),
                });
            }
        }
    }
}

impl types::Host for HostState {}

impl scripts::Host for HostState {}

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
        let left = self.admit(&sql, &params)?;
        self.statements += 1;
        cpu::lock(&self.cpu).pause();
        let answer = {
            let sink = self.sink()?;
            tokio::select! {
                answer = tokio::time::timeout(left, sink.execute(&sql, &params)) => Ok(answer),
                signal = crate::interrupt::wait() => Err(signal),
            }
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(signal) => return Err(self.interrupt_statement(signal, &sql).await),
        };
        let result = match answer {
            Ok(result) => result,
            Err(_) => return Err(self.abandon().await),
        };
        cpu::lock(&self.cpu).resume();
        self.account(&sql, &params, &result);
        Ok(result.map_err(to_wit_error))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::Rows, types::DbError>> {
        let params: Vec<Value> = params.into_iter().map(from_wit).collect();
        let left = self.admit(&sql, &params)?;
        self.statements += 1;
        // Rows are held by the host before the guest sees them: they count
        // against the revision's memory budget as they arrive.
        let max = self.limits.result_bytes.min(self.limits.memory_bytes);
        cpu::lock(&self.cpu).pause();
        let answer = {
            let sink = self.sink()?;
            tokio::select! {
                answer = tokio::time::timeout(left, sink.query(&sql, &params, max)) => Ok(answer),
                signal = crate::interrupt::wait() => Err(signal),
            }
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(signal) => return Err(self.interrupt_statement(signal, &sql).await),
        };
        let result = match answer {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(QueryError::Db(e))) => Err(e),
            Ok(Err(QueryError::TooLarge)) => {
                return Err(self.exhaust(Exhausted::Result(max)));
            }
            Err(_) => return Err(self.abandon().await),
        };
        cpu::lock(&self.cpu).resume();
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
        // Every call costs at least LOG_OVERHEAD, so empty messages count too.
        self.log_used = self.log_used.saturating_add(message.len() + LOG_OVERHEAD);
        if self.log_used > self.limits.log_bytes {
            return Err(self.exhaust(Exhausted::Log(self.limits.log_bytes)));
        }
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

/// The engine and linker every revision runs in. Cloning is cheap (both are
/// shared handles), for loading components on another thread.
#[derive(Clone)]
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    compiler: &'static str,
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
        // The CPU budget is measured with epochs, not fuel: fuel made
        // compiling a component about a third slower (measured on the example
        // chain), while epoch checks cost little and still let a busy guest
        // yield to the runtime every tick.
        config.epoch_interruption(true);
        config.async_stack_size(HOST_CALL_STACK);
        let compiler = compiler::configure(&mut config);
        // The address map only adds wasm offsets to trap backtraces, which
        // messages leave out (`-vv` logs them, with function names); without
        // it a component compiles 15-20 % faster and its artifact is smaller
        // (`examples/compile_cost.rs`).
        config.generate_address_map(false);
        let mut pooled = config.clone();
        pool::configure(&mut pooled);
        // Where the address space is too tight for the pool, allocate on demand.
        let engine = Engine::new(&pooled).or_else(|_| Engine::new(&config))?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Revision::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        scripts::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        Ok(Sandbox {
            engine,
            linker,
            compiler,
        })
    }

    /// Compiles component bytes (or component text, WAT).
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, String> {
        Component::new(&self.engine, bytes).map_err(|e| describe(&e))
    }

    /// Compiles component bytes (or text) to the engine's serialized native
    /// form, for the compile cache (`catalog::compile_cache`).
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.engine
            .precompile_component(bytes)
            .map_err(|e| describe(&e))
    }

    /// The engine, for loading precompiled components.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiler's name (`winch` or `cranelift`), for the compile cache's key.
    pub(crate) fn compiler(&self) -> &'static str {
        self.compiler
    }

    fn store(&self, sink: Option<Sink>, rules: &Rules) -> (Store<HostState>, MemoryOutputPipe) {
        let limits = rules.limits.clone();
        let stderr = MemoryOutputPipe::new(limits.log_bytes.min(wasi::STDERR_CAPACITY));
        let deadline = Instant::now() + limits.timeout;
        let state = HostState {
            sink,
            wasi: wasi::deny_all(stderr.clone()),
            table: ResourceTable::new(),
            limits,
            policy: rules.policy.clone(),
            policy_passed: std::collections::HashSet::new(),
            guard: rules.guard.clone(),
            deny: rules.deny.clone(),
            home: rules.home.clone(),
            deadline,
            cpu: std::sync::Arc::new(std::sync::Mutex::new(CpuMeter::running())),
            log_used: 0,
            sql_used: 0,
            exhausted: None,
            refused: None,
            abandoned: None,
            logs: Vec::new(),
            last_failure: None,
            statements: 0,
            succeeded: 0,
            implicit_commit: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        store.set_epoch_deadline(1);
        // Runs every tick while guest code runs: checks both clocks, then
        // yields so a busy guest never starves the async runtime.
        store.epoch_deadline_callback(move |mut ctx| {
            let now = Instant::now();
            let state = ctx.data_mut();
            if let Some(signal) = crate::interrupt::requested() {
                return Err(state.interrupted(signal, None));
            }
            if now >= state.deadline {
                let budget = state.time_budget();
                return Err(state.exhaust(budget));
            }
            if cpu::lock(&state.cpu).charge() > state.limits.cpu {
                let budget = Exhausted::Cpu(format!("{}", state.limits.cpu.as_secs_f64()));
                return Err(state.exhaust(budget));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        (store, stderr)
    }

    /// Refuses a revision component that imports what the host does not provide.
    pub fn check_imports(&self, component: &Component) -> Result<(), String> {
        imports::check(component, &self.engine, imports::Kind::Revision)
    }

    /// Refuses an interpreter component that imports what the host does not
    /// provide (its runtime's `wasi:sockets` imports are linked, granting nothing).
    pub fn check_interpreter_imports(&self, component: &Component) -> Result<(), String> {
        imports::check(component, &self.engine, imports::Kind::Interpreter)
    }

    /// Instantiates the program and reads its `info()`, within small
    /// budgets: metadata needs no time to speak of.
    pub async fn info(&self, program: &Program) -> Result<RevisionInfo, String> {
        let rules = Rules {
            limits: Limits {
                cpu: Duration::from_secs(5),
                timeout: Duration::from_secs(10),
                ..Limits::default()
            },
            policy: None,
            guard: Guard::default(),
            deny: DenyList::default(),
            home: None,
            table_prefix: None,
        };
        let (mut store, stderr) = self.store(None, &rules);
        let fail = |e: wasmtime::Error| with_stderr(describe(&e), &stderr);
        let instance = Instance::new(&mut store, program, &self.linker)
            .await
            .map_err(fail)?;
        instance.info(&mut store).await.map_err(fail)?
    }

    /// Runs `upgrade` or `downgrade` in a fresh store, sending statements to
    /// `sink`, and hands the sink back with what the call produced. A program
    /// [expecting](Program::expecting) metadata is first checked against it
    /// in the same instance; if it differs, nothing runs.
    pub async fn call(
        &self,
        program: &Program,
        direction: Direction,
        sink: Sink,
        revision: &str,
        rules: &Rules,
    ) -> (Sink, Outcome) {
        let started = Instant::now();
        let (mut store, stderr) = self.store(Some(sink), rules);
        let meter = store.data().cpu.clone();
        let (result, notices) = crate::sink::notices::collect(Metered::new(meter, async {
            if let Some(sql) = program.sql_revision() {
                return sql_run::run(store.data_mut(), sql, direction).await;
            }
            let instance = Instance::new(&mut store, program, &self.linker).await?;
            if let Some(expected) = program.expected_info() {
                let name = program.script_source().map_or(revision, |s| &s.path);
                let checked = instance
                    .info(&mut store)
                    .await?
                    .and_then(|live| stale_metadata(name, expected, &live));
                if let Err(message) = checked {
                    return Ok(Err(message));
                }
            }
            instance.run(&mut store, direction).await
        }))
        .await;
        let elapsed = started.elapsed();
        let stderr_full = stderr.contents().len() >= stderr_capacity(rules);
        let mut state = store.into_data();
        // The database's notices, in the order they came, after what the
        // revision logged (they cannot be interleaved exactly).
        state
            .logs
            .extend(notices.into_iter().map(|(level, message)| LogLine {
                level: if level <= tracing::Level::WARN {
                    "warn"
                } else {
                    "info"
                },
                message: format!("database: {message}"),
            }));
        let result = match result {
            Ok(Ok(())) => CallResult::Completed,
            Ok(Err(message)) => CallResult::Returned(message),
            Err(_) if state.refused.is_some() => {
                CallResult::Refused(state.refused.clone().unwrap_or_default())
            }
            Err(trap) => {
                let exhausted = state
                    .exhausted
                    .clone()
                    .or_else(|| stderr_full.then_some(Exhausted::Log(rules.limits.log_bytes)));
                match exhausted {
                    Some(what) => CallResult::OverBudget(match &state.abandoned {
                        Some(note) => format!("{}; {note}", what.message(revision)),
                        None => what.message(revision),
                    }),
                    None => CallResult::Trapped(describe(&trap)),
                }
            }
        };
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

/// Checks the live metadata of revision `name` (its id, or its script's
/// file) against what the plan was made from.
fn stale_metadata(name: &str, expected: &RevisionInfo, live: &RevisionInfo) -> Result<(), String> {
    if live == expected {
        return Ok(());
    }
    Err(format!(
        "{name}: the revision reports other metadata than was read for it without running it (from its `retort:info` section or the metadata cache); nothing was run: if the component was altered or built by hand, rebuild it; if the cache was edited, delete the migrations directory's .retort-cache and run again"
    ))
}

fn stderr_capacity(rules: &Rules) -> usize {
    rules.limits.log_bytes.min(wasi::STDERR_CAPACITY)
}

/// Advances the engine's epoch every tick until the engine is gone, so that
/// wall-clock deadlines are noticed while a guest computes.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("retort-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(
            "cannot start the epoch ticker, wall-clock budgets only apply to database calls: {e}"
        );
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
