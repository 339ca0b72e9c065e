//! What people do around an operator's money stream besides games: profile and category,
//! app applications, refunds (maker-checker), invoices, messages and grant reminders.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AccountStatus, AppTerms, Category, Grant, Operator, OperatorError, OperatorEvent, REASON_MAX,
    check_text,
};
use crate::account_rules;
use crate::application::AppStatus;
use crate::ids::{AppId, AppRequestId, InvoiceId, RefundId};
use crate::money::Money;

use OperatorEvent as E;

/// Longest invoice title (characters).
pub const INVOICE_TITLE_MAX: usize = 100;
/// Most message ids one "mark read" may name.
pub const MARK_READ_MAX: usize = 500;

/// Fields of the profile an operator may change; `None` keeps the current value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// 普通发票 (general) or 增值税专用发票 (special VAT invoice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceType {
    General,
    Special,
}

impl InvoiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceType::General => "general",
            InvoiceType::Special => "special",
        }
    }

    pub fn parse(text: &str) -> Option<InvoiceType> {
        match text {
            "general" => Some(InvoiceType::General),
            "special" => Some(InvoiceType::Special),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub invoice_type: InvoiceType,
    pub title: String,
    pub tax_number: String,
    pub amount: Money,
}

/// The seller printed on an issued invoice, from configuration at issue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedBy {
    pub seller_name: String,
    pub seller_tax_number: String,
}

fn invalid(field: &'static str, reason: &str) -> OperatorError {
    OperatorError::InvalidField {
        field,
        reason: reason.to_owned(),
    }
}

pub(super) fn check_message_ids(ids: &[i64]) -> Result<(), OperatorError> {
    if ids.is_empty() || ids.len() > MARK_READ_MAX || ids.iter().any(|id| *id <= 0) {
        return Err(invalid("message_ids", "1 to 500 positive ids"));
    }
    Ok(())
}

fn money_sum(a: Money, b: Money) -> Money {
    a.checked_add(b).expect("totals stay within Money's range")
}

impl Operator {
    /// What may still be invoiced: money received, less money refunded, less invoices issued
    /// or waiting for review. Never negative (a refund after invoicing leaves nothing).
    pub fn invoiceable(&self) -> Money {
        let pending = self
            .pending_invoices
            .values()
            .fold(Money::ZERO, |sum, amount| money_sum(sum, *amount));
        let taken = money_sum(money_sum(self.total_refunded, self.invoiced), pending);
        self.total_credited
            .checked_sub(taken)
            .unwrap_or(Money::ZERO)
    }

    pub(super) fn decide_profile(
        &self,
        change: ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        let name = change.name.unwrap_or_else(|| self.name.clone());
        let phone = change.phone.unwrap_or_else(|| self.phone.clone());
        let email = change.email.unwrap_or_else(|| self.email.clone());
        check_text("name", &name, 100)?;
        if !account_rules::valid_phone(&phone) {
            return Err(invalid("phone", "digits, optionally + and hyphens"));
        }
        if !account_rules::valid_email(&email) {
            return Err(invalid("email", "an email address"));
        }
        if name == self.name && phone == self.phone && email == self.email {
            return Ok(vec![]);
        }
        Ok(vec![E::ProfileUpdated {
            name,
            phone,
            email,
            updated_at: now,
        }])
    }

    pub(super) fn decide_category(
        &self,
        category: Category,
        threshold: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        if category == self.category {
            return Ok(vec![]);
        }
        Ok(vec![
            E::CategoryChanged {
                category,
                changed_at: now,
            },
            E::LowBalanceThresholdSet {
                threshold,
                set_at: now,
            },
        ])
    }

