//! Online recharge orders: one row per order, moved from pending (or needs_review) to
//! succeeded, failed or closed by the gateway's result. A success is money in, pair-asserted
//! like every money event, and leaves a "recharge" transaction.

use ledger_core::ids::{OperatorId, RechargeOrderId};
use ledger_core::operator::OperatorEvent;

use super::{Rows, State};
use crate::rows::{RechargeOrderRow, TransactionRow};
use crate::source::StoredEvent;

const PENDING: &str = "pending";
const NEEDS_REVIEW: &str = "needs_review";

/// The operator's order, still waiting for the gateway or for a person.
fn open_order(
    orders: &mut Rows<RechargeOrderId, RechargeOrderRow>,
    operator: OperatorId,
    order_id: RechargeOrderId,
) -> Result<&mut RechargeOrderRow, String> {
    orders
        .get_mut(&order_id)
        .filter(|r| r.operator_id == operator && (r.status == PENDING || r.status == NEEDS_REVIEW))
        .ok_or_else(|| format!("recharge order {order_id} of this operator is not open"))
}

impl State {
    /// Applies a recharge event of operator `id` (registered, its head already moved on).
    pub(super) fn apply_recharge(
        &mut self,
        id: OperatorId,
        event: &StoredEvent,
        e: &OperatorEvent,
    ) -> Result<(), String> {
        use OperatorEvent as E;
        let op = self
            .operators
            .get_mut(&id)
            .expect("apply_operator checked the registration");
        match e {
            E::RechargeOrdered {
                order_id,
                out_trade_no,
                channel,
                amount,
                ordered_at,
            } => {
                if self.recharge_orders.contains(order_id) {
                    return Err(format!("recharge order {order_id} ordered twice"));
                }
                self.recharge_orders.insert(
                    *order_id,
                    RechargeOrderRow {
                        id: *order_id,
                        operator_id: id,
                        out_trade_no: out_trade_no.clone(),
                        channel: channel.as_str().to_owned(),
                        amount: *amount,
                        status: PENDING.to_owned(),
                        transaction_id: None,
                        query_failures: 0,
                        reason: None,
                        ordered_at: *ordered_at,
                        paid_at: None,
                        updated_at: *ordered_at,
                    },
                );
            }
            E::RechargeSucceeded {
                order_id,
                channel,
                transaction_id,
                amount,
                balance_after,
                paid_at,
                succeeded_at,
            } => {
                let order = open_order(&mut self.recharge_orders, id, *order_id)?;
                if order.amount != *amount || order.channel != channel.as_str() {
                    return Err(format!(
                        "credits {amount} by {} for order {order_id} of {} by {}",
                        channel.as_str(),
                        order.amount,
                        order.channel
                    ));
                }
                let expected = op
                    .balance
                    .checked_add(*amount)
                    .map_err(|e| format!("recharge overflows: {e}"))?;
                if expected != *balance_after {
                    return Err(format!(
                        "balance {} + recharge {amount} = {expected}, but the event says balance_after {balance_after}",
                        op.balance
                    ));
                }
                op.balance = *balance_after;
                op.total_credited = op
                    .total_credited
                    .checked_add(*amount)
                    .map_err(|e| e.to_string())?;
                order.status = "succeeded".to_owned();
                order.transaction_id = Some(transaction_id.clone());
                order.paid_at = Some(*paid_at);
                order.updated_at = *succeeded_at;
                self.transactions.push(TransactionRow {
                    position: event.key.position,
                    operator_id: id,
                    kind: "recharge",
                    amount: *amount,
                    balance_after: *balance_after,
                    reference: order.out_trade_no.clone(),
                    description: channel.as_str().to_owned(),
                    occurred_at: *succeeded_at,
                });
            }
            E::RechargeFailed {
                order_id,
                reason,
                failed_at,
            } => {
                let order = open_order(&mut self.recharge_orders, id, *order_id)?;
                order.status = "failed".to_owned();
                order.reason = Some(reason.clone());
                order.updated_at = *failed_at;
            }
            E::RechargeClosed {
                order_id,
                closed_at,
            } => {
                let order = open_order(&mut self.recharge_orders, id, *order_id)?;
                order.status = "closed".to_owned();
                order.updated_at = *closed_at;
            }
            E::RechargeQueryFailed {
                order_id,
                attempts,
                reason,
                failed_at,
            } => {
                let order = open_order(&mut self.recharge_orders, id, *order_id)?;
                let attempts = i32::try_from(*attempts).map_err(|_| "attempts out of range")?;
                if attempts != order.query_failures + 1 {
                    return Err(format!(
                        "query failure {attempts} of order {order_id} after {} failures",
                        order.query_failures
                    ));
                }
                order.query_failures = attempts;
                order.reason = Some(reason.clone());
                order.updated_at = *failed_at;
            }
            E::RechargeNeedsReview {
                order_id,
                reason,
                flagged_at,
            } => {
                let order = open_order(&mut self.recharge_orders, id, *order_id)?;
                order.status = NEEDS_REVIEW.to_owned();
                order.reason = Some(reason.clone());
                order.updated_at = *flagged_at;
            }
            other => unreachable!("{other:?} is not a recharge event"),
        }
        Ok(())
    }
}
