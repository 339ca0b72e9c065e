//! Online recharges (O2, invariant 6): an order is opened on the operator's stream, and money
//! enters only when a verified gateway result confirms it, once. Orders that are decided leave
//! the state (the stream keeps them), so the state stays small.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Operator, OperatorError, OperatorEvent, REASON_MAX, check_text};
use crate::ids::RechargeOrderId;
use crate::money::Money;

use OperatorEvent as E;

/// Smallest and largest recharge, in fen (1.00 and 50,000.00 yuan).
pub const RECHARGE_MIN_FEN: i64 = 100;
pub const RECHARGE_MAX_FEN: i64 = 5_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentChannel {
    Wechat,
    Alipay,
}

impl PaymentChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentChannel::Wechat => "wechat",
            PaymentChannel::Alipay => "alipay",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentChannel> {
        match text {
            "wechat" => Some(PaymentChannel::Wechat),
            "alipay" => Some(PaymentChannel::Alipay),
            _ => None,
        }
    }
}

/// An order not decided yet: waiting for the gateway, or flagged for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRecharge {
    pub out_trade_no: String,
    pub channel: PaymentChannel,
    pub amount: Money,
    pub ordered_at: DateTime<Utc>,
    /// Consecutive failed gateway queries.
    pub query_failures: u32,
    pub needs_review: bool,
}

/// What the gateway said about a paid order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayPayment {
    /// The gateway's own id of the payment: the key that makes a credit happen once.
    pub transaction_id: String,
    pub paid_amount: Money,
    pub paid_at: DateTime<Utc>,
}

impl Operator {
    fn open_recharge(&self, order_id: RechargeOrderId) -> Result<&OpenRecharge, OperatorError> {
        self.require_registered()?;
        self.open_recharges
            .get(&order_id)
            .ok_or(OperatorError::RechargeOrderNotOpen)
    }

    pub(super) fn decide_recharge_order(
        &self,
        order_id: RechargeOrderId,
        out_trade_no: String,
        channel: PaymentChannel,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        if !(RECHARGE_MIN_FEN..=RECHARGE_MAX_FEN).contains(&amount.fen()) {
            return Err(OperatorError::InvalidField {
                field: "amount",
                reason: "1.00 to 50000.00".to_owned(),
            });
        }
        check_text("out_trade_no", &out_trade_no, 32)?;
        Ok(vec![E::RechargeOrdered {
            order_id,
            out_trade_no,
            channel,
            amount,
            ordered_at: now,
        }])
    }

    /// Credits a paid order. An order that is no longer open (closed, failed, or credited
    /// already) is refused: the caller tells a duplicate by the gateway transaction id.
    pub(super) fn decide_recharge_paid(
        &self,
        order_id: RechargeOrderId,
        payment: GatewayPayment,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        let order = self.open_recharge(order_id)?;
        if payment.paid_amount != order.amount {
            return Err(OperatorError::RechargeAmountMismatch {
                expected: order.amount,
                paid: payment.paid_amount,
            });
        }
        check_text("transaction_id", &payment.transaction_id, 64)?;
        let balance_after = self.balance.checked_add(order.amount)?;
        Ok(vec![E::RechargeSucceeded {
            order_id,
            channel: order.channel,
            transaction_id: payment.transaction_id,
            amount: order.amount,
            balance_after,
            paid_at: payment.paid_at,
            succeeded_at: now,
        }])
    }

    pub(super) fn decide_recharge_failed(
        &self,
        order_id: RechargeOrderId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.open_recharge(order_id)?;
        check_text("reason", &reason, REASON_MAX)?;
        Ok(vec![E::RechargeFailed {
            order_id,
            reason,
            failed_at: now,
        }])
    }

    pub(super) fn decide_recharge_closed(
        &self,
        order_id: RechargeOrderId,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.open_recharge(order_id)?;
        Ok(vec![E::RechargeClosed {
            order_id,
            closed_at: now,
        }])
    }

    /// A gateway query that failed; the `max_failures`-th in a row flags the order for review.
    pub(super) fn decide_recharge_query_failed(
        &self,
        order_id: RechargeOrderId,
        reason: String,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        let order = self.open_recharge(order_id)?;
        check_text("reason", &reason, REASON_MAX)?;
        let attempts = order.query_failures + 1;
        let mut events = vec![E::RechargeQueryFailed {
            order_id,
            attempts,
            reason: reason.clone(),
            failed_at: now,
        }];
        if attempts >= max_failures && !order.needs_review {
            events.push(E::RechargeNeedsReview {
                order_id,
                reason,
                flagged_at: now,
            });
        }
        Ok(events)
    }

    /// State changes of the recharge events.
    pub(super) fn apply_recharge(&mut self, event: OperatorEvent) {
        match event {
            E::RechargeOrdered {
                order_id,
                out_trade_no,
                channel,
                amount,
                ordered_at,
            } => {
                self.open_recharges.insert(
                    order_id,
                    OpenRecharge {
                        out_trade_no,
                        channel,
                        amount,
                        ordered_at,
                        query_failures: 0,
                        needs_review: false,
                    },
                );
            }
            E::RechargeSucceeded {
                order_id,
                amount,
                balance_after,
                ..
            } => {
                let expected = self
                    .balance
                    .checked_add(amount)
                    .expect("recharge was checked");
                assert_eq!(expected, balance_after, "RechargeSucceeded.balance_after");
                self.balance = balance_after;
                self.total_credited = self
                    .total_credited
                    .checked_add(amount)
                    .expect("credits total stays in range");
                self.open_recharges.remove(&order_id);
            }
            E::RechargeFailed { order_id, .. } | E::RechargeClosed { order_id, .. } => {
                self.open_recharges.remove(&order_id);
            }
            E::RechargeQueryFailed {
                order_id, attempts, ..
            } => {
                if let Some(order) = self.open_recharges.get_mut(&order_id) {
                    order.query_failures = attempts;
                }
            }
            E::RechargeNeedsReview { order_id, .. } => {
                if let Some(order) = self.open_recharges.get_mut(&order_id) {
                    order.needs_review = true;
                }
            }
            other => unreachable!("{other:?} is not a recharge event"),
        }
    }
}
