//! The `Operator` aggregate: an arcade company and its money stream.
//!
//! Holds what an authorization decides on (account state, credentials, sites, grants,
//! balance) and nothing that grows with history: authorized sessions are looked up by the
//! event store's idempotency rows, not kept here, so loading an operator costs the same after
//! a million games as after one.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::application::AppStatus;
use crate::ids::{
    AppId, AppRequestId, AuthorizationToken, CreditId, InvoiceId, KeyId, OperatorId,
    RechargeOrderId, RefundId, SessionId, SiteId,
};
use crate::money::{Money, MoneyError};

mod recharges;
mod workflows;

pub use recharges::{
    GatewayPayment, OpenRecharge, PaymentChannel, RECHARGE_MAX_FEN, RECHARGE_MIN_FEN,
};

pub use workflows::{
    INVOICE_TITLE_MAX, InvoiceRequest, InvoiceType, IssuedBy, MARK_READ_MAX, ProfileChange,
};

/// Longest overlap during which rotated-out keys keep working (24 h).
pub const MAX_ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);
/// Longest free-text reason (lock, credit) in characters.
pub const REASON_MAX: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Vip,
    Standard,
    #[default]
    Trial,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Vip => "vip",
            Category::Standard => "standard",
            Category::Trial => "trial",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AccountStatus {
    #[default]
    Active,
    Locked {
        locked_at: DateTime<Utc>,
        reason: String,
    },
    Deactivated {
        deactivated_at: DateTime<Utc>,
    },
}

impl AccountStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Locked { .. } => "locked",
            AccountStatus::Deactivated { .. } => "deactivated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Hex SHA-256 of the secret: enough to recognise a secret, useless to forge with.
    pub fingerprint: String,
    pub issued_at: DateTime<Utc>,
    /// `None` while the key has no scheduled end.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Credential {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.ends_at.is_none_or(|end| now < end)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub name: String,
    pub address: String,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `None`: permanent.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the reminder before this expiry was sent (a new expiry starts over).
    #[serde(default)]
    pub reminded: bool,
}

impl Grant {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|end| end <= now)
    }
}

/// A key whose end was set by a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub key_id: KeyId,
    pub ends_at: DateTime<Utc>,
}

