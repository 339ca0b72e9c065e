//! Background work of the command API, each job with a step function tests call directly.
//!
//! Layout:
//! - [`reminders`]: grant-expiry reminders to operators.
//! - [`recharge_poller`]: queries the gateways about recharge orders without a result.

pub mod recharge_poller;
pub mod reminders;
