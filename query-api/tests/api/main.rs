//! API tests: the query API in-process on port 0, one fresh database per test.
//! One test binary (modules below) keeps link time low.

mod audit;
mod auth;
mod catalog;
mod health;
mod helpers;
mod ledger;
mod operators;