    pub(super) fn decide_apply(
        &self,
        request_id: AppRequestId,
        app: AppTerms,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        check_text("reason", &reason, REASON_MAX)?;
        if app.status == AppStatus::Retired {
            return Err(OperatorError::AppInactive);
        }
        if self
            .grants
            .get(&app.app_id)
            .is_some_and(|g| !g.is_expired(now))
        {
            return Err(OperatorError::AppAlreadyGranted);
        }
        if let Some((pending, _)) = self
            .pending_applications
            .iter()
            .find(|(_, app_id)| **app_id == app.app_id)
        {
            return Err(OperatorError::ApplicationPending {
                request_id: *pending,
            });
        }
        Ok(vec![E::AppApplied {
            request_id,
            app_id: app.app_id,
            app_name: app.name,
            reason,
            applied_at: now,
        }])
    }

    fn pending_application(&self, request_id: AppRequestId) -> Result<AppId, OperatorError> {
        self.require_not_deactivated()?;
        self.pending_applications
            .get(&request_id)
            .copied()
            .ok_or(OperatorError::ApplicationNotFound)
    }

    /// Approval grants the app in the same step, so a headset may use it at once.
    pub(super) fn decide_approve_application(
        &self,
        request_id: AppRequestId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        let app_id = self.pending_application(request_id)?;
        Ok(vec![
            E::ApplicationApproved {
                request_id,
                app_id,
                approved_at: now,
            },
            E::AppGranted {
                app_id,
                expires_at,
                granted_at: now,
            },
        ])
    }

    pub(super) fn decide_reject_application(
        &self,
        request_id: AppRequestId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        let app_id = self.pending_application(request_id)?;
        check_text("reason", &reason, REASON_MAX)?;
        Ok(vec![E::ApplicationRejected {
            request_id,
            app_id,
            reason,
            rejected_at: now,
        }])
    }

    pub(super) fn decide_request_refund(
        &self,
        refund_id: RefundId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        check_text("reason", &reason, REASON_MAX)?;
        if let Some(open) = self.open_refund {
            return Err(OperatorError::RefundAlreadyOpen { refund_id: open });
        }
        if self.balance.is_zero() {
            return Err(OperatorError::NothingToRefund);
        }
        Ok(vec![E::RefundRequested {
            refund_id,
            requested_amount: self.balance,
            reason,
            requested_at: now,
        }])
    }

    fn require_open_refund(&self, refund_id: RefundId) -> Result<(), OperatorError> {
        self.require_registered()?;
        if self.open_refund != Some(refund_id) {
            return Err(OperatorError::RefundNotFound);
        }
        Ok(())
    }

    /// Invariant 7: the refund is the balance at approval time, never more; games played
    /// while the request waited have already reduced it.
    pub(super) fn decide_approve_refund(
        &self,
        refund_id: RefundId,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_open_refund(refund_id)?;
        if self.balance.is_zero() {
            return Err(OperatorError::NothingToRefund);
        }
        Ok(vec![E::RefundApproved {
            refund_id,
            amount: self.balance,
            balance_after: Money::ZERO,
            approved_at: now,
        }])
    }

    pub(super) fn decide_reject_refund(
        &self,
        refund_id: RefundId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_open_refund(refund_id)?;
        check_text("reason", &reason, REASON_MAX)?;
        Ok(vec![E::RefundRejected {
            refund_id,
            reason,
            rejected_at: now,
        }])
    }

    pub(super) fn decide_request_invoice(
        &self,
        invoice_id: InvoiceId,
        request: InvoiceRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_not_deactivated()?;
        check_text("title", &request.title, INVOICE_TITLE_MAX)?;
        if !account_rules::valid_tax_number(&request.tax_number) {
            return Err(invalid(
                "tax_number",
                "15 to 20 upper-case letters and digits",
            ));
        }
        if request.amount.is_zero() {
            return Err(invalid("amount", "must be greater than 0"));
        }
        let invoiceable = self.invoiceable();
        if request.amount > invoiceable {
            return Err(OperatorError::InvoiceAmountExceeded {
                invoiceable,
                requested: request.amount,
            });
        }
        Ok(vec![E::InvoiceRequested {
            invoice_id,
            invoice_type: request.invoice_type,
            title: request.title,
            tax_number: request.tax_number,
            amount: request.amount,
            requested_at: now,
        }])
    }

