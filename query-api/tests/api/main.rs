//! API tests: the query API in-process on port 0, one fresh database per test.
//! One test binary (modules below) keeps link time low.

mod audit;
mod audit_log;
mod auth;
mod catalog;
mod docs;
mod health;
mod helpers;
mod ledger;
mod matrix;
mod messages;
mod operators;
mod own;
mod recharges;
mod stats;
mod workflows;
