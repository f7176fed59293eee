//! Integration tests: one binary, modules per area. Every test works on its
//! own temporary directory and database.

mod cli;
mod common;
mod failures;
mod locking;
mod offline;
mod server_chain;
mod servers;
mod sqlite;
mod transactions;
