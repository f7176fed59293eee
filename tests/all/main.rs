//! Integration tests: one binary, modules per area. Every test works on its
//! own temporary directory and database.

mod alembic;
mod branching;
mod cli;
mod commands;
mod common;
mod compile_cache;
mod confinement;
mod deploy;
mod failures;
mod fanout;
mod fuzz;
mod host_wall;
mod hostile;
mod import;
mod integrity;
mod interrupted;
mod lint;
mod lock_waits;
mod locking;
mod mixed;
mod offline;
mod scripts;
mod server_chain;
mod servers;
mod sources;
mod sql_files;
mod sqlite;
mod transactions;
mod ux;
