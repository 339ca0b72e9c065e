//! Projector tests against a real PostgreSQL: one fresh database per test.
//!
//! Layout:
//! - `support`: event fixtures that keep balances right, projection and dump helpers.
//! - `projection`: what a batch writes, commit-order races, crashes, concurrent projectors.
//! - `rebuild_verify`: rebuild and swap, verify of chains and read tables, replay speed.
//! - `run_loop`: the tailing loop wakes on NOTIFY and stops on shutdown.
//! - `workflows`: requests and reviews, staff accounts, announcements, staff actions.
//! - `messages`: fan-outs, low-balance alerts and read marks.
//! - `recharges`: online recharge orders, their money and their verify.
//! - `statistics`: the daily figures against the events, batch boundaries and time zones.

mod messages;
mod projection;
mod rebuild_verify;
mod recharges;
mod run_loop;
mod statistics;
mod support;
mod workflows;
