//! API tests of the command API: in-process server on port 0, real PostgreSQL.

mod concurrency;
mod error_table;
mod event_store;
mod harness;
mod headset_scenarios;
