//! The domain of MR Ledger: money, ids, aggregates, commands, events and their errors.
//!
//! No IO and no runtime here: every outside fact (time, prices, ids) comes in with the
//! command, so every rule is tested without a database.
//!
//! Layout:
//! - [`money`]: `Money`, two-decimal yuan with checked arithmetic.
//! - [`chinese_amount`]: amounts in Chinese financial capitals (大写金额).
//! - [`ids`]: id newtypes and the headset session id rules.
//! - [`operator`]: the `Operator` aggregate (the money stream).
//! - [`application`]: the `Application` aggregate (the catalog).
//! - [`headset_server`]: heartbeats of one headset server.
//! - [`metadata`]: who/where/when of every event.
//! - [`signing`]: the headset protocol's request signature.
//! - [`chain`]: the per-stream hash chain over stored events.
//! - [`staff`]: claims of staff access tokens.
//! - [`staff_account`]: the `StaffMember` aggregate (one staff account).
//! - [`announcement`]: the `Announcement` aggregate (a notice to every operator).
//! - [`reconciliation`]: the `Reconciliation` aggregate (one statement compared).
//! - [`access`]: the role → scope matrix of both APIs.
//! - [`account_rules`]: username, password, phone, email and tax number rules.
//! - [`strict_json`]: the JSON reader for request bodies (duplicate keys, depth, number classes).
//! - [`body_fields`]: field-by-field body decoding that names every bad field.
//! - [`headset_request`]: the headset protocol's signing headers and bodies, shape-checked.
#![deny(clippy::float_arithmetic)]

pub mod access;
pub mod account_rules;
pub mod announcement;
pub mod application;
pub mod body_fields;
pub mod chain;
pub mod chinese_amount;
pub mod headset_request;
pub mod headset_server;
pub mod ids;
pub mod metadata;
pub mod money;
pub mod operator;
pub mod reconciliation;
pub mod signing;
pub mod staff;
pub mod staff_account;
pub mod strict_json;

pub use cqrs_es::{Aggregate, DomainEvent};
