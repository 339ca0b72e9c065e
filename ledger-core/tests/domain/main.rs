//! Domain tests of ledger-core: one test binary, one module per subject.
//!
//! - [`operator`] and [`application`], [`headset_server`]: given/when/then, one rule per test.
//! - [`workflows`]: the operator's profile, category, applications, refunds, invoices,
//!   messages and reminders, given/when/then.
//! - [`recharges`]: online recharge orders, confirmed once by a gateway result.
//! - [`staff_account`] and [`announcement`]: the staff and announcement aggregates.
//! - [`operator_properties`]: random command sequences against an independent model.
//! - [`event_json`]: the stored JSON of every event, pinned.
//! - [`style`]: no floats in ledger-core.

mod announcement;
mod application;
mod event_json;
mod fixtures;
mod headset_server;
mod operator;
mod operator_properties;
mod recharges;
mod staff_account;
mod style;
mod workflows;
