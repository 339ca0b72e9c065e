//! The operator's requests and their reviews: profile, category and threshold, app
//! applications, refunds (money out, pair-asserted like every money event), invoices, read
//! marks and grant reminders.
//!
//! A request creates its row; its review updates that row, naming the reviewer (the review
//! event's metadata `actor_id`) and the review time (the event's own time).

use ledger_core::ids::OperatorId;
use ledger_core::money::Money;
use ledger_core::operator::OperatorEvent;

use super::{State, messages};
use crate::rows::{AppApplicationRow, InvoiceRow, MessageRow, RefundRow, TransactionRow};
use crate::source::StoredEvent;

const PENDING: &str = "pending";

fn sum(a: Money, b: Money) -> Result<Money, String> {
    a.checked_add(b).map_err(|e| e.to_string())
}

impl State {
    /// Applies a workflow event of operator `id` (registered, its head already moved on).
    pub(super) fn apply_workflow(
        &mut self,
        id: OperatorId,
        event: &StoredEvent,
        e: &OperatorEvent,
    ) -> Result<(), String> {
        use OperatorEvent as E;
        let position = event.key.position;
        let reviewer = || {
            event
                .actor_id()
                .map(str::to_owned)
                .ok_or_else(|| "a review without its actor in the metadata".to_owned())
        };
        let op = self
            .operators
            .get_mut(&id)
            .expect("apply_operator checked the registration");
        match e {
            E::ProfileUpdated {
                name, phone, email, ..
            } => {
                op.name = name.clone();
                op.phone = phone.clone();
                op.email = email.clone();
            }
            E::PasswordChanged { .. } => {}
            E::CategoryChanged { category, .. } => {
                op.category = category.as_str().to_owned();
            }
            E::LowBalanceThresholdSet { threshold, .. } => {
                op.low_balance_threshold = *threshold;
            }
            E::AppApplied {
                request_id,
                app_id,
                app_name,
                reason,
                applied_at,
            } => {
                if self.app_applications.contains(request_id) {
                    return Err(format!("application {request_id} made twice"));
                }
                self.app_applications.insert(
                    *request_id,
                    AppApplicationRow {
                        id: *request_id,
                        operator_id: id,
                        app_id: *app_id,
                        app_name: app_name.clone(),
                        reason: reason.clone(),
                        status: PENDING.to_owned(),
                        review_reason: None,
                        reviewed_by: None,
                        applied_at: *applied_at,
                        reviewed_at: None,
                    },
                );
            }
            E::ApplicationApproved {
                request_id,
                app_id,
                approved_at,
            }
            | E::ApplicationRejected {
                request_id,
                app_id,
                rejected_at: approved_at,
                ..
            } => {
                let row = self
                    .app_applications
                    .get_mut(request_id)
                    .filter(|r| r.operator_id == id && r.app_id == *app_id)
                    .ok_or_else(|| {
                        format!("reviews application {request_id} this operator never made")
                    })?;
                if row.status != PENDING {
                    return Err(format!("application {request_id} reviewed twice"));
                }
                if let E::ApplicationRejected { reason, .. } = e {
                    row.status = "rejected".to_owned();
                    row.review_reason = Some(reason.clone());
                } else {
                    row.status = "approved".to_owned();
                }
                row.reviewed_by = Some(reviewer()?);
                row.reviewed_at = Some(*approved_at);
            }
            E::RefundRequested {
                refund_id,
                requested_amount,
                reason,
                requested_at,
            } => {
                if self.refunds.contains(refund_id) {
                    return Err(format!("refund {refund_id} requested twice"));
                }
                self.refunds.insert(
                    *refund_id,
                    RefundRow {
                        id: *refund_id,
                        operator_id: id,
                        status: PENDING.to_owned(),
                        requested_amount: *requested_amount,
                        reason: reason.clone(),
                        amount: None,
                        balance_after: None,
                        reject_reason: None,
                        reviewed_by: None,
                        requested_at: *requested_at,
                        reviewed_at: None,
                    },
                );
            }
            E::RefundApproved {
                refund_id,
                amount,
                balance_after,
                approved_at,
            } => {
                let refund = self
                    .refunds
                    .get_mut(refund_id)
                    .filter(|r| r.operator_id == id && r.status == PENDING)
                    .ok_or_else(|| format!("approves refund {refund_id} that is not pending"))?;
                let expected = op
                    .balance
                    .checked_sub(*amount)
                    .map_err(|_| format!("refund {amount} exceeds the balance {}", op.balance))?;
                if expected != *balance_after {
                    return Err(format!(
                        "balance {} - refund {amount} = {expected}, but the event says balance_after {balance_after}",
                        op.balance
                    ));
                }
                op.balance = *balance_after;
                op.total_refunded = sum(op.total_refunded, *amount)?;
                refund.status = "approved".to_owned();
                refund.amount = Some(*amount);
                refund.balance_after = Some(*balance_after);
                refund.reviewed_by = Some(reviewer()?);
                refund.reviewed_at = Some(*approved_at);
                self.transactions.push(TransactionRow {
                    position,
                    operator_id: id,
                    kind: "refund",
                    amount: *amount,
                    balance_after: *balance_after,
                    reference: refund_id.to_string(),
                    description: refund.reason.clone(),
                    occurred_at: *approved_at,
                });
            }
            E::RefundRejected {
                refund_id,
                reason,
                rejected_at,
            } => {
                let refund = self
                    .refunds
                    .get_mut(refund_id)
                    .filter(|r| r.operator_id == id && r.status == PENDING)
                    .ok_or_else(|| format!("rejects refund {refund_id} that is not pending"))?;
                refund.status = "rejected".to_owned();
                refund.reject_reason = Some(reason.clone());
                refund.reviewed_by = Some(reviewer()?);
                refund.reviewed_at = Some(*rejected_at);
            }
            E::InvoiceRequested {
                invoice_id,
                invoice_type,
                title,
                tax_number,
                amount,
                requested_at,
            } => {
                if self.invoices.contains(invoice_id) {
                    return Err(format!("invoice {invoice_id} requested twice"));
                }
                self.invoices.insert(
                    *invoice_id,
                    InvoiceRow {
                        id: *invoice_id,
                        operator_id: id,
                        status: PENDING.to_owned(),
                        invoice_type: invoice_type.as_str().to_owned(),
                        title: title.clone(),
                        tax_number: tax_number.clone(),
                        amount: *amount,
                        invoice_number: None,
                        seller_name: None,
                        seller_tax_number: None,
                        reject_reason: None,
                        reviewed_by: None,
                        requested_at: *requested_at,
                        issued_at: None,
                        reviewed_at: None,
                    },
                );
            }
            E::InvoiceIssued {
                invoice_id,
                invoice_number,
                amount,
                seller_name,
                seller_tax_number,
                issued_at,
            } => {
                let invoice = self
                    .invoices
                    .get_mut(invoice_id)
                    .filter(|r| r.operator_id == id && r.status == PENDING)
                    .ok_or_else(|| format!("issues invoice {invoice_id} that is not pending"))?;
                if invoice.amount != *amount {
                    return Err(format!(
                        "issues {amount} for invoice {invoice_id} requested for {}",
                        invoice.amount
                    ));
                }
                op.total_invoiced = sum(op.total_invoiced, *amount)?;
                invoice.status = "issued".to_owned();
                invoice.invoice_number = Some(invoice_number.clone());
                invoice.seller_name = Some(seller_name.clone());
                invoice.seller_tax_number = Some(seller_tax_number.clone());
                invoice.issued_at = Some(*issued_at);
                invoice.reviewed_by = Some(reviewer()?);
                invoice.reviewed_at = Some(*issued_at);
            }
            E::InvoiceRejected {
                invoice_id,
                reason,
                rejected_at,
            } => {
                let invoice = self
                    .invoices
                    .get_mut(invoice_id)
                    .filter(|r| r.operator_id == id && r.status == PENDING)
                    .ok_or_else(|| format!("rejects invoice {invoice_id} that is not pending"))?;
                invoice.status = "rejected".to_owned();
                invoice.reject_reason = Some(reason.clone());
                invoice.reviewed_by = Some(reviewer()?);
                invoice.reviewed_at = Some(*rejected_at);
            }
            E::MessagesRead {
                message_ids,
                read_at,
            } => {
                self.messages
                    .mark(id, Some(message_ids.clone()), position, *read_at);
            }
            E::AllMessagesRead { read_at } => {
                self.messages.mark(id, None, position, *read_at);
            }
            E::GrantExpiryReminded {
                app_id,
                app_name,
                expires_at,
                reminded_at,
            } => {
                self.messages.create(MessageRow {
                    operator_id: id,
                    id: position,
                    kind: messages::GRANT_EXPIRY,
                    data: serde_json::json!({
                        "app_id": app_id,
                        "app_name": app_name,
                        "expires_at": expires_at,
                    }),
                    created_at: *reminded_at,
                    read_at: None,
                });
            }
            other => unreachable!("{other:?} is applied in apply_operator"),
        }
        Ok(())
    }
}
