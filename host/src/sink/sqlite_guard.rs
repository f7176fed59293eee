//! SQLite enforces the host's rules itself while a revision runs: an
//! authorizer (`sqlite3_set_authorizer`) is asked about every table,
//! pragma, function and transaction a statement touches as it is prepared,
//! triggers included, so no spelling, view or trigger gets around it.
//!
//! While a revision runs, it refuses: any access to the host's tables (the
//! version and failures tables: read, write, alter, drop, index, trigger,
//! shadow), `BEGIN`/`COMMIT`/`ROLLBACK`, `ATTACH`/`DETACH` (and, with
//! `SQLITE_LIMIT_ATTACHED` at 0 for the connection's life, `VACUUM INTO`),
//! `PRAGMA writable_schema`/`schema_version`/`trusted_schema`, and
//! `load_extension()`. The host's own statements run while it is off.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use libsqlite3_sys as ffi;

/// The authorizer's state, shared with SQLite's worker thread.
#[derive(Debug, Default)]
pub(super) struct Authorizer {
    /// Whether a revision's statements are being prepared.
    active: AtomicBool,
    /// The host's tables, lowercase.
    host_tables: Mutex<Vec<String>>,
    /// What was last refused, for the error message.
    refused: Mutex<Option<String>>,
    /// The prefix every table a revision touches must have (a source's
    /// scope), lowercase.
    scope: Mutex<Option<String>>,
}

/// The raw connection handle, kept to ask SQLite about the transaction and
/// to interrupt a statement from the host's thread.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawHandle(NonNull<ffi::sqlite3>);

// SAFETY: the handle is only used for `sqlite3_get_autocommit` while no
// statement runs (the host awaits each one) and for `sqlite3_interrupt`,
// which SQLite documents as safe to call from any thread.
unsafe impl Send for RawHandle {}
// SAFETY: as above.
unsafe impl Sync for RawHandle {}

impl RawHandle {
    /// Whether the connection is outside any transaction.
    pub(super) fn autocommit(&self) -> bool {
        // SAFETY: a valid open handle (the connection outlives the sink's use).
        unsafe { ffi::sqlite3_get_autocommit(self.0.as_ptr()) != 0 }
    }

    /// Stops the statement running on this connection.
    pub(super) fn interrupt(&self) {
        // SAFETY: as above; documented thread-safe.
        unsafe { ffi::sqlite3_interrupt(self.0.as_ptr()) }
    }
}

impl Authorizer {
    /// Installs a new authorizer on `conn` and returns it with the handle.
    pub(super) async fn install(
        conn: &mut sqlx::SqliteConnection,
    ) -> Result<(&'static Authorizer, RawHandle), sqlx::Error> {
        // Leaked: SQLite keeps the pointer for the connection's whole life,
        // which may end on its worker thread after the sink is gone.
        let state: &'static Authorizer = Box::leak(Box::default());
        let mut handle = conn.lock_handle().await?;
        let raw = handle.as_raw_handle();
        // SAFETY: `raw` is the open connection; `state` lives forever; the
        // callback matches SQLite's authorizer signature.
        let rc = unsafe {
            ffi::sqlite3_set_authorizer(
                raw.as_ptr(),
                Some(authorize),
                state as *const Authorizer as *mut c_void,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(sqlx::Error::Protocol(format!(
                "cannot install the SQLite authorizer (code {rc})"
            )));
        }
        // No database but `main` (and `temp`): `ATTACH` and `VACUUM INTO`
        // (which attaches its target) fail even past the authorizer. The
        // host itself never attaches.
        // SAFETY: as above.
        unsafe { ffi::sqlite3_limit(raw.as_ptr(), ffi::SQLITE_LIMIT_ATTACHED, 0) };
        Ok((state, RawHandle(raw)))
    }

    /// Turns the rules on (a revision is about to run) or off.
    pub(super) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
        if active {
            *lock(&self.refused) = None;
        }
    }

    /// Sets the host's table names.
    pub(super) fn protect(&self, tables: &[String]) {
        *lock(&self.host_tables) = tables.iter().map(|t| t.to_lowercase()).collect();
    }

    /// Confines revisions to tables whose names start with `prefix`.
    pub(super) fn scope(&self, prefix: Option<&str>) {
        *lock(&self.scope) = prefix.map(str::to_lowercase);
    }

    /// The host's table names it guards.
    pub(super) fn host_tables(&self) -> Vec<String> {
        lock(&self.host_tables).clone()
    }

    /// What the authorizer last refused, if anything since the revision began.
    pub(super) fn refused(&self) -> Option<String> {
        lock(&self.refused).clone()
    }

