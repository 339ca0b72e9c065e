//! The recharge poller: asks the gateway about every order still open some minutes after it
//! was created (the callback may be late, lost, or never sent), and applies the answer
//! exactly as a callback would be applied. Orders still unpaid after `close_after` are closed
//! at the gateway and then here; a query that fails is recorded, and the order is flagged for
//! review (and finance alerted: `ledger::alerts`) after `max_failures` in a row.
//!
//! Which orders: `payment_orders` (command side, written with `RechargeOrdered`) without an
//! applied payment, then the operator's stream decides whether each is still open. The read
//! table `read.recharge_orders` would be cheaper to filter, but it trails the events by the
//! projector's lag and is absent when the projector is down; money decisions come from the
//! stream, and payment_orders is in the same transaction as the order's event.
//!
//! One poller works cluster-wide: [`spawn`] holds a PostgreSQL advisory lock on a connection
//! of its own for as long as it polls; other instances wait for it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_postgres::NoTls;

use crate::ledger::Ledger;
use crate::ledger::alerts::{AlertKind, FinanceAlert};
use crate::ledger::recharges::{Outcome, PaymentOrder, Reporter};
use crate::payments::{Gateways, Notification, TradeState};
use crate::store::StoreError;

/// Advisory lock key of the poller (any constant unique among our advisory locks).
pub const POLLER_LOCK_KEY: i64 = 0x4d52_5043; // "MRPC"
/// Most orders looked at per pass; the rest wait for the next pass.
pub const MAX_ORDERS_PER_PASS: i64 = 500;
/// Orders older than this are no longer polled: they were closed long before unless they
/// need review, and those are finance's to resolve.
pub const LOOKBACK: TimeDelta = TimeDelta::days(7);

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Open orders queried.
    pub queried: usize,
    pub credited: usize,
    pub failed: usize,
    pub closed: usize,
    pub query_failures: usize,
    /// Orders that became "needs review" in this pass.
    pub needs_review: usize,
    /// Results that could not be applied (rejected, or an error; logged).
    pub not_applied: usize,
}

/// One pass at time `now` (injected: tests move it).
pub async fn poll_once(
    ledger: &Ledger,
    gateways: &Gateways,
    now: DateTime<Utc>,
) -> Result<PollReport, StoreError> {
    let policy = ledger.recharge_policy.clone();
    let orders = {
        let client = ledger.pool.get().await?;
        PaymentOrder::unpaid(
            &client,
            now - LOOKBACK,
            now - policy.query_after,
            MAX_ORDERS_PER_PASS,
        )
        .await?
    };
    let mut report = PollReport::default();
    for order in orders {
        if !gateways.enabled(order.channel) {
            continue;
        }
        let open = match ledger.operator_state(order.operator_id).await {
            Ok(state) => state.open_recharges.get(&order.order_id).cloned(),
            Err(error) => {
                tracing::warn!(out_trade_no = %order.out_trade_no, error_code = error.code.as_str(),
                               "recharge poller: operator not loaded (retried next pass)");
                continue;
            }
        };
        let Some(open) = open else { continue };
        report.queried += 1;
        let state = match gateways.query(order.channel, &order.out_trade_no).await {
            Ok(state) => state,
            Err(error) => {
                report.query_failures += 1;
                if open.needs_review {
                    // Flagged already: finance knows; further failures add nothing.
                    continue;
                }
                match ledger
                    .record_recharge_query_failure(&order, &error.to_string(), now)
                    .await
                {
                    Ok(true) => {
                        report.needs_review += 1;
                        let alert = FinanceAlert {
                            kind: AlertKind::RechargeNeedsReview,
                            channel: order.channel,
                            out_trade_no: order.out_trade_no.clone(),
                            transaction_id: None,
                            operator_id: Some(order.operator_id),
                            amount: Some(order.amount),
                            reason: format!("the gateway query keeps failing: {error}"),
                        };
                        ledger.alert_finance(alert, now).await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(out_trade_no = %order.out_trade_no,
                                             error_code = e.code.as_str(),
                                             "recharge query failure not recorded"),
                }
                continue;
            }
        };
        let state = match state {
            TradeState::NotPaid if now - order.created_at >= policy.close_after => {
                match gateways.close(order.channel, &order.out_trade_no).await {
                    Ok(()) => TradeState::Closed,
                    Err(error) => {
                        tracing::warn!(out_trade_no = %order.out_trade_no, %error,
                                       "unpaid recharge order not closed at the gateway (retried next pass)");
                        continue;
                    }
                }
            }
            other => other,
        };
        match ledger
            .apply_gateway_result(
                order.channel,
                &order.out_trade_no,
                &state,
                &Reporter::poller(),
                now,
            )
            .await
        {
            Ok(Outcome::Credited) => report.credited += 1,
            Ok(Outcome::Failed) => report.failed += 1,
            Ok(Outcome::Closed) => report.closed += 1,
            Ok(Outcome::Duplicate | Outcome::Ignored) => {}
            Ok(Outcome::Rejected(reason)) => {
                report.not_applied += 1;
                let result = Notification {
                    out_trade_no: order.out_trade_no.clone(),
                    state,
                };
                let mut alert = FinanceAlert::not_applied(order.channel, &result, &reason);
                alert.operator_id = Some(order.operator_id);
                ledger.alert_finance(alert, now).await;
            }
            Err(error) => {
                report.not_applied += 1;
                tracing::warn!(out_trade_no = %order.out_trade_no, error_code = error.code.as_str(),
                               "recharge poller: result not applied (retried next pass)");
            }
        }
    }
    Ok(report)
}

/// The poller's advisory lock, held by a connection of its own: while `client` lives (and
/// `connection` runs), no other session gets the lock.
pub struct PollerLock {
    pub client: tokio_postgres::Client,
    pub connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl PollerLock {
    /// Whether the lock's session is still there.
    pub async fn alive(&self) -> bool {
        !self.connection.is_finished() && self.client.simple_query("SELECT 1").await.is_ok()
    }
}

/// Takes the poller's lock on a new connection; `None` when another session holds it.
pub async fn take_lock(database_url: &str) -> Result<Option<PollerLock>, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
    let connection = tokio::spawn(connection);
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&POLLER_LOCK_KEY])
        .await?
        .get(0);
    if locked {
        Ok(Some(PollerLock { client, connection }))
    } else {
        connection.abort();
        Ok(None)
    }
}

/// Polls every `interval` while this instance holds the poller's advisory lock; instances
/// without it try again each interval (so one takes over when the holder stops).
pub fn spawn(
    ledger: Arc<Ledger>,
    database_url: String,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let lock = match take_lock(&database_url).await {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "recharge poller: lock not taken");
                    continue;
                }
            };
            tracing::info!("recharge poller active on this instance");
            loop {
                let payments = ledger.payments.clone();
                match poll_once(&ledger, &payments, ledger.now()).await {
                    Ok(report) if report == PollReport::default() => {}
                    Ok(report) => tracing::info!(?report, "recharge poller pass"),
                    Err(error) => tracing::warn!(%error, "recharge poller pass failed"),
                }
                ticks.tick().await;
                // Without its session the lock is gone: another instance may be polling.
                if !lock.alive().await {
                    tracing::warn!("recharge poller lost its lock connection");
                    break;
                }
            }
        }
    })
}