    fn pending_invoice(&self, invoice_id: InvoiceId) -> Result<Money, OperatorError> {
        self.require_registered()?;
        self.pending_invoices
            .get(&invoice_id)
            .copied()
            .ok_or(OperatorError::InvoiceNotFound)
    }

    pub(super) fn decide_issue_invoice(
        &self,
        invoice_id: InvoiceId,
        invoice_number: String,
        issued_by: IssuedBy,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        let amount = self.pending_invoice(invoice_id)?;
        Ok(vec![E::InvoiceIssued {
            invoice_id,
            invoice_number,
            amount,
            seller_name: issued_by.seller_name,
            seller_tax_number: issued_by.seller_tax_number,
            issued_at: now,
        }])
    }

    pub(super) fn decide_reject_invoice(
        &self,
        invoice_id: InvoiceId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.pending_invoice(invoice_id)?;
        check_text("reason", &reason, REASON_MAX)?;
        Ok(vec![E::InvoiceRejected {
            invoice_id,
            reason,
            rejected_at: now,
        }])
    }

    /// Due once per expiry: a grant given a new expiry may be reminded again.
    pub(super) fn decide_reminder(
        &self,
        app_id: AppId,
        app_name: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperatorEvent>, OperatorError> {
        self.require_registered()?;
        let due = matches!(
            self.status,
            AccountStatus::Active | AccountStatus::Locked { .. }
        ) && self.grants.get(&app_id).is_some_and(|g: &Grant| {
            g.expires_at == Some(expires_at) && !g.reminded && !g.is_expired(now)
        });
        if !due {
            return Err(OperatorError::ReminderNotDue);
        }
        Ok(vec![E::GrantExpiryReminded {
            app_id,
            app_name,
            expires_at,
            reminded_at: now,
        }])
    }

    /// State changes of the events decided in this file.
    pub(super) fn apply_workflow(&mut self, event: OperatorEvent) {
        match event {
            E::ProfileUpdated {
                name, phone, email, ..
            } => {
                self.name = name;
                self.phone = phone;
                self.email = email;
            }
            E::CategoryChanged { category, .. } => self.category = category,
            E::LowBalanceThresholdSet { threshold, .. } => self.low_balance_threshold = threshold,
            E::AppApplied {
                request_id, app_id, ..
            } => {
                self.pending_applications.insert(request_id, app_id);
            }
            E::ApplicationApproved { request_id, .. }
            | E::ApplicationRejected { request_id, .. } => {
                self.pending_applications.remove(&request_id);
            }
            E::RefundRequested { refund_id, .. } => self.open_refund = Some(refund_id),
            E::RefundApproved {
                amount,
                balance_after,
                ..
            } => {
                let expected = self
                    .balance
                    .checked_sub(amount)
                    .expect("refund was checked");
                assert_eq!(expected, balance_after, "RefundApproved.balance_after");
                self.balance = balance_after;
                self.total_refunded = money_sum(self.total_refunded, amount);
                self.open_refund = None;
            }
            E::RefundRejected { .. } => self.open_refund = None,
            E::InvoiceRequested {
                invoice_id, amount, ..
            } => {
                self.pending_invoices.insert(invoice_id, amount);
            }
            E::InvoiceIssued {
                invoice_id, amount, ..
            } => {
                self.pending_invoices.remove(&invoice_id);
                self.invoiced = money_sum(self.invoiced, amount);
            }
            E::InvoiceRejected { invoice_id, .. } => {
                self.pending_invoices.remove(&invoice_id);
            }
            E::GrantExpiryReminded { app_id, .. } => {
                if let Some(grant) = self.grants.get_mut(&app_id) {
                    grant.reminded = true;
                }
            }
            E::PasswordChanged { .. } | E::MessagesRead { .. } | E::AllMessagesRead { .. } => {}
            other => unreachable!("{other:?} is applied in the aggregate's own match"),
        }
    }
}
