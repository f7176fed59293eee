//! Integration tests: one binary, modules per area. Every test works on its
//! own temporary directory and database.

mod branching;
mod cli;
mod commands;
mod common;
mod failures;
mod offline;
mod sqlite;
