//! API tests of the command API: in-process server on port 0, real PostgreSQL.

mod accounts;
mod admin_review;
mod applications;
mod concurrency;
mod error_table;
mod event_store;
mod grpc;
mod harness;
mod headset_scenarios;
mod invoices;
mod key_rotation;
mod members;
mod metrics;
mod operator_self;
mod position;
mod rate_limits;
mod recharges;
mod refunds;
mod reminders;