    fn decide(&self, action: c_int, a1: Option<&str>, a2: Option<&str>) -> Option<String> {
        let host_table = |name: Option<&str>| -> Option<String> {
            let name = name?.to_lowercase();
            if lock(&self.host_tables).contains(&name) {
                return Some(format!(
                    "{name} belongs to Retort: a revision may not read, write, shadow or alter it"
                ));
            }
            // SQLite's own tables (the schema, sequences, statistics) are
            // read and written for every DDL statement.
            let scope = lock(&self.scope);
            match scope.as_deref() {
                Some(prefix) if !name.starts_with(prefix) && !name.starts_with("sqlite_") => {
                    Some(format!(
                        "{name} is outside this source's tables (their names start with {prefix})"
                    ))
                }
                _ => None,
            }
        };
        match action {
            ffi::SQLITE_TRANSACTION => Some(
                "a revision may not begin, end or change the transaction: Retort runs each revision in a transaction of its own".into(),
            ),
            ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => {
                Some("a revision may not attach or detach databases (files outside its database)".into())
            }
            ffi::SQLITE_PRAGMA => {
                let pragma = a1.unwrap_or("").to_ascii_lowercase();
                matches!(
                    pragma.as_str(),
                    "writable_schema" | "schema_version" | "trusted_schema"
                )
                .then(|| format!("a revision may not use PRAGMA {pragma}: it could rewrite the schema behind SQLite's back"))
            }
            ffi::SQLITE_FUNCTION => a2
                .is_some_and(|f| f.eq_ignore_ascii_case("load_extension"))
                .then(|| "a revision may not load extensions (native code)".into()),
            ffi::SQLITE_INSERT
            | ffi::SQLITE_UPDATE
            | ffi::SQLITE_DELETE
            | ffi::SQLITE_READ
            | ffi::SQLITE_DROP_TABLE
            | ffi::SQLITE_DROP_TEMP_TABLE
            | ffi::SQLITE_CREATE_TABLE
            | ffi::SQLITE_CREATE_TEMP_TABLE
            | ffi::SQLITE_CREATE_VIEW
            | ffi::SQLITE_CREATE_TEMP_VIEW
            | ffi::SQLITE_DROP_VIEW
            | ffi::SQLITE_DROP_TEMP_VIEW => host_table(a1),
            ffi::SQLITE_ALTER_TABLE
            | ffi::SQLITE_CREATE_INDEX
            | ffi::SQLITE_CREATE_TEMP_INDEX
            | ffi::SQLITE_DROP_INDEX
            | ffi::SQLITE_DROP_TEMP_INDEX
            | ffi::SQLITE_CREATE_TRIGGER
            | ffi::SQLITE_CREATE_TEMP_TRIGGER
            | ffi::SQLITE_DROP_TRIGGER
            | ffi::SQLITE_DROP_TEMP_TRIGGER => host_table(a2),
            _ => None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn authorize(
    user: *mut c_void,
    action: c_int,
    a1: *const c_char,
    a2: *const c_char,
    _db: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    // SAFETY: `user` is the leaked `Authorizer` passed at install.
    let state = unsafe { &*(user as *const Authorizer) };
    if !state.active.load(Ordering::SeqCst) {
        return ffi::SQLITE_OK;
    }
    let text = |p: *const c_char| {
        // SAFETY: SQLite passes NULL or a NUL-terminated string valid for the call.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap_or(""))
    };
    match state.decide(action, text(a1), text(a2)) {
        None => ffi::SQLITE_OK,
        Some(reason) => {
            *lock(&state.refused) = Some(reason);
            ffi::SQLITE_DENY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// The database itself refuses what the text checks refuse first: no
    /// file outside the database is created, whatever reaches SQLite.
    #[tokio::test]
    async fn attach_and_vacuum_into_are_refused_by_sqlite_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let (authorizer, _) = Authorizer::install(&mut conn).await.unwrap();
        let attached = dir.path().join("attached.db");
        let vacuumed = dir.path().join("vacuumed.db");
        let attach = format!("ATTACH DATABASE '{}' AS x", attached.display());
        let vacuum = format!("VACUUM INTO '{}'", vacuumed.display());
        // Even with the authorizer off (as for the host's own statements),
        // the connection allows no attached database.
        for sql in [&attach, &vacuum] {
            let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("too many attached databases"),
                "{sql}: {err}"
            );
        }
        authorizer.set_active(true);
        authorizer.scope(Some("billing_"));
        for sql in [&attach, &vacuum] {
            assert!(
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .is_err(),
                "{sql}"
            );
        }
        assert!(!attached.exists() && !vacuumed.exists());
        // A source's revisions reach only tables with its prefix.
        sqlx::raw_sql("CREATE TABLE billing_a (x INT)")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = sqlx::raw_sql("CREATE TABLE users (x INT)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{err}");
        assert!(
            authorizer
                .refused()
                .unwrap()
                .contains("users is outside this source's tables")
        );
        authorizer.set_active(false);
        sqlx::raw_sql("CREATE TABLE users (x INT)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
