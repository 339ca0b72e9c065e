//! Background work of the command API, each job with a step function tests call directly.
//!
//! Layout:
//! - [`reminders`]: grant-expiry reminders to operators.

pub mod reminders;
