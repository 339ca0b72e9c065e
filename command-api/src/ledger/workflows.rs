//! What people do around an operator's stream besides games and the catalog: the operator's
//! own profile, sites and credentials; app applications and their review; refunds
//! (maker-checker); invoices; message read marks; category and threshold changes; and the
//! grant-expiry reminder.
//!
//! The operator's own commands take its id from the caller's session, never from the request,
//! and record the operator as the actor; reviews record the staff member.

use chrono::{DateTime, FixedOffset, Utc};
use ledger_core::ids::{AppId, AppRequestId, InvoiceId, OperatorId, RefundId, SiteId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::money::Money;
use ledger_core::operator::{
    Category, InvoiceRequest, Operator, OperatorCommand, OperatorError, OperatorEvent,
    ProfileChange,
};
use serde::Serialize;

use super::admin::{GrantView, IssuedCredential, SiteView, Staff};
use super::{Executed, Ledger, Refused, SideWrite};
use crate::accounts::AccountId;
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::store::{StoreError, classify};
use crate::wire;

/// Invoice numbers carry the issue date in China Standard Time: UTC+8, no daylight saving.
const INVOICE_DATE_OFFSET_SECONDS: i32 = 8 * 3600;

/// Who recorded the grant-expiry reminders (metadata `actor_id`, role `system`).
pub const REMINDER_ACTOR: &str = "grant-reminder";

fn metadata(
    actor_id: String,
    actor_role: ActorRole,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> EventMetadata {
    EventMetadata {
        actor_id,
        actor_role,
        source_ip: ctx.source_ip.clone(),
        request_id: ctx.request_id.clone(),
        trace_id: ctx.trace_id.clone(),
        occurred_at: now,
    }
}

fn own_metadata(
    operator_id: OperatorId,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> EventMetadata {
    metadata(operator_id.to_string(), ActorRole::Operator, ctx, now)
}

fn staff_metadata(staff: &Staff, ctx: &RequestContext, now: DateTime<Utc>) -> EventMetadata {
    metadata(staff.id.clone(), staff.role, ctx, now)
}

/// The operator as the actor of the staff-shaped commands it may also run on itself (open
/// and close a site, rotate credentials): those record whoever this names.
fn operator_as_actor(operator_id: OperatorId) -> Staff {
    Staff {
        id: operator_id.to_string(),
        role: ActorRole::Operator,
    }
}

/// `MR` + issue date (UTC+8) as `YYYYMMDD` + the sequence number, zero-padded to 8 digits.
pub fn invoice_number(issued_at: DateTime<Utc>, sequence: i64) -> String {
    let offset = FixedOffset::east_opt(INVOICE_DATE_OFFSET_SECONDS).expect("UTC+8 is valid");
    let date = issued_at.with_timezone(&offset).format("%Y%m%d");
    format!("MR{date}{sequence:08}")
}

/// An operator account as the account endpoints answer it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileView {
    pub id: OperatorId,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: &'static str,
    pub status: &'static str,
    pub balance: Money,
    pub low_balance_threshold: Money,
}

fn profile_view(id: OperatorId, op: &Operator) -> ProfileView {
    ProfileView {
        id,
        username: op.username.clone(),
        name: op.name.clone(),
        phone: op.phone.clone(),
        email: op.email.clone(),
        category: op.category.as_str(),
        status: op.status.as_str(),
        balance: op.balance,
        low_balance_threshold: op.low_balance_threshold,
    }
}

fn site_view(operator_id: OperatorId, site_id: SiteId, op: &Operator) -> SiteView {
    let site = op
        .sites
        .get(&site_id)
        .expect("site exists after a site command");
    SiteView {
        id: site_id,
        operator_id,
        name: site.name.clone(),
        address: site.address.clone(),
        status: if site.open { "open" } else { "closed" },
    }
}

/// What an administrator may change on an operator; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct OperatorPatch {
    pub profile: ProfileChange,
    pub category: Option<Category>,
    /// Set after the category, so an explicit threshold wins over the category's default.
    pub low_balance_threshold: Option<Money>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationView {
    pub id: AppRequestId,
    pub operator_id: OperatorId,
    pub app_id: AppId,
    pub app_name: String,
    pub reason: String,
    pub status: &'static str,
    pub applied_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationReviewed {
    pub application_id: AppRequestId,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefundView {
    pub id: RefundId,
    pub operator_id: OperatorId,
    pub status: &'static str,
    pub requested_amount: Money,
    pub reason: String,
    pub requested_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefundReviewed {
    pub refund_id: RefundId,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_after: Option<Money>,
    pub reviewed_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceView {
    pub id: InvoiceId,
    pub operator_id: OperatorId,
    pub status: &'static str,
    pub invoice_type: &'static str,
    pub title: String,
    pub tax_number: String,
    pub amount: Money,
    pub requested_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceReviewed {
    pub invoice_id: InvoiceId,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    pub reviewed_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessagesMarked {
    /// `None` for "read all".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<i64>>,
    pub read_at: String,
}

impl Ledger {
    async fn on_operator(
        &self,
        metadata: EventMetadata,
        operator_id: OperatorId,
        commands: Vec<OperatorCommand>,
        side: Option<SideWrite>,
    ) -> Result<Executed<Operator>, ApiError> {
        Ok(self
            .execute(
                &self.operators,
                &operator_id.to_string(),
                &metadata,
                commands,
                side,
            )
            .await?)
    }

    /// The single event of the kind `pick` recognises among what a command decided.
    fn decided<T>(events: Vec<OperatorEvent>, pick: impl Fn(OperatorEvent) -> Option<T>) -> T {
        events
            .into_iter()
            .find_map(pick)
            .expect("the command decides the event its caller expects")
    }

    /// O3: the operator edits its own name, phone or email.
    pub async fn update_own_profile(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        change: ProfileChange,
    ) -> Result<ProfileView, ApiError> {
        let now = self.now();
        let command = OperatorCommand::UpdateProfile { change, now };
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(profile_view(operator_id, &done.state))
    }

    /// A1: staff change an operator's profile, category and threshold in one append.
    pub async fn update_operator(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        patch: OperatorPatch,
    ) -> Result<ProfileView, ApiError> {
        let now = self.now();
        let mut commands = Vec::new();
        let OperatorPatch {
            profile,
            category,
            low_balance_threshold,
        } = patch;
        if profile.name.is_some() || profile.phone.is_some() || profile.email.is_some() {
            commands.push(OperatorCommand::UpdateProfile {
                change: profile,
                now,
            });
        }
        if let Some(category) = category {
            commands.push(OperatorCommand::ChangeCategory {
                category,
                low_balance_threshold: self.policy.thresholds.of(category),
                now,
            });
        }
        if let Some(threshold) = low_balance_threshold {
            commands.push(OperatorCommand::SetLowBalanceThreshold { threshold, now });
        }
        if commands.is_empty() {
            return Ok(profile_view(
                operator_id,
                &self.operator_state(operator_id).await?,
            ));
        }
        let done = self
            .on_operator(staff_metadata(staff, ctx, now), operator_id, commands, None)
            .await?;
        Ok(profile_view(operator_id, &done.state))
    }

    pub async fn open_own_site(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        name: String,
        address: String,
    ) -> Result<SiteView, ApiError> {
        self.open_site(
            &operator_as_actor(operator_id),
            ctx,
            operator_id,
            name,
            address,
        )
        .await
    }

    /// Only the caller's own sites exist for it: another operator's site id is
    /// `SITE_NOT_FOUND`, like an id that was never issued.
    pub async fn update_own_site(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        site_id: SiteId,
        name: Option<String>,
        address: Option<String>,
    ) -> Result<SiteView, ApiError> {
        let current = self.operator_state(operator_id).await?;
        let site = current
            .sites
            .get(&site_id)
            .ok_or_else(|| ApiError::new(ErrorCode::SiteNotFound))?;
        let now = self.now();
        let command = OperatorCommand::UpdateSite {
            site_id,
            name: name.unwrap_or_else(|| site.name.clone()),
            address: address.unwrap_or_else(|| site.address.clone()),
            now,
        };
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(site_view(operator_id, site_id, &done.state))
    }

    /// Logical delete: the site is closed, its history stays.
    pub async fn close_own_site(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        site_id: SiteId,
    ) -> Result<SiteView, ApiError> {
        self.close_site(&operator_as_actor(operator_id), ctx, operator_id, site_id)
            .await
    }

    pub async fn rotate_own_credentials(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        overlap_seconds: i64,
    ) -> Result<IssuedCredential, ApiError> {
        self.rotate_credentials(
            &operator_as_actor(operator_id),
            ctx,
            operator_id,
            overlap_seconds,
        )
        .await
    }

    /// O4: the operator closes its own account after giving its password again. The login
    /// is disabled and every session ends in the transaction that records the deactivation;
    /// the data stays.
    pub async fn deactivate_own_account(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        password: &str,
    ) -> Result<ProfileView, ApiError> {
        let account = AccountId::from(operator_id);
        self.verify_password(account, password).await?;
        let now = self.now();
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![OperatorCommand::DeactivateAccount { now }],
                Some(SideWrite::DisableLogin(account)),
            )
            .await?;
        Ok(profile_view(operator_id, &done.state))
    }

    /// O8: apply for an app; its terms are read from the catalog as the command's outside
    /// fact (name, status).
    pub async fn apply_for_app(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        app_id: AppId,
        reason: String,
    ) -> Result<ApplicationView, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let terms = self.app_terms(&client, app_id, true).await?;
        drop(client);
        let Some((app, _)) = terms else {
            return Err(ApiError::with(
                ErrorCode::AppNotFound,
                serde_json::json!({ "app_id": app_id }),
            ));
        };
        let now = self.now();
        let request_id = AppRequestId::new();
        let command = OperatorCommand::ApplyForApp {
            request_id,
            app,
            reason,
            now,
        };
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(Self::decided(done.events, |event| match event {
            OperatorEvent::AppApplied {
                request_id,
                app_id,
                app_name,
                reason,
                applied_at,
            } => Some(ApplicationView {
                id: request_id,
                operator_id,
                app_id,
                app_name,
                reason,
                status: "pending",
                applied_at: wire::time(applied_at),
            }),
            _ => None,
        }))
    }

    /// A3: approval grants the app in the same append, so a headset may use it at once.
    pub async fn approve_application(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        request_id: AppRequestId,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApplicationReviewed, ApiError> {
        let now = self.now();
        let command = OperatorCommand::ApproveApplication {
            request_id,
            expires_at,
            now,
        };
        let done = self
            .on_operator(
                staff_metadata(staff, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        let grant = Self::decided(done.events, |event| match event {
            OperatorEvent::AppGranted {
                app_id, expires_at, ..
            } => Some(GrantView {
                operator_id,
                app_id,
                expires_at: wire::opt_time(expires_at),
                expired: expires_at.is_some_and(|e| e <= now),
            }),
            _ => None,
        });
        Ok(ApplicationReviewed {
            application_id: request_id,
            status: "approved",
            grant: Some(grant),
        })
    }

    pub async fn reject_application(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        request_id: AppRequestId,
        reason: String,
    ) -> Result<ApplicationReviewed, ApiError> {
        let now = self.now();
        let command = OperatorCommand::RejectApplication {
            request_id,
            reason,
            now,
        };
        self.on_operator(
            staff_metadata(staff, ctx, now),
            operator_id,
            vec![command],
            None,
        )
        .await?;
        Ok(ApplicationReviewed {
            application_id: request_id,
            status: "rejected",
            grant: None,
        })
    }

    /// O9: ask for the balance back; what is refunded is decided at approval.
    pub async fn request_refund(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        reason: String,
    ) -> Result<RefundView, ApiError> {
        let now = self.now();
        let command = OperatorCommand::RequestRefund {
            refund_id: RefundId::new(),
            reason,
            now,
        };
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(Self::decided(done.events, |event| match event {
            OperatorEvent::RefundRequested {
                refund_id,
                requested_amount,
                reason,
                requested_at,
            } => Some(RefundView {
                id: refund_id,
                operator_id,
                status: "pending",
                requested_amount,
                reason,
                requested_at: wire::time(requested_at),
            }),
            _ => None,
        }))
    }

    /// F3, invariant 7: the refund is the balance at this moment, decided on the operator's
    /// stream in order with every charge, so it can never exceed what is there.
    pub async fn approve_refund(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        refund_id: RefundId,
    ) -> Result<RefundReviewed, ApiError> {
        let now = self.now();
        let command = OperatorCommand::ApproveRefund { refund_id, now };
        let done = self
            .on_operator(
                staff_metadata(staff, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(Self::decided(done.events, |event| match event {
            OperatorEvent::RefundApproved {
                refund_id,
                amount,
                balance_after,
                approved_at,
            } => Some(RefundReviewed {
                refund_id,
                status: "approved",
                amount: Some(amount),
                balance_after: Some(balance_after),
                reviewed_at: wire::time(approved_at),
            }),
            _ => None,
        }))
    }

    pub async fn reject_refund(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        refund_id: RefundId,
        reason: String,
    ) -> Result<RefundReviewed, ApiError> {
        let now = self.now();
        let command = OperatorCommand::RejectRefund {
            refund_id,
            reason,
            now,
        };
        self.on_operator(
            staff_metadata(staff, ctx, now),
            operator_id,
            vec![command],
            None,
        )
        .await?;
        Ok(RefundReviewed {
            refund_id,
            status: "rejected",
            amount: None,
            balance_after: None,
            reviewed_at: wire::time(now),
        })
    }

    /// O10: the amount is reserved against what may be invoiced until it is reviewed.
    pub async fn request_invoice(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        request: InvoiceRequest,
    ) -> Result<InvoiceView, ApiError> {
        let now = self.now();
        let command = OperatorCommand::RequestInvoice {
            invoice_id: InvoiceId::new(),
            request,
            now,
        };
        let done = self
            .on_operator(
                own_metadata(operator_id, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(Self::decided(done.events, |event| match event {
            OperatorEvent::InvoiceRequested {
                invoice_id,
                invoice_type,
                title,
                tax_number,
                amount,
                requested_at,
            } => Some(InvoiceView {
                id: invoice_id,
                operator_id,
                status: "pending",
                invoice_type: invoice_type.as_str(),
                title,
                tax_number,
                amount,
                requested_at: wire::time(requested_at),
            }),
            _ => None,
        }))
    }

    /// F4: issue the invoice under the next number of the `invoice_numbers` sequence.
    pub async fn issue_invoice(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        invoice_id: InvoiceId,
    ) -> Result<InvoiceReviewed, ApiError> {
        // Numbers are never reused, so one is only drawn for a request that is waiting.
        let current = self.operator_state(operator_id).await?;
        if !current.pending_invoices.contains_key(&invoice_id) {
            return Err(ApiError::new(ErrorCode::InvoiceNotFound));
        }
        let now = self.now();
        let invoice_number = invoice_number(now, self.next_invoice_sequence().await?);
        let command = OperatorCommand::IssueInvoice {
            invoice_id,
            invoice_number,
            issued_by: self.policy.invoice_seller.clone(),
            now,
        };
        let done = self
            .on_operator(
                staff_metadata(staff, ctx, now),
                operator_id,
                vec![command],
                None,
            )
            .await?;
        Ok(Self::decided(done.events, |event| match event {
            OperatorEvent::InvoiceIssued {
                invoice_id,
                invoice_number,
                amount,
                issued_at,
                ..
            } => Some(InvoiceReviewed {
                invoice_id,
                status: "issued",
                invoice_number: Some(invoice_number),
                amount: Some(amount),
                issued_at: Some(wire::time(issued_at)),
                reviewed_at: wire::time(issued_at),
            }),
            _ => None,
        }))
    }

    async fn next_invoice_sequence(&self) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT nextval('invoice_numbers')", &[])
            .await
            .map_err(classify)?;
        Ok(row.get(0))
    }

    pub async fn reject_invoice(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        invoice_id: InvoiceId,
        reason: String,
    ) -> Result<InvoiceReviewed, ApiError> {
        let now = self.now();
        let command = OperatorCommand::RejectInvoice {
            invoice_id,
            reason,
            now,
        };
        self.on_operator(
            staff_metadata(staff, ctx, now),
            operator_id,
            vec![command],
            None,
        )
        .await?;
        Ok(InvoiceReviewed {
            invoice_id,
            status: "rejected",
            invoice_number: None,
            amount: None,
            issued_at: None,
            reviewed_at: wire::time(now),
        })
    }

    /// Read marks are events too, so the message center replays to the same state.
    pub async fn mark_messages_read(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        message_ids: Option<Vec<i64>>,
    ) -> Result<MessagesMarked, ApiError> {
        let now = self.now();
        let command = match message_ids.clone() {
            Some(message_ids) => OperatorCommand::MarkMessagesRead { message_ids, now },
            None => OperatorCommand::MarkAllMessagesRead { now },
        };
        self.on_operator(
            own_metadata(operator_id, ctx, now),
            operator_id,
            vec![command],
            None,
        )
        .await?;
        Ok(MessagesMarked {
            message_ids,
            read_at: wire::time(now),
        })
    }

    /// Sends the reminder of one grant's expiry; `false` when none is due (already sent,
    /// expiry changed, grant gone, account deactivated, or the app no longer exists).
    pub async fn remind_grant_expiry(
        &self,
        operator_id: OperatorId,
        app_id: AppId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let terms = self.app_terms(&client, app_id, false).await?;
        drop(client);
        let Some((app, _)) = terms else {
            return Ok(false);
        };
        let now = self.now();
        let metadata = EventMetadata {
            actor_id: REMINDER_ACTOR.to_owned(),
            actor_role: ActorRole::System,
            source_ip: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            occurred_at: now,
        };
        let command = OperatorCommand::RemindGrantExpiry {
            app_id,
            app_name: app.name,
            expires_at,
            now,
        };
        match self
            .execute(
                &self.operators,
                &operator_id.to_string(),
                &metadata,
                vec![command],
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Refused::Domain(OperatorError::ReminderNotDue)) => Ok(false),
            Err(refused) => Err(refused.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_numbers_carry_the_china_date_and_eight_digits() {
        let late_evening_utc = "2026-01-01T16:30:00Z".parse().unwrap();
        assert_eq!(
            invoice_number(late_evening_utc, 42),
            "MR2026010200000042",
            "16:30 UTC is already the next day in UTC+8"
        );
        let morning_utc = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(invoice_number(morning_utc, 7), "MR2026010100000007");
    }
}
