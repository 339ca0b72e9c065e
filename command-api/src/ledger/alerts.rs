//! Alerts for finance: a payment the gateway vouches for that was not credited, or an order
//! the poller cannot settle. Each is logged (`alert = "finance"`) and kept in
//! `finance_alerts`, which finance lists (`GET /api/v1/finance/alerts`); the same condition
//! seen again counts as one more occurrence of the same alert.

use chrono::{DateTime, Utc};
use ledger_core::ids::OperatorId;
use ledger_core::money::Money;
use ledger_core::operator::PaymentChannel;
use rust_decimal::Decimal;

use super::Ledger;
use crate::payments::{Notification, TradeState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// The gateway query keeps failing: the order's outcome is unknown.
    RechargeNeedsReview,
    /// A verified payment was refused (wrong amount, unknown, closed or already paid
    /// order): money may be held at the gateway.
    PaymentNotApplied,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RechargeNeedsReview => "recharge_needs_review",
            AlertKind::PaymentNotApplied => "payment_not_applied",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FinanceAlert {
    pub kind: AlertKind,
    pub channel: PaymentChannel,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub operator_id: Option<OperatorId>,
    pub amount: Option<Money>,
    pub reason: String,
}

impl FinanceAlert {
    /// A verified gateway result that was refused; the gateway's own figures are kept.
    pub fn not_applied(channel: PaymentChannel, result: &Notification, reason: &str) -> Self {
        let paid = match &result.state {
            TradeState::Paid(paid) => Some(paid),
            _ => None,
        };
        FinanceAlert {
            kind: AlertKind::PaymentNotApplied,
            channel,
            out_trade_no: result.out_trade_no.clone(),
            transaction_id: paid.map(|p| p.transaction_id.clone()),
            operator_id: None,
            amount: paid.map(|p| p.amount),
            reason: reason.to_owned(),
        }
    }
}

/// Longest stored reason: gateway errors can be long and are not ours to trust.
const REASON_MAX: usize = 500;

impl Ledger {
    /// Logs the alert and records it. Recording is best effort: the condition itself is
    /// already safe (nothing was credited, or the order is flagged in its stream), and a
    /// failed write must not turn a refused callback into a retry storm.
    pub async fn alert_finance(&self, alert: FinanceAlert, now: DateTime<Utc>) {
        tracing::error!(alert = "finance", kind = alert.kind.as_str(),
                        channel = alert.channel.as_str(), out_trade_no = %alert.out_trade_no,
                        transaction_id = alert.transaction_id.as_deref(),
                        operator_id = alert.operator_id.map(|o| o.to_string()),
                        amount = alert.amount.map(|a| a.to_string()), reason = %alert.reason,
                        "finance alert");
        if let Err(error) = self.record_alert(&alert, now).await {
            tracing::warn!(%error, kind = alert.kind.as_str(), out_trade_no = %alert.out_trade_no,
                           "finance alert not recorded (it is in the log)");
        }
    }

    async fn record_alert(
        &self,
        alert: &FinanceAlert,
        now: DateTime<Utc>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let client = self.pool.get().await?;
        let reason: String = alert.reason.chars().take(REASON_MAX).collect();
        let amount = alert.amount.map(|m| Decimal::new(m.fen(), 2));
        client
            .execute(
                "INSERT INTO finance_alerts (kind, channel, out_trade_no, transaction_id,
                     operator_id, amount, reason, first_seen_at, last_seen_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (kind, channel, out_trade_no, transaction_id) DO UPDATE
                 SET occurrences = finance_alerts.occurrences + 1,
                     last_seen_at = greatest(finance_alerts.last_seen_at, EXCLUDED.last_seen_at),
                     reason = EXCLUDED.reason,
                     operator_id = coalesce(finance_alerts.operator_id, EXCLUDED.operator_id),
                     amount = coalesce(finance_alerts.amount, EXCLUDED.amount)",
                &[
                    &alert.kind.as_str(),
                    &alert.channel.as_str(),
                    &alert.out_trade_no,
                    &alert.transaction_id.as_deref().unwrap_or(""),
                    &alert.operator_id.map(|o| o.as_uuid()),
                    &amount,
                    &reason,
                    &now,
                ],
            )
            .await?;
        Ok(())
    }
}
