//! Test support and tools shared by every crate's tests, and the black-box system tests.
//!
//! Layout:
//! - [`cluster`]: the three real binaries on a fresh database, and a JSON client.
//! - [`db`]: a fresh, migrated PostgreSQL database per test (cloned from a template).
//! - [`events`]: a raw appender of hash-chained events (no API involved).
//! - [`headset`]: a headset-server client that signs requests like a real one.
//! - [`headset_grpc`]: the same client over gRPC (`mrledger.headset.v1.HeadsetService`).
//! - [`load`]: an authorization load against a cluster and the check that the books stay
//!   exact under it (the fault tests and the drills).
//! - [`pg_cluster`], [`redis_server`]: a private PostgreSQL cluster and Redis server, for the
//!   fault tests that restart or stop them.
//! - [`nginx`]: Debian's nginx as a child process, configured from a deploy/nginx template.
//! - [`command_lb`]: nginx balancing several command-api instances
//!   (deploy/nginx/command-lb.conf.template).
//! - [`pg_auto_failover`]: a monitor and two PostgreSQL nodes under pg_auto_failover, for the
//!   failover drill.
//! - [`gateway_sim`]: WeChat Pay / Alipay simulator (`src/bin/gateway_sim.rs` serves it).
//! - `tests/`: system tests that start the real binaries.
//! - `src/bin/loadgen.rs`: the authorize load generator and books check.

pub mod cluster;
pub mod command_lb;
pub mod db;
pub mod events;
pub mod gateway_sim;
pub mod headset;
pub mod headset_grpc;
pub mod load;
pub mod nginx;
pub mod otlp_sink;
pub mod pg_auto_failover;
pub mod pg_cluster;
pub mod redis_server;