/// The app's terms in force when a game is authorized: an outside fact the command brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppTerms {
    pub app_id: AppId,
    pub name: String,
    pub unit_price: Money,
    pub min_players: u32,
    pub max_players: u32,
    pub status: AppStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorCommand {
    RegisterOperator {
        operator_id: OperatorId,
        username: String,
        name: String,
        phone: String,
        email: String,
        category: Category,
        /// The category's default low-balance threshold, from configuration.
        low_balance_threshold: Money,
        key_id: KeyId,
        fingerprint: String,
        now: DateTime<Utc>,
    },
    UpdateProfile {
        change: ProfileChange,
        now: DateTime<Utc>,
    },
    /// The password itself lives beside the stream; the stream records that it changed.
    ChangePassword {
        now: DateTime<Utc>,
    },
    ChangeCategory {
        category: Category,
        /// The new category's default threshold, from configuration.
        low_balance_threshold: Money,
        now: DateTime<Utc>,
    },
    SetLowBalanceThreshold {
        threshold: Money,
        now: DateTime<Utc>,
    },
    ApplyForApp {
        request_id: AppRequestId,
        app: AppTerms,
        reason: String,
        now: DateTime<Utc>,
    },
    ApproveApplication {
        request_id: AppRequestId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    RejectApplication {
        request_id: AppRequestId,
        reason: String,
        now: DateTime<Utc>,
    },
    RequestRefund {
        refund_id: RefundId,
        reason: String,
        now: DateTime<Utc>,
    },
    ApproveRefund {
        refund_id: RefundId,
        now: DateTime<Utc>,
    },
    RejectRefund {
        refund_id: RefundId,
        reason: String,
        now: DateTime<Utc>,
    },
    RequestInvoice {
        invoice_id: InvoiceId,
        request: InvoiceRequest,
        now: DateTime<Utc>,
    },
    IssueInvoice {
        invoice_id: InvoiceId,
        invoice_number: String,
        issued_by: IssuedBy,
        now: DateTime<Utc>,
    },
    RejectInvoice {
        invoice_id: InvoiceId,
        reason: String,
        now: DateTime<Utc>,
    },
    /// Marks the listed messages read (ids are the read side's message ids).
    MarkMessagesRead {
        message_ids: Vec<i64>,
        now: DateTime<Utc>,
    },
    /// Marks every message that exists now read.
    MarkAllMessagesRead {
        now: DateTime<Utc>,
    },
    /// Sent by the reminder job some days before a grant expires.
    RemindGrantExpiry {
        app_id: AppId,
        app_name: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    CreateRechargeOrder {
        order_id: RechargeOrderId,
        /// Our order number at the gateway (`out_trade_no`).
        out_trade_no: String,
        channel: PaymentChannel,
        amount: Money,
        now: DateTime<Utc>,
    },
    /// A verified gateway result says the order is paid.
    ConfirmRecharge {
        order_id: RechargeOrderId,
        payment: GatewayPayment,
        now: DateTime<Utc>,
    },
    FailRecharge {
        order_id: RechargeOrderId,
        reason: String,
        now: DateTime<Utc>,
    },
    CloseRecharge {
        order_id: RechargeOrderId,
        now: DateTime<Utc>,
    },
    RecordRechargeQueryFailure {
        order_id: RechargeOrderId,
        reason: String,
        /// Failures in a row after which the order needs a person (configuration).
        max_failures: u32,
        now: DateTime<Utc>,
    },
    RotateCredentials {
        key_id: KeyId,
        fingerprint: String,
        overlap: TimeDelta,
        now: DateTime<Utc>,
    },
    OpenSite {
        site_id: SiteId,
        name: String,
        address: String,
        now: DateTime<Utc>,
    },
    UpdateSite {
        site_id: SiteId,
        name: String,
        address: String,
        now: DateTime<Utc>,
    },
    CloseSite {
        site_id: SiteId,
        now: DateTime<Utc>,
    },
    GrantApp {
        app_id: AppId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    RevokeApp {
        app_id: AppId,
        now: DateTime<Utc>,
    },
    CreditBalance {
        credit_id: CreditId,
        amount: Money,
        reason: String,
        now: DateTime<Utc>,
    },
    AuthorizeGame {
        session_id: SessionId,
        token: AuthorizationToken,
        app: AppTerms,
        site_id: SiteId,
        player_count: i64,
        now: DateTime<Utc>,
    },
    EndGame {
        session_id: SessionId,
        authorized_at: DateTime<Utc>,
        duration_seconds: Option<u64>,
        now: DateTime<Utc>,
    },
    LockAccount {
        reason: String,
        now: DateTime<Utc>,
    },
    UnlockAccount {
        now: DateTime<Utc>,
    },
    DeactivateAccount {
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorEvent {
    OperatorRegistered {
        operator_id: OperatorId,
        username: String,
        name: String,
        phone: String,
        email: String,
        category: Category,
        registered_at: DateTime<Utc>,
    },
    CredentialIssued {
        key_id: KeyId,
        fingerprint: String,
        issued_at: DateTime<Utc>,
    },
    ProfileUpdated {
        name: String,
        phone: String,
        email: String,
        updated_at: DateTime<Utc>,
    },
    PasswordChanged {
        changed_at: DateTime<Utc>,
    },
    CategoryChanged {
        category: Category,
        changed_at: DateTime<Utc>,
    },
    LowBalanceThresholdSet {
        threshold: Money,
        set_at: DateTime<Utc>,
    },
    AppApplied {
        request_id: AppRequestId,
        app_id: AppId,
        app_name: String,
        reason: String,
        applied_at: DateTime<Utc>,
    },
    ApplicationApproved {
        request_id: AppRequestId,
        app_id: AppId,
        approved_at: DateTime<Utc>,
    },
    ApplicationRejected {
        request_id: AppRequestId,
        app_id: AppId,
        reason: String,
        rejected_at: DateTime<Utc>,
    },
    RefundRequested {
        refund_id: RefundId,
        /// The balance when asked; what is refunded is decided at approval.
        requested_amount: Money,
        reason: String,
        requested_at: DateTime<Utc>,
    },
    RefundApproved {
        refund_id: RefundId,
        /// The whole balance at approval time.
        amount: Money,
        balance_after: Money,
        approved_at: DateTime<Utc>,
    },
    RefundRejected {
        refund_id: RefundId,
        reason: String,
        rejected_at: DateTime<Utc>,
    },
    InvoiceRequested {
        invoice_id: InvoiceId,
        invoice_type: InvoiceType,
        title: String,
        tax_number: String,
        amount: Money,
        requested_at: DateTime<Utc>,
    },
    InvoiceIssued {
        invoice_id: InvoiceId,
        invoice_number: String,
        amount: Money,
        seller_name: String,
        seller_tax_number: String,
        issued_at: DateTime<Utc>,
    },
    InvoiceRejected {
        invoice_id: InvoiceId,
        reason: String,
        rejected_at: DateTime<Utc>,
    },
    MessagesRead {
        message_ids: Vec<i64>,
        read_at: DateTime<Utc>,
    },
    AllMessagesRead {
        read_at: DateTime<Utc>,
    },
    GrantExpiryReminded {
        app_id: AppId,
        app_name: String,
        expires_at: DateTime<Utc>,
        reminded_at: DateTime<Utc>,
    },
    RechargeOrdered {
        order_id: RechargeOrderId,
        out_trade_no: String,
        channel: PaymentChannel,
        amount: Money,
        ordered_at: DateTime<Utc>,
    },
    RechargeSucceeded {
        order_id: RechargeOrderId,
        channel: PaymentChannel,
        transaction_id: String,
        amount: Money,
        balance_after: Money,
        paid_at: DateTime<Utc>,
        succeeded_at: DateTime<Utc>,
    },
    RechargeFailed {
        order_id: RechargeOrderId,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    RechargeClosed {
        order_id: RechargeOrderId,
        closed_at: DateTime<Utc>,
    },
    RechargeQueryFailed {
        order_id: RechargeOrderId,
        attempts: u32,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    RechargeNeedsReview {
        order_id: RechargeOrderId,
        reason: String,
        flagged_at: DateTime<Utc>,
    },
    CredentialRotated {
        key_id: KeyId,
        fingerprint: String,
        retired: Vec<RetiredKey>,
        rotated_at: DateTime<Utc>,
    },
    SiteOpened {
        site_id: SiteId,
        name: String,
        address: String,
        opened_at: DateTime<Utc>,
    },
    SiteUpdated {
        site_id: SiteId,
        name: String,
        address: String,
        updated_at: DateTime<Utc>,
    },
    SiteClosed {
        site_id: SiteId,
        closed_at: DateTime<Utc>,
    },
    AppGranted {
        app_id: AppId,
        expires_at: Option<DateTime<Utc>>,
        granted_at: DateTime<Utc>,
    },
    AppRevoked {
        app_id: AppId,
        revoked_at: DateTime<Utc>,
    },
    BalanceCredited {
        credit_id: CreditId,
        amount: Money,
        reason: String,
        balance_after: Money,
        credited_at: DateTime<Utc>,
    },
    GameAuthorized {
        session_id: SessionId,
        authorization_token: AuthorizationToken,
        app_id: AppId,
        app_name: String,
        site_id: SiteId,
        player_count: u32,
        unit_price: Money,
        total_cost: Money,
        balance_after: Money,
        authorized_at: DateTime<Utc>,
    },
    GameEnded {
        session_id: SessionId,
        duration_seconds: u64,
        ended_at: DateTime<Utc>,
    },
    OperatorLocked {
        reason: String,
        locked_at: DateTime<Utc>,
    },
    OperatorUnlocked {
        unlocked_at: DateTime<Utc>,
    },
    OperatorDeactivated {
        deactivated_at: DateTime<Utc>,
    },
}

impl DomainEvent for OperatorEvent {
    fn event_type(&self) -> String {
        match self {
            OperatorEvent::OperatorRegistered { .. } => "OperatorRegistered",
            OperatorEvent::CredentialIssued { .. } => "CredentialIssued",
            OperatorEvent::ProfileUpdated { .. } => "ProfileUpdated",
            OperatorEvent::PasswordChanged { .. } => "PasswordChanged",
            OperatorEvent::CategoryChanged { .. } => "CategoryChanged",
            OperatorEvent::LowBalanceThresholdSet { .. } => "LowBalanceThresholdSet",
            OperatorEvent::AppApplied { .. } => "AppApplied",
            OperatorEvent::ApplicationApproved { .. } => "ApplicationApproved",
            OperatorEvent::ApplicationRejected { .. } => "ApplicationRejected",
            OperatorEvent::RefundRequested { .. } => "RefundRequested",
            OperatorEvent::RefundApproved { .. } => "RefundApproved",
            OperatorEvent::RefundRejected { .. } => "RefundRejected",
            OperatorEvent::InvoiceRequested { .. } => "InvoiceRequested",
            OperatorEvent::InvoiceIssued { .. } => "InvoiceIssued",
            OperatorEvent::InvoiceRejected { .. } => "InvoiceRejected",
            OperatorEvent::MessagesRead { .. } => "MessagesRead",
            OperatorEvent::AllMessagesRead { .. } => "AllMessagesRead",
            OperatorEvent::GrantExpiryReminded { .. } => "GrantExpiryReminded",
            OperatorEvent::CredentialRotated { .. } => "CredentialRotated",
            OperatorEvent::RechargeOrdered { .. } => "RechargeOrdered",
            OperatorEvent::RechargeSucceeded { .. } => "RechargeSucceeded",
            OperatorEvent::RechargeFailed { .. } => "RechargeFailed",
            OperatorEvent::RechargeClosed { .. } => "RechargeClosed",
            OperatorEvent::RechargeQueryFailed { .. } => "RechargeQueryFailed",
            OperatorEvent::RechargeNeedsReview { .. } => "RechargeNeedsReview",
            OperatorEvent::SiteOpened { .. } => "SiteOpened",
            OperatorEvent::SiteUpdated { .. } => "SiteUpdated",
            OperatorEvent::SiteClosed { .. } => "SiteClosed",
            OperatorEvent::AppGranted { .. } => "AppGranted",
            OperatorEvent::AppRevoked { .. } => "AppRevoked",
            OperatorEvent::BalanceCredited { .. } => "BalanceCredited",
            OperatorEvent::GameAuthorized { .. } => "GameAuthorized",
            OperatorEvent::GameEnded { .. } => "GameEnded",
            OperatorEvent::OperatorLocked { .. } => "OperatorLocked",
            OperatorEvent::OperatorUnlocked { .. } => "OperatorUnlocked",
            OperatorEvent::OperatorDeactivated { .. } => "OperatorDeactivated",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

impl OperatorEvent {
    /// Signed effect of this event on the balance, if it moves money.
    pub fn money_movement(&self) -> Option<(MoneyDirection, Money, Money)> {
        match self {
            OperatorEvent::BalanceCredited {
                amount,
                balance_after,
                ..
            } => Some((MoneyDirection::In, *amount, *balance_after)),
            OperatorEvent::GameAuthorized {
                total_cost,
                balance_after,
                ..
            } => Some((MoneyDirection::Out, *total_cost, *balance_after)),
            OperatorEvent::RefundApproved {
                amount,
                balance_after,
                ..
            } => Some((MoneyDirection::Out, *amount, *balance_after)),
            OperatorEvent::RechargeSucceeded {
                amount,
                balance_after,
                ..
            } => Some((MoneyDirection::In, *amount, *balance_after)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyDirection {
    In,
    Out,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("operator already registered")]
    AlreadyRegistered,
    #[error("operator not found")]
    NotFound,
    #[error("account is locked")]
    AccountLocked {
        locked_at: DateTime<Utc>,
        reason: String,
    },
    #[error("account is deactivated")]
    AccountDeactivated,
    #[error("account is not locked")]
    NotLocked,
    #[error("site not found")]
    SiteNotFound,
    #[error("site is closed")]
    SiteInactive,
    #[error("app is retired")]
    AppInactive,
    #[error("app is not authorized for this operator")]
    AppNotAuthorized { app_id: AppId, app_name: String },
    #[error("app authorization expired")]
    AuthorizationExpired {
        app_name: String,
        expired_at: DateTime<Utc>,
    },
    #[error("player count out of range")]
    PlayerCountOutOfRange {
        min_players: u32,
        max_players: u32,
        requested_players: i64,
    },
    #[error("insufficient balance")]
    InsufficientBalance {
        current_balance: Money,
        required_amount: Money,
        shortage: Money,
    },
    #[error("no grant for this app")]
    GrantNotFound,
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("amount out of range: {0}")]
    Amount(#[from] MoneyError),
    #[error("the app is already granted")]
    AppAlreadyGranted,
    #[error("an application for this app is already pending")]
    ApplicationPending { request_id: AppRequestId },
    #[error("no pending application with this id")]
    ApplicationNotFound,
    #[error("a refund request is already open")]
    RefundAlreadyOpen { refund_id: RefundId },
    #[error("no open refund request with this id")]
    RefundNotFound,
    #[error("the balance is zero: nothing to refund")]
    NothingToRefund,
    #[error("amount exceeds the invoiceable amount")]
    InvoiceAmountExceeded {
        invoiceable: Money,
        requested: Money,
    },
    #[error("no pending invoice request with this id")]
    InvoiceNotFound,
    #[error("no reminder is due for this grant")]
    ReminderNotDue,
    #[error("the recharge order is not open (unknown, paid, failed or closed)")]
    RechargeOrderNotOpen,
    #[error("the paid amount differs from the order")]
    RechargeAmountMismatch { expected: Money, paid: Money },
}

/// Current state of one operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Operator {
    pub id: Option<OperatorId>,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: Category,
    pub status: AccountStatus,
    pub credentials: BTreeMap<KeyId, Credential>,
    pub sites: BTreeMap<SiteId, Site>,
    pub grants: BTreeMap<AppId, Grant>,
    pub balance: Money,
    /// A charge that takes the balance below this sends one low-balance alert.
    pub low_balance_threshold: Money,
    /// Money received (credits and recharges) and money refunded, for what may be invoiced.
    pub total_credited: Money,
    pub total_refunded: Money,
    /// Amount of issued invoices.
    pub invoiced: Money,
    /// Invoice requests waiting for review, with their amounts (reserved against invoicing).
    pub pending_invoices: BTreeMap<InvoiceId, Money>,
    /// At most one refund request is open at a time.
    pub open_refund: Option<RefundId>,
    /// Applications waiting for review; decided ones leave the state (the stream keeps them).
    pub pending_applications: BTreeMap<AppRequestId, AppId>,
    /// Recharge orders waiting for the gateway or for review.
    pub open_recharges: BTreeMap<RechargeOrderId, OpenRecharge>,
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), OperatorError> {
    let len = value.trim().chars().count();
    if len == 0 || len > max {
        return Err(OperatorError::InvalidField {
            field,
            reason: format!("1 to {max} characters"),
        });
    }
    Ok(())
}

impl Operator {
    pub fn is_registered(&self) -> bool {
        self.id.is_some()
    }

    /// The account-state check of the headset protocol (after the signature, before the
    /// session id).
    pub fn check_account_state(&self) -> Result<(), OperatorError> {
        match &self.status {
            AccountStatus::Active => Ok(()),
            AccountStatus::Locked { locked_at, reason } => Err(OperatorError::AccountLocked {
                locked_at: *locked_at,
                reason: reason.clone(),
            }),
            AccountStatus::Deactivated { .. } => Err(OperatorError::AccountDeactivated),
        }
    }

    pub fn is_live_key(&self, key_id: &KeyId, now: DateTime<Utc>) -> bool {
        self.credentials.get(key_id).is_some_and(|c| c.is_live(now))
    }

    /// The site check shared by authorize and heartbeat.
    pub fn check_site(&self, site_id: SiteId) -> Result<&Site, OperatorError> {
        let site = self
            .sites
            .get(&site_id)
            .ok_or(OperatorError::SiteNotFound)?;
        if !site.open {
            return Err(OperatorError::SiteInactive);
        }
        Ok(site)
    }

    fn require_registered(&self) -> Result<OperatorId, OperatorError> {
        self.id.ok_or(OperatorError::NotFound)
    }

    /// Staff changes are refused on a deactivated account (it is kept for history only).
    fn require_not_deactivated(&self) -> Result<(), OperatorError> {
        self.require_registered()?;
        if matches!(self.status, AccountStatus::Deactivated { .. }) {
            return Err(OperatorError::AccountDeactivated);
        }
        Ok(())
    }

    /// Decides the events of a command without changing `self`.
    pub fn decide(&self, command: OperatorCommand) -> Result<Vec<OperatorEvent>, OperatorError> {
        use OperatorCommand as C;
        use OperatorEvent as E;
        match command {
            C::RegisterOperator {
                operator_id,
                username,
                name,
                phone,
                email,
                category,
                low_balance_threshold,
                key_id,
                fingerprint,
                now,
            } => {
                if self.is_registered() {
                    return Err(OperatorError::AlreadyRegistered);
                }
                Ok(vec![
                    E::OperatorRegistered {
                        operator_id,
                        username,
                        name,
                        phone,
                        email,
                        category,
                        registered_at: now,
                    },
                    E::CredentialIssued {
                        key_id,
                        fingerprint,
                        issued_at: now,
                    },
                    E::LowBalanceThresholdSet {
                        threshold: low_balance_threshold,
                        set_at: now,
                    },
                ])
            }
            C::UpdateProfile { change, now } => self.decide_profile(change, now),
            C::ChangePassword { now } => {
                self.require_not_deactivated()?;
                Ok(vec![E::PasswordChanged { changed_at: now }])
            }
            C::ChangeCategory {
                category,
                low_balance_threshold,
                now,
            } => self.decide_category(category, low_balance_threshold, now),
            C::SetLowBalanceThreshold { threshold, now } => {
                self.require_not_deactivated()?;
                Ok(vec![E::LowBalanceThresholdSet {
                    threshold,
                    set_at: now,
                }])
            }
            C::ApplyForApp {
                request_id,
                app,
                reason,
                now,
            } => self.decide_apply(request_id, app, reason, now),
            C::ApproveApplication {
                request_id,
                expires_at,
                now,
            } => self.decide_approve_application(request_id, expires_at, now),
            C::RejectApplication {
                request_id,
                reason,
                now,
            } => self.decide_reject_application(request_id, reason, now),
            C::RequestRefund {
                refund_id,
                reason,
                now,
            } => self.decide_request_refund(refund_id, reason, now),
            C::ApproveRefund { refund_id, now } => self.decide_approve_refund(refund_id, now),
            C::RejectRefund {
                refund_id,
                reason,
                now,
            } => self.decide_reject_refund(refund_id, reason, now),
            C::RequestInvoice {
                invoice_id,
                request,
                now,
            } => self.decide_request_invoice(invoice_id, request, now),
            C::IssueInvoice {
                invoice_id,
                invoice_number,
                issued_by,
                now,
            } => self.decide_issue_invoice(invoice_id, invoice_number, issued_by, now),
            C::RejectInvoice {
                invoice_id,
                reason,
                now,
            } => self.decide_reject_invoice(invoice_id, reason, now),
            C::MarkMessagesRead { message_ids, now } => {
                self.require_registered()?;
                workflows::check_message_ids(&message_ids)?;
                Ok(vec![E::MessagesRead {
                    message_ids,
                    read_at: now,
                }])
            }
            C::MarkAllMessagesRead { now } => {
                self.require_registered()?;
                Ok(vec![E::AllMessagesRead { read_at: now }])
            }
            C::CreateRechargeOrder {
                order_id,
                out_trade_no,
                channel,
                amount,
                now,
            } => self.decide_recharge_order(order_id, out_trade_no, channel, amount, now),
            C::ConfirmRecharge {
                order_id,
                payment,
                now,
            } => self.decide_recharge_paid(order_id, payment, now),
            C::FailRecharge {
                order_id,
                reason,
                now,
            } => self.decide_recharge_failed(order_id, reason, now),
            C::CloseRecharge { order_id, now } => self.decide_recharge_closed(order_id, now),
            C::RecordRechargeQueryFailure {
                order_id,
                reason,
                max_failures,
                now,
            } => self.decide_recharge_query_failed(order_id, reason, max_failures, now),
            C::RemindGrantExpiry {
                app_id,
                app_name,
                expires_at,
                now,
            } => self.decide_reminder(app_id, app_name, expires_at, now),
            C::RotateCredentials {
                key_id,
                fingerprint,
                overlap,
                now,
            } => {
                self.require_not_deactivated()?;
                if overlap < TimeDelta::zero() || overlap > MAX_ROTATION_OVERLAP {
                    return Err(OperatorError::InvalidField {
                        field: "overlap_seconds",
                        reason: "0 to 86400".to_owned(),
                    });
                }
                let end = now + overlap;
                let retired = self
                    .credentials
                    .iter()
                    .filter(|(_, c)| c.is_live(now))
                    .map(|(id, c)| RetiredKey {
                        key_id: id.clone(),
                        ends_at: c.ends_at.map_or(end, |e| e.min(end)),
                    })
                    .collect();
                Ok(vec![E::CredentialRotated {
                    key_id,
                    fingerprint,
                    retired,
                    rotated_at: now,
                }])
            }
            C::OpenSite {
                site_id,
                name,
                address,
                now,
            } => {
                self.require_not_deactivated()?;
                check_text("name", &name, 100)?;
                check_text("address", &address, 300)?;
                if self.sites.contains_key(&site_id) {
                    return Err(OperatorError::InvalidField {
                        field: "site_id",
                        reason: "already used".to_owned(),
                    });
                }
                Ok(vec![E::SiteOpened {
                    site_id,
                    name,
                    address,
                    opened_at: now,
                }])
            }
            C::UpdateSite {
                site_id,
                name,
                address,
                now,
            } => {
                self.require_not_deactivated()?;
                self.check_site(site_id)?;
                check_text("name", &name, 100)?;
                check_text("address", &address, 300)?;
                Ok(vec![E::SiteUpdated {
                    site_id,
                    name,
                    address,
                    updated_at: now,
                }])
            }
            C::CloseSite { site_id, now } => {
                self.require_not_deactivated()?;
                self.check_site(site_id)?;
                Ok(vec![E::SiteClosed {
                    site_id,
                    closed_at: now,
                }])
            }
            C::GrantApp {
                app_id,
                expires_at,
                now,
            } => {
                self.require_not_deactivated()?;
                Ok(vec![E::AppGranted {
                    app_id,
                    expires_at,
                    granted_at: now,
                }])
            }
            C::RevokeApp { app_id, now } => {
                self.require_not_deactivated()?;
                if !self.grants.contains_key(&app_id) {
                    return Err(OperatorError::GrantNotFound);
                }
                Ok(vec![E::AppRevoked {
                    app_id,
                    revoked_at: now,
                }])
            }
            C::CreditBalance {
                credit_id,
                amount,
                reason,
                now,
            } => {
                self.require_not_deactivated()?;
                if amount.is_zero() {
                    return Err(OperatorError::InvalidField {
                        field: "amount",
                        reason: "must be greater than 0".to_owned(),
                    });
                }
                check_text("reason", &reason, REASON_MAX)?;
                let balance_after = self.balance.checked_add(amount)?;
                Ok(vec![E::BalanceCredited {
                    credit_id,
                    amount,
                    reason,
                    balance_after,
                    credited_at: now,
                }])
            }
            C::AuthorizeGame {
                session_id,
                token,
                app,
                site_id,
                player_count,
                now,
            } => {
                self.require_registered()?;
                self.check_account_state()?;
                self.check_site(site_id)?;
                if app.status == AppStatus::Retired {
                    return Err(OperatorError::AppInactive);
                }
                let grant = self.grants.get(&app.app_id).ok_or_else(|| {
                    OperatorError::AppNotAuthorized {
                        app_id: app.app_id,
                        app_name: app.name.clone(),
                    }
                })?;
                if let (true, Some(expired_at)) = (grant.is_expired(now), grant.expires_at) {
                    return Err(OperatorError::AuthorizationExpired {
                        app_name: app.name,
                        expired_at,
                    });
                }
                let in_range = player_count >= i64::from(app.min_players)
                    && player_count <= i64::from(app.max_players);
                let players = match u32::try_from(player_count) {
                    Ok(players) if in_range => players,
                    _ => {
                        return Err(OperatorError::PlayerCountOutOfRange {
                            min_players: app.min_players,
                            max_players: app.max_players,
                            requested_players: player_count,
                        });
                    }
                };
                let total_cost = app.unit_price.times(players)?;
                let balance_after = self.balance.checked_sub(total_cost).map_err(|_| {
                    OperatorError::InsufficientBalance {
                        current_balance: self.balance,
                        required_amount: total_cost,
                        shortage: self.balance.shortage_to(total_cost),
                    }
                })?;
                Ok(vec![E::GameAuthorized {
                    session_id,
                    authorization_token: token,
                    app_id: app.app_id,
                    app_name: app.name,
                    site_id,
                    player_count: players,
                    unit_price: app.unit_price,
                    total_cost,
                    balance_after,
                    authorized_at: now,
                }])
            }
            C::EndGame {
                session_id,
                authorized_at,
                duration_seconds,
                now,
            } => {
                self.require_registered()?;
                let measured = (now - authorized_at).num_seconds().max(0);
                let duration_seconds =
                    duration_seconds.unwrap_or(u64::try_from(measured).unwrap_or(0));
                Ok(vec![E::GameEnded {
                    session_id,
                    duration_seconds,
                    ended_at: now,
                }])
            }
            C::LockAccount { reason, now } => {
                self.require_not_deactivated()?;
                check_text("reason", &reason, REASON_MAX)?;
                Ok(vec![E::OperatorLocked {
                    reason,
                    locked_at: now,
                }])
            }
            C::UnlockAccount { now } => {
                self.require_not_deactivated()?;
                if !matches!(self.status, AccountStatus::Locked { .. }) {
                    return Err(OperatorError::NotLocked);
                }
                Ok(vec![E::OperatorUnlocked { unlocked_at: now }])
            }
            C::DeactivateAccount { now } => {
                self.require_not_deactivated()?;
                Ok(vec![E::OperatorDeactivated {
                    deactivated_at: now,
                }])
            }
        }
    }
}

impl Aggregate for Operator {
    const TYPE: &'static str = "Operator";
    type Command = OperatorCommand;
    type Event = OperatorEvent;
    type Error = OperatorError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use OperatorEvent as E;
        match event {
            E::OperatorRegistered {
                operator_id,
                username,
                name,
                phone,
                email,
                category,
                ..
            } => {
                self.id = Some(operator_id);
                self.username = username;
                self.name = name;
                self.phone = phone;
                self.email = email;
                self.category = category;
                self.status = AccountStatus::Active;
            }
            E::CredentialIssued {
                key_id,
                fingerprint,
                issued_at,
            } => {
                self.credentials.insert(
                    key_id,
                    Credential {
                        fingerprint,
                        issued_at,
                        ends_at: None,
                    },
                );
            }
            E::CredentialRotated {
                key_id,
                fingerprint,
                retired,
                rotated_at,
            } => {
                for RetiredKey { key_id, ends_at } in retired {
                    let credential = self
                        .credentials
                        .get_mut(&key_id)
                        .expect("a rotation only retires keys the operator holds");
                    credential.ends_at = Some(ends_at);
                }
                // Fully ended keys are dropped so the state does not grow with rotations.
                self.credentials
                    .retain(|_, c| c.ends_at.is_none_or(|end| end > rotated_at));
                self.credentials.insert(
                    key_id,
                    Credential {
                        fingerprint,
                        issued_at: rotated_at,
                        ends_at: None,
                    },
                );
            }
            E::SiteOpened {
                site_id,
                name,
                address,
                ..
            } => {
                self.sites.insert(
                    site_id,
                    Site {
                        name,
                        address,
                        open: true,
                    },
                );
            }
            E::SiteUpdated {
                site_id,
                name,
                address,
                ..
            } => {
                let site = self.sites.get_mut(&site_id).expect("updated site exists");
                site.name = name;
                site.address = address;
            }
            E::SiteClosed { site_id, .. } => {
                self.sites
                    .get_mut(&site_id)
                    .expect("closed site exists")
                    .open = false;
            }
            E::AppGranted {
                app_id, expires_at, ..
            } => {
                // One reminder per expiry: granting the same expiry again keeps it sent.
                let reminded = self
                    .grants
                    .get(&app_id)
                    .is_some_and(|g| g.reminded && g.expires_at == expires_at);
                self.grants.insert(
                    app_id,
                    Grant {
                        expires_at,
                        reminded,
                    },
                );
            }
            E::AppRevoked { app_id, .. } => {
                self.grants.remove(&app_id);
            }
            E::BalanceCredited {
                amount,
                balance_after,
                ..
            } => {
                let expected = self
                    .balance
                    .checked_add(amount)
                    .expect("credit was checked");
                assert_eq!(expected, balance_after, "BalanceCredited.balance_after");
                self.balance = balance_after;
                self.total_credited = self
                    .total_credited
                    .checked_add(amount)
                    .expect("credits total stays in range");
            }
            E::GameAuthorized {
                unit_price,
                player_count,
                total_cost,
                balance_after,
                ..
            } => {
                assert_eq!(
                    unit_price.times(player_count),
                    Ok(total_cost),
                    "GameAuthorized.total_cost"
                );
                let expected = self
                    .balance
                    .checked_sub(total_cost)
                    .expect("charge was checked");
                assert_eq!(expected, balance_after, "GameAuthorized.balance_after");
                self.balance = balance_after;
            }
            E::GameEnded { .. } => {}
            E::OperatorLocked { reason, locked_at } => {
                self.status = AccountStatus::Locked { locked_at, reason };
            }
            E::OperatorUnlocked { .. } => self.status = AccountStatus::Active,
            E::OperatorDeactivated { deactivated_at } => {
                self.status = AccountStatus::Deactivated { deactivated_at };
            }
            e @ (E::RechargeOrdered { .. }
            | E::RechargeSucceeded { .. }
            | E::RechargeFailed { .. }
            | E::RechargeClosed { .. }
            | E::RechargeQueryFailed { .. }
            | E::RechargeNeedsReview { .. }) => self.apply_recharge(e),
            other => self.apply_workflow(other),
        }
    }
}
