//! Property tests over random command sequences on one operator.
//!
//! A small, independent model (plain integers and flags) predicts the exact outcome of every
//! command; the aggregate must agree with it event for event and error for error. After every
//! step: the balance is never negative, it equals the credits minus the charges and refunds
//! summed from the events, every `balance_after` is the running sum, a refund is exactly the
//! balance at its approval (never more, invariant 7), invoices never take more than was
//! received less what was refunded when they were requested, and replaying the events (also
//! through their stored JSON) rebuilds exactly the same state. `Aggregate::handle` must produce
//! the same events and state as `Operator::decide`. Recharges confirmed by a gateway are money
//! in like staff credits, and an order is credited at most once.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::event_sink::EventSink;
use ledger_core::Aggregate;
use ledger_core::application::AppStatus;
use ledger_core::ids::{
    AppId, AuthorizationToken, CreditId, InvoiceId, KeyId, RechargeOrderId, RefundId, SessionId,
    SiteId,
};
use ledger_core::money::Money;
use ledger_core::operator::{
    AppTerms, GatewayPayment, InvoiceRequest, InvoiceType, IssuedBy, MAX_ROTATION_OVERLAP,
    Operator, OperatorCommand as C, OperatorError, OperatorEvent as E, PaymentChannel,
    RECHARGE_MAX_FEN, RECHARGE_MIN_FEN, RetiredKey,
};
use proptest::prelude::*;
use uuid::Uuid;

use crate::fixtures::*;

const SITES: usize = 2;
const APPS: usize = 2;

#[derive(Debug, Clone)]
enum Step {
    Credit {
        fen: i64,
    },
    Authorize {
        site: usize,
        app: usize,
        players: i64,
        price_fen: i64,
        min: u32,
        span: u32,
        retired: bool,
    },
    OpenSite {
        site: usize,
    },
    UpdateSite {
        site: usize,
    },
    CloseSite {
        site: usize,
    },
    Grant {
        app: usize,
        expires_in: Option<i64>,
    },
    Revoke {
        app: usize,
    },
    Lock,
    Unlock,
    Deactivate,
    Rotate {
        overlap_seconds: i64,
    },
    EndGame {
        duration_seconds: Option<u64>,
    },
    RequestRefund,
    /// `open`: names the open request (if any); otherwise an id never used.
    ApproveRefund {
        open: bool,
    },
    RejectRefund {
        open: bool,
    },
    RequestInvoice {
        amount: InvoiceAmount,
    },
    /// `pick` chooses among the pending requests; `None` names an id never used.
    IssueInvoice {
        pick: Option<usize>,
    },
    RejectInvoice {
        pick: Option<usize>,
    },
    OrderRecharge {
        fen: i64,
        alipay: bool,
    },
    /// `paid_delta_fen`: what the gateway reports paid, less the order's amount.
    ConfirmRecharge {
        target: RechargeTarget,
        paid_delta_fen: i64,
    },
    FailRecharge {
        target: RechargeTarget,
    },
    CloseRecharge {
        target: RechargeTarget,
    },
    RechargeQueryFailed {
        target: RechargeTarget,
    },
}

/// Which recharge order a gateway result names.
#[derive(Debug, Clone)]
enum RechargeTarget {
    /// One of the open orders (if any; else an id never used).
    Open(usize),
    /// One of the decided orders (paid, failed or closed), as a late or replayed result.
    Decided(usize),
    Unknown,
}

/// Failed gateway queries in a row that flag an order for review.
const RECHARGE_MAX_QUERY_FAILURES: u32 = 3;

/// How much an invoice request asks for.
#[derive(Debug, Clone)]
enum InvoiceAmount {
    /// Per mille of what is invoiceable when the step runs: 1000 is exactly all of it.
    Share(i64),
    Fen(i64),
}

/// Weights favour the money path; deactivation is rare because it freezes the account.
fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        40 => prop_oneof![1 => Just(0i64), 3 => 1i64..=100, 10 => 1i64..=50_000, 2 => 1_000_000i64..=5_000_000]
            .prop_map(|fen| Step::Credit { fen }),
        120 => (1u32..=4, 0u32..=6)
            .prop_flat_map(|(min, span)| {
                let (low, high) = (i64::from(min), i64::from(min + span));
                (
                    prop_oneof![3 => Just(0usize), 1 => 0..SITES],
                    prop_oneof![3 => Just(0usize), 1 => 0..APPS],
                    prop_oneof![16 => low..=high, 2 => prop_oneof![Just(low - 1), Just(high + 1)], 1 => -3i64..=0, 1 => any::<i64>()],
                    prop_oneof![1i64..=1_000, 1i64..=30_000],
                    Just(min),
                    Just(span),
                    proptest::bool::weighted(0.05),
                )
            })
            .prop_map(|(site, app, players, price_fen, min, span, retired)| Step::Authorize {
                site,
                app,
                players,
                price_fen,
                min,
                span,
                retired,
            }),
        20 => (0..SITES).prop_map(|site| Step::OpenSite { site }),
        10 => (0..SITES).prop_map(|site| Step::UpdateSite { site }),
        5 => (0..SITES).prop_map(|site| Step::CloseSite { site }),
        30 => (0..APPS, proptest::option::of(-3_600i64..=7_200))
            .prop_map(|(app, expires_in)| Step::Grant { app, expires_in }),
        5 => (0..APPS).prop_map(|app| Step::Revoke { app }),
        3 => Just(Step::Lock),
        10 => Just(Step::Unlock),
        10 => (-60i64..=90_000).prop_map(|overlap_seconds| Step::Rotate { overlap_seconds }),
        20 => proptest::option::of(0u64..=7_200).prop_map(|duration_seconds| Step::EndGame { duration_seconds }),
        1 => Just(Step::Deactivate),
        10 => Just(Step::RequestRefund),
        8 => proptest::bool::weighted(0.9).prop_map(|open| Step::ApproveRefund { open }),
        4 => proptest::bool::weighted(0.9).prop_map(|open| Step::RejectRefund { open }),
        15 => prop_oneof![
            6 => prop_oneof![0i64..=1_200, Just(1_000)].prop_map(InvoiceAmount::Share),
            1 => prop_oneof![Just(0i64), 1i64..=300_000].prop_map(InvoiceAmount::Fen),
        ]
        .prop_map(|amount| Step::RequestInvoice { amount }),
        8 => proptest::option::weighted(0.9, 0usize..4).prop_map(|pick| Step::IssueInvoice { pick }),
        5 => proptest::option::weighted(0.9, 0usize..4).prop_map(|pick| Step::RejectInvoice { pick }),
        15 => (
            prop_oneof![10 => RECHARGE_MIN_FEN..=RECHARGE_MAX_FEN, 1 => Just(RECHARGE_MIN_FEN - 1), 1 => Just(RECHARGE_MAX_FEN + 1), 1 => Just(0i64)],
            any::<bool>(),
        )
            .prop_map(|(fen, alipay)| Step::OrderRecharge { fen, alipay }),
        15 => (recharge_target(), prop_oneof![8 => Just(0i64), 1 => -100i64..=100])
            .prop_map(|(target, paid_delta_fen)| Step::ConfirmRecharge { target, paid_delta_fen }),
        4 => recharge_target().prop_map(|target| Step::FailRecharge { target }),
        4 => recharge_target().prop_map(|target| Step::CloseRecharge { target }),
        6 => recharge_target().prop_map(|target| Step::RechargeQueryFailed { target }),
    ]
}

fn recharge_target() -> impl Strategy<Value = RechargeTarget> {
    prop_oneof![
        8 => (0usize..4).prop_map(RechargeTarget::Open),
        2 => (0usize..4).prop_map(RechargeTarget::Decided),
        1 => Just(RechargeTarget::Unknown),
    ]
}

/// Half of the sequences start from a playable account (an open site, a permanent grant and
/// some money) so that most authorizations reach the balance check.
fn sequence() -> impl Strategy<Value = Vec<(i64, Step)>> {
    (
        any::<bool>(),
        proptest::collection::vec((0i64..=900, step()), 1..80),
    )
        .prop_map(|(playable, steps)| {
            let setup = [
                Step::OpenSite { site: 0 },
                Step::Grant {
                    app: 0,
                    expires_in: None,
                },
                Step::Credit { fen: 200_000 },
            ];
            let prefix = if playable {
                setup.map(|s| (0, s)).to_vec()
            } else {
                vec![]
            };
            prefix.into_iter().chain(steps).collect()
        })
}

fn fixed_id(kind: u8, index: usize) -> Uuid {
    Uuid::from_u128((u128::from(kind) << 64) | (index as u128 + 1))
}

fn site_id(i: usize) -> SiteId {
    SiteId(fixed_id(1, i))
}

fn app(i: usize) -> AppId {
    AppId(fixed_id(2, i))
}

// ------------------------------------------------------------------ the independent model

#[derive(Debug, Clone, PartialEq)]
enum ModelStatus {
    Active,
    Locked { at: DateTime<Utc>, reason: String },
    Deactivated,
}

/// What an operator is, in the plainest terms: fen as an integer, flags per site and app.
#[derive(Debug, Clone)]
struct Model {
    status: ModelStatus,
    /// `None`: never opened; `Some(open)`.
    sites: [Option<bool>; SITES],
    /// `None`: no grant; `Some(expiry)`.
    grants: [Option<Option<DateTime<Utc>>>; APPS],
    balance_fen: i64,
    keys: BTreeMap<KeyId, Option<DateTime<Utc>>>,
    credited_fen: i64,
    refunded_fen: i64,
    invoiced_fen: i64,
    /// Invoice requests waiting for review, with their amounts.
    pending_invoices: BTreeMap<InvoiceId, i64>,
    open_refund: Option<RefundId>,
    /// Open recharge orders: amount in fen, channel, failed queries in a row, flagged.
    open_recharges: BTreeMap<RechargeOrderId, ModelRecharge>,
    /// Orders paid, failed or closed.
    decided_recharges: Vec<RechargeOrderId>,
}

#[derive(Debug, Clone)]
struct ModelRecharge {
    fen: i64,
    channel: PaymentChannel,
    query_failures: u32,
    needs_review: bool,
}

impl Model {
    fn registered() -> Model {
        Model {
            status: ModelStatus::Active,
            sites: [None; SITES],
            grants: [None; APPS],
            balance_fen: 0,
            keys: BTreeMap::from([(key(KEY), None)]),
            credited_fen: 0,
            refunded_fen: 0,
            invoiced_fen: 0,
            pending_invoices: BTreeMap::new(),
            open_refund: None,
            open_recharges: BTreeMap::new(),
            decided_recharges: vec![],
        }
    }

    /// The recharge order `target` names; an id never used when there is none of that kind.
    fn recharge_to_decide(&self, target: &RechargeTarget, n: u32) -> RechargeOrderId {
        let unknown = RechargeOrderId(fixed_id(10, n as usize));
        match target {
            RechargeTarget::Open(i) if !self.open_recharges.is_empty() => *self
                .open_recharges
                .keys()
                .nth(i % self.open_recharges.len())
                .unwrap(),
            RechargeTarget::Decided(i) if !self.decided_recharges.is_empty() => {
                self.decided_recharges[i % self.decided_recharges.len()]
            }
            _ => unknown,
        }
    }

    /// Received, less refunded, less invoiced or waiting to be; never below zero.
    fn invoiceable_fen(&self) -> i64 {
        let pending: i64 = self.pending_invoices.values().sum();
        (self.credited_fen - self.refunded_fen - self.invoiced_fen - pending).max(0)
    }

    /// The pending invoice request `pick` names, or an id never used.
    fn invoice_to_review(&self, pick: Option<usize>, n: u32) -> InvoiceId {
        match pick {
            Some(i) if !self.pending_invoices.is_empty() => *self
                .pending_invoices
                .keys()
                .nth(i % self.pending_invoices.len())
                .unwrap(),
            _ => InvoiceId(fixed_id(7, n as usize)),
        }
    }

    /// The open refund request when `open` asks for it and there is one; else an unused id.
    fn refund_to_review(&self, open: bool, n: u32) -> RefundId {
        match (open, self.open_refund) {
            (true, Some(id)) => id,
            _ => RefundId(fixed_id(6, n as usize)),
        }
    }

    fn staff_change_refused(&self) -> Option<OperatorError> {
        (self.status == ModelStatus::Deactivated).then_some(OperatorError::AccountDeactivated)
    }
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen).unwrap()
}

/// Everything one step needs besides the model: the clock and fresh ids.
struct Harness {
    model: Model,
    now: DateTime<Utc>,
    counter: u32,
    authorized: Vec<(SessionId, DateTime<Utc>)>,
}

impl Harness {
    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    /// The command for `step`, and the outcome the model predicts for it.
    fn command(&mut self, step: &Step) -> (C, Result<Vec<E>, OperatorError>) {
        let now = self.now;
        let n = self.next();
        let m = &self.model;
        match step.clone() {
            Step::Credit { fen } => {
                let credit_id = CreditId(fixed_id(3, n as usize));
                let cmd = C::CreditBalance {
                    credit_id,
                    amount: money(fen),
                    reason: "充值".into(),
                    now,
                };
                let outcome = if let Some(e) = m.staff_change_refused() {
                    Err(e)
                } else if fen == 0 {
                    Err(OperatorError::InvalidField {
                        field: "amount",
                        reason: "must be greater than 0".into(),
                    })
                } else {
                    Ok(vec![E::BalanceCredited {
                        credit_id,
                        amount: money(fen),
                        reason: "充值".into(),
                        balance_after: money(m.balance_fen + fen),
                        credited_at: now,
                    }])
                };
                (cmd, outcome)
            }
            Step::Authorize {
                site,
                app: a,
                players,
                price_fen,
                min,
                span,
                retired,
            } => {
                let session_id =
                    SessionId::parse(&format!("{OPERATOR}_{}_p{n:015}", now.timestamp_millis()))
                        .unwrap();
                let token = AuthorizationToken(fixed_id(4, n as usize));
                let terms = AppTerms {
                    app_id: app(a),
                    name: format!("游戏{a}"),
                    unit_price: money(price_fen),
                    min_players: min,
                    max_players: min + span,
                    status: if retired {
                        AppStatus::Retired
                    } else {
                        AppStatus::Active
                    },
                };
                let cmd = C::AuthorizeGame {
                    session_id: session_id.clone(),
                    token,
                    app: terms.clone(),
                    site_id: site_id(site),
                    player_count: players,
                    now,
                };
                let cost = i128::from(price_fen) * i128::from(players);
                let outcome = match (&m.status, m.sites[site], m.grants[a]) {
                    (ModelStatus::Locked { at, reason }, _, _) => {
                        Err(OperatorError::AccountLocked {
                            locked_at: *at,
                            reason: reason.clone(),
                        })
                    }
                    (ModelStatus::Deactivated, _, _) => Err(OperatorError::AccountDeactivated),
                    (_, None, _) => Err(OperatorError::SiteNotFound),
                    (_, Some(false), _) => Err(OperatorError::SiteInactive),
                    _ if retired => Err(OperatorError::AppInactive),
                    (_, _, None) => Err(OperatorError::AppNotAuthorized {
                        app_id: app(a),
                        app_name: terms.name,
                    }),
                    (_, _, Some(Some(expiry))) if expiry <= now => {
                        Err(OperatorError::AuthorizationExpired {
                            app_name: terms.name,
                            expired_at: expiry,
                        })
                    }
                    _ if players < i64::from(min) || players > i64::from(min + span) => {
                        Err(OperatorError::PlayerCountOutOfRange {
                            min_players: min,
                            max_players: min + span,
                            requested_players: players,
                        })
                    }
                    _ if cost > i128::from(m.balance_fen) => {
                        Err(OperatorError::InsufficientBalance {
                            current_balance: money(m.balance_fen),
                            required_amount: money(i64::try_from(cost).unwrap()),
                            shortage: money(i64::try_from(cost).unwrap() - m.balance_fen),
                        })
                    }
                    _ => Ok(vec![E::GameAuthorized {
                        session_id,
                        authorization_token: token,
                        app_id: app(a),
                        app_name: terms.name,
                        site_id: site_id(site),
                        player_count: u32::try_from(players).unwrap(),
                        unit_price: money(price_fen),
                        total_cost: money(i64::try_from(cost).unwrap()),
                        balance_after: money(m.balance_fen - i64::try_from(cost).unwrap()),
                        authorized_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::OpenSite { site } => {
                let cmd = C::OpenSite {
                    site_id: site_id(site),
                    name: format!("店{site}"),
                    address: "上海".into(),
                    now,
                };
                let outcome = match (m.staff_change_refused(), m.sites[site]) {
                    (Some(e), _) => Err(e),
                    (None, Some(_)) => Err(OperatorError::InvalidField {
                        field: "site_id",
                        reason: "already used".into(),
                    }),
                    (None, None) => Ok(vec![E::SiteOpened {
                        site_id: site_id(site),
                        name: format!("店{site}"),
                        address: "上海".into(),
                        opened_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::UpdateSite { site } => {
                let cmd = C::UpdateSite {
                    site_id: site_id(site),
                    name: format!("新店{n}"),
                    address: "北京".into(),
                    now,
                };
                let outcome = match (m.staff_change_refused(), m.sites[site]) {
                    (Some(e), _) => Err(e),
                    (None, None) => Err(OperatorError::SiteNotFound),
                    (None, Some(false)) => Err(OperatorError::SiteInactive),
                    (None, Some(true)) => Ok(vec![E::SiteUpdated {
                        site_id: site_id(site),
                        name: format!("新店{n}"),
                        address: "北京".into(),
                        updated_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::CloseSite { site } => {
                let cmd = C::CloseSite {
                    site_id: site_id(site),
                    now,
                };
                let outcome = match (m.staff_change_refused(), m.sites[site]) {
                    (Some(e), _) => Err(e),
                    (None, None) => Err(OperatorError::SiteNotFound),
                    (None, Some(false)) => Err(OperatorError::SiteInactive),
                    (None, Some(true)) => Ok(vec![E::SiteClosed {
                        site_id: site_id(site),
                        closed_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::Grant { app: a, expires_in } => {
                let expires_at = expires_in.map(|s| now + TimeDelta::seconds(s));
                let cmd = C::GrantApp {
                    app_id: app(a),
                    expires_at,
                    now,
                };
                let outcome = match m.staff_change_refused() {
                    Some(e) => Err(e),
                    None => Ok(vec![E::AppGranted {
                        app_id: app(a),
                        expires_at,
                        granted_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::Revoke { app: a } => {
                let cmd = C::RevokeApp {
                    app_id: app(a),
                    now,
                };
                let outcome = match (m.staff_change_refused(), m.grants[a]) {
                    (Some(e), _) => Err(e),
                    (None, None) => Err(OperatorError::GrantNotFound),
                    (None, Some(_)) => Ok(vec![E::AppRevoked {
                        app_id: app(a),
                        revoked_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::Lock => {
                let reason = format!("锁定{n}");
                let cmd = C::LockAccount {
                    reason: reason.clone(),
                    now,
                };
                let outcome = match m.staff_change_refused() {
                    Some(e) => Err(e),
                    None => Ok(vec![E::OperatorLocked {
                        reason,
                        locked_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::Unlock => {
                let cmd = C::UnlockAccount { now };
                let outcome = match &m.status {
                    ModelStatus::Deactivated => Err(OperatorError::AccountDeactivated),
                    ModelStatus::Active => Err(OperatorError::NotLocked),
                    ModelStatus::Locked { .. } => {
                        Ok(vec![E::OperatorUnlocked { unlocked_at: now }])
                    }
                };
                (cmd, outcome)
            }
            Step::Deactivate => {
                let cmd = C::DeactivateAccount { now };
                let outcome = match m.staff_change_refused() {
                    Some(e) => Err(e),
                    None => Ok(vec![E::OperatorDeactivated {
                        deactivated_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::Rotate { overlap_seconds } => {
                let overlap = TimeDelta::seconds(overlap_seconds);
                // Far from the fixture key `mrk_0…01`: a rotation never reissues a live id.
                let key_id = KeyId(format!(
                    "{}{:032x}",
                    KeyId::PREFIX,
                    (u64::from(n) << 32) | 0xabc
                ));
                let cmd = C::RotateCredentials {
                    key_id: key_id.clone(),
                    fingerprint: format!("{n:064x}"),
                    overlap,
                    now,
                };
                let outcome = if let Some(e) = m.staff_change_refused() {
                    Err(e)
                } else if !(0..=MAX_ROTATION_OVERLAP.num_seconds()).contains(&overlap_seconds) {
                    Err(OperatorError::InvalidField {
                        field: "overlap_seconds",
                        reason: "0 to 86400".into(),
                    })
                } else {
                    let end = now + overlap;
                    let retired = m
                        .keys
                        .iter()
                        .filter(|(_, ends)| ends.is_none_or(|e| now < e))
                        .map(|(k, ends)| RetiredKey {
                            key_id: k.clone(),
                            ends_at: ends.map_or(end, |e| e.min(end)),
                        })
                        .collect();
                    Ok(vec![E::CredentialRotated {
                        key_id,
                        fingerprint: format!("{n:064x}"),
                        retired,
                        rotated_at: now,
                    }])
                };
                (cmd, outcome)
            }
            Step::EndGame { duration_seconds } => {
                let (session_id, authorized_at) =
                    self.authorized.last().cloned().unwrap_or((session(n), now));
                let cmd = C::EndGame {
                    session_id: session_id.clone(),
                    authorized_at,
                    duration_seconds,
                    now,
                };
                let measured = u64::try_from((now - authorized_at).num_seconds()).unwrap();
                let outcome = Ok(vec![E::GameEnded {
                    session_id,
                    duration_seconds: duration_seconds.unwrap_or(measured),
                    ended_at: now,
                }]);
                (cmd, outcome)
            }
            Step::RequestRefund => {
                let refund_id = RefundId(fixed_id(5, n as usize));
                let cmd = C::RequestRefund {
                    refund_id,
                    reason: "停业".into(),
                    now,
                };
                let outcome = match (m.staff_change_refused(), m.open_refund) {
                    (Some(e), _) => Err(e),
                    (None, Some(open)) => Err(OperatorError::RefundAlreadyOpen { refund_id: open }),
                    (None, None) if m.balance_fen == 0 => Err(OperatorError::NothingToRefund),
                    (None, None) => Ok(vec![E::RefundRequested {
                        refund_id,
                        requested_amount: money(m.balance_fen),
                        reason: "停业".into(),
                        requested_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::ApproveRefund { open } => {
                let refund_id = m.refund_to_review(open, n);
                let cmd = C::ApproveRefund { refund_id, now };
                // Finance may still return the money of a deactivated account.
                let outcome = if m.open_refund != Some(refund_id) {
                    Err(OperatorError::RefundNotFound)
                } else if m.balance_fen == 0 {
                    Err(OperatorError::NothingToRefund)
                } else {
                    Ok(vec![E::RefundApproved {
                        refund_id,
                        amount: money(m.balance_fen),
                        balance_after: Money::ZERO,
                        approved_at: now,
                    }])
                };
                (cmd, outcome)
            }
            Step::RejectRefund { open } => {
                let refund_id = m.refund_to_review(open, n);
                let cmd = C::RejectRefund {
                    refund_id,
                    reason: "资料不全".into(),
                    now,
                };
                let outcome = if m.open_refund == Some(refund_id) {
                    Ok(vec![E::RefundRejected {
                        refund_id,
                        reason: "资料不全".into(),
                        rejected_at: now,
                    }])
                } else {
                    Err(OperatorError::RefundNotFound)
                };
                (cmd, outcome)
            }
            Step::RequestInvoice { amount } => {
                let invoice_id = InvoiceId(fixed_id(8, n as usize));
                let invoiceable = m.invoiceable_fen();
                let fen = match amount {
                    InvoiceAmount::Share(permille) => invoiceable * permille / 1_000,
                    InvoiceAmount::Fen(fen) => fen,
                };
                let request = InvoiceRequest {
                    invoice_type: if n.is_multiple_of(2) {
                        InvoiceType::General
                    } else {
                        InvoiceType::Special
                    },
                    title: "星际街机有限公司".into(),
                    tax_number: "91310000MA1FL0XXXX".into(),
                    amount: money(fen),
                };
                let cmd = C::RequestInvoice {
                    invoice_id,
                    request: request.clone(),
                    now,
                };
                let outcome = if let Some(e) = m.staff_change_refused() {
                    Err(e)
                } else if fen == 0 {
                    Err(OperatorError::InvalidField {
                        field: "amount",
                        reason: "must be greater than 0".into(),
                    })
                } else if fen > invoiceable {
                    Err(OperatorError::InvoiceAmountExceeded {
                        invoiceable: money(invoiceable),
                        requested: money(fen),
                    })
                } else {
                    Ok(vec![E::InvoiceRequested {
                        invoice_id,
                        invoice_type: request.invoice_type,
                        title: request.title,
                        tax_number: request.tax_number,
                        amount: money(fen),
                        requested_at: now,
                    }])
                };
                (cmd, outcome)
            }
            Step::IssueInvoice { pick } => {
                let invoice_id = m.invoice_to_review(pick, n);
                let invoice_number = format!("MR20261121{n:08}");
                let cmd = C::IssueInvoice {
                    invoice_id,
                    invoice_number: invoice_number.clone(),
                    issued_by: seller(),
                    now,
                };
                let outcome = match m.pending_invoices.get(&invoice_id) {
                    None => Err(OperatorError::InvoiceNotFound),
                    Some(fen) => Ok(vec![E::InvoiceIssued {
                        invoice_id,
                        invoice_number,
                        amount: money(*fen),
                        seller_name: seller().seller_name,
                        seller_tax_number: seller().seller_tax_number,
                        issued_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::RejectInvoice { pick } => {
                let invoice_id = m.invoice_to_review(pick, n);
                let cmd = C::RejectInvoice {
                    invoice_id,
                    reason: "抬头有误".into(),
                    now,
                };
                let outcome = if m.pending_invoices.contains_key(&invoice_id) {
                    Ok(vec![E::InvoiceRejected {
                        invoice_id,
                        reason: "抬头有误".into(),
                        rejected_at: now,
                    }])
                } else {
                    Err(OperatorError::InvoiceNotFound)
                };
                (cmd, outcome)
            }
            Step::OrderRecharge { fen, alipay } => {
                let order_id = RechargeOrderId(fixed_id(9, n as usize));
                let channel = if alipay {
                    PaymentChannel::Alipay
                } else {
                    PaymentChannel::Wechat
                };
                let out_trade_no = format!("MR{n:020}");
                let cmd = C::CreateRechargeOrder {
                    order_id,
                    out_trade_no: out_trade_no.clone(),
                    channel,
                    amount: money(fen),
                    now,
                };
                let outcome = if let Some(e) = m.staff_change_refused() {
                    Err(e)
                } else if !(RECHARGE_MIN_FEN..=RECHARGE_MAX_FEN).contains(&fen) {
                    Err(OperatorError::InvalidField {
                        field: "amount",
                        reason: "1.00 to 50000.00".into(),
                    })
                } else {
                    Ok(vec![E::RechargeOrdered {
                        order_id,
                        out_trade_no,
                        channel,
                        amount: money(fen),
                        ordered_at: now,
                    }])
                };
                (cmd, outcome)
            }
            Step::ConfirmRecharge {
                target,
                paid_delta_fen,
            } => {
                let order_id = m.recharge_to_decide(&target, n);
                let order = m.open_recharges.get(&order_id);
                let paid_fen = order.map_or(10_000, |o| o.fen) + paid_delta_fen;
                let transaction_id = format!("4200{n:024}");
                let cmd = C::ConfirmRecharge {
                    order_id,
                    payment: GatewayPayment {
                        transaction_id: transaction_id.clone(),
                        paid_amount: money(paid_fen),
                        paid_at: now,
                    },
                    now,
                };
                // A deactivated account is still credited: the money was paid.
                let outcome = match order {
                    None => Err(OperatorError::RechargeOrderNotOpen),
                    Some(o) if paid_fen != o.fen => Err(OperatorError::RechargeAmountMismatch {
                        expected: money(o.fen),
                        paid: money(paid_fen),
                    }),
                    Some(o) => Ok(vec![E::RechargeSucceeded {
                        order_id,
                        channel: o.channel,
                        transaction_id,
                        amount: money(o.fen),
                        balance_after: money(m.balance_fen + o.fen),
                        paid_at: now,
                        succeeded_at: now,
                    }]),
                };
                (cmd, outcome)
            }
            Step::FailRecharge { target } => {
                let order_id = m.recharge_to_decide(&target, n);
                let cmd = C::FailRecharge {
                    order_id,
                    reason: "PAYERROR".into(),
                    now,
                };
                let outcome = if m.open_recharges.contains_key(&order_id) {
                    Ok(vec![E::RechargeFailed {
                        order_id,
                        reason: "PAYERROR".into(),
                        failed_at: now,
                    }])
                } else {
                    Err(OperatorError::RechargeOrderNotOpen)
                };
                (cmd, outcome)
            }
            Step::CloseRecharge { target } => {
                let order_id = m.recharge_to_decide(&target, n);
                let cmd = C::CloseRecharge { order_id, now };
                let outcome = if m.open_recharges.contains_key(&order_id) {
                    Ok(vec![E::RechargeClosed {
                        order_id,
                        closed_at: now,
                    }])
                } else {
                    Err(OperatorError::RechargeOrderNotOpen)
                };
                (cmd, outcome)
            }
            Step::RechargeQueryFailed { target } => {
                let order_id = m.recharge_to_decide(&target, n);
                let cmd = C::RecordRechargeQueryFailure {
                    order_id,
                    reason: "timeout".into(),
                    max_failures: RECHARGE_MAX_QUERY_FAILURES,
                    now,
                };
                let outcome = match m.open_recharges.get(&order_id) {
                    None => Err(OperatorError::RechargeOrderNotOpen),
                    Some(o) => {
                        let attempts = o.query_failures + 1;
                        let mut events = vec![E::RechargeQueryFailed {
                            order_id,
                            attempts,
                            reason: "timeout".into(),
                            failed_at: now,
                        }];
                        if attempts == RECHARGE_MAX_QUERY_FAILURES {
                            events.push(E::RechargeNeedsReview {
                                order_id,
                                reason: "timeout".into(),
                                flagged_at: now,
                            });
                        }
                        Ok(events)
                    }
                };
                (cmd, outcome)
            }
        }
    }

    /// Moves the model by an accepted event (the model's own reading of it).
    fn accept(&mut self, event: &E) {
        let m = &mut self.model;
        match event {
            E::BalanceCredited { amount, .. } => {
                m.balance_fen += amount.fen();
                m.credited_fen += amount.fen();
            }
            E::GameAuthorized {
                session_id,
                total_cost,
                authorized_at,
                ..
            } => {
                m.balance_fen -= total_cost.fen();
                self.authorized.push((session_id.clone(), *authorized_at));
            }
            E::SiteOpened { site_id: s, .. } => m.sites[index_of(*s, site_id)] = Some(true),
            E::SiteClosed { site_id: s, .. } => m.sites[index_of(*s, site_id)] = Some(false),
            E::AppGranted {
                app_id, expires_at, ..
            } => m.grants[index_of(*app_id, app)] = Some(*expires_at),
            E::AppRevoked { app_id, .. } => m.grants[index_of(*app_id, app)] = None,
            E::OperatorLocked { reason, locked_at } => {
                m.status = ModelStatus::Locked {
                    at: *locked_at,
                    reason: reason.clone(),
                };
            }
            E::OperatorUnlocked { .. } => m.status = ModelStatus::Active,
            E::OperatorDeactivated { .. } => m.status = ModelStatus::Deactivated,
            E::CredentialRotated {
                key_id,
                retired,
                rotated_at,
                ..
            } => {
                for r in retired {
                    m.keys.insert(r.key_id.clone(), Some(r.ends_at));
                }
                m.keys
                    .retain(|_, ends| ends.is_none_or(|e| e > *rotated_at));
                m.keys.insert(key_id.clone(), None);
            }
            E::RefundRequested { refund_id, .. } => m.open_refund = Some(*refund_id),
            E::RefundApproved { amount, .. } => {
                m.balance_fen -= amount.fen();
                m.refunded_fen += amount.fen();
                m.open_refund = None;
            }
            E::RefundRejected { .. } => m.open_refund = None,
            E::InvoiceRequested {
                invoice_id, amount, ..
            } => {
                m.pending_invoices.insert(*invoice_id, amount.fen());
            }
            E::InvoiceIssued { invoice_id, .. } => {
                m.invoiced_fen += m.pending_invoices.remove(invoice_id).unwrap();
            }
            E::InvoiceRejected { invoice_id, .. } => {
                m.pending_invoices.remove(invoice_id).unwrap();
            }
            E::RechargeOrdered {
                order_id,
                channel,
                amount,
                ..
            } => {
                m.open_recharges.insert(
                    *order_id,
                    ModelRecharge {
                        fen: amount.fen(),
                        channel: *channel,
                        query_failures: 0,
                        needs_review: false,
                    },
                );
            }
            E::RechargeSucceeded {
                order_id, amount, ..
            } => {
                m.balance_fen += amount.fen();
                m.credited_fen += amount.fen();
                m.open_recharges.remove(order_id).unwrap();
                m.decided_recharges.push(*order_id);
            }
            E::RechargeFailed { order_id, .. } | E::RechargeClosed { order_id, .. } => {
                m.open_recharges.remove(order_id).unwrap();
                m.decided_recharges.push(*order_id);
            }
            E::RechargeQueryFailed {
                order_id, attempts, ..
            } => m.open_recharges.get_mut(order_id).unwrap().query_failures = *attempts,
            E::RechargeNeedsReview { order_id, .. } => {
                m.open_recharges.get_mut(order_id).unwrap().needs_review = true;
            }
            E::SiteUpdated { .. } | E::GameEnded { .. } => {}
            E::OperatorRegistered { .. }
            | E::CredentialIssued { .. }
            | E::LowBalanceThresholdSet { .. } => {
                unreachable!("registered once, first")
            }
            other => unreachable!("no step decides {other:?}"),
        }
    }
}

fn seller() -> IssuedBy {
    IssuedBy {
        seller_name: "MR 科技有限公司".into(),
        seller_tax_number: "91110000MA00000000".into(),
    }
}

fn index_of<T: PartialEq>(id: T, make: fn(usize) -> T) -> usize {
    (0..SITES.max(APPS))
        .find(|&i| make(i) == id)
        .expect("a known id")
}

// ------------------------------------------------------------------ invariants

fn replay_all(events: &[E]) -> Operator {
    replay(events.iter().cloned())
}

/// Credits minus charges, summed from the events' amounts alone, and every `balance_after`
/// checked against the running sum.
fn balance_from_events(events: &[E]) -> Result<i128, TestCaseError> {
    let mut sum: i128 = 0;
    for event in events {
        match event {
            E::BalanceCredited {
                amount,
                balance_after,
                ..
            }
            | E::RechargeSucceeded {
                amount,
                balance_after,
                ..
            } => {
                sum += i128::from(amount.fen());
                prop_assert_eq!(i128::from(balance_after.fen()), sum, "credit balance_after");
            }
            E::GameAuthorized {
                unit_price,
                player_count,
                total_cost,
                balance_after,
                ..
            } => {
                prop_assert_eq!(
                    i128::from(total_cost.fen()),
                    i128::from(unit_price.fen()) * i128::from(*player_count),
                    "total = price × players"
                );
                sum -= i128::from(total_cost.fen());
                prop_assert_eq!(i128::from(balance_after.fen()), sum, "charge balance_after");
            }
            E::RefundApproved {
                amount,
                balance_after,
                ..
            } => {
                // Invariant 7: the refund is the balance at approval, never more.
                prop_assert_eq!(
                    i128::from(amount.fen()),
                    sum,
                    "refund = balance at approval"
                );
                sum -= i128::from(amount.fen());
                prop_assert_eq!(i128::from(balance_after.fen()), sum, "refund balance_after");
            }
            _ => prop_assert!(event.money_movement().is_none()),
        }
        prop_assert!(sum >= 0, "the running balance went negative: {sum}");
    }
    Ok(sum)
}

/// What invoices take, recomputed from the events alone: every request fits in what was
/// received less what was refunded, invoiced or pending when it was made, and invoices
/// never exceed what was received. Returns (credited, refunded, invoiced, pending) in fen.
fn invoicing_from_events(events: &[E]) -> Result<(i128, i128, i128, i128), TestCaseError> {
    let (mut credited, mut refunded, mut invoiced) = (0i128, 0i128, 0i128);
    let mut pending: BTreeMap<InvoiceId, i128> = BTreeMap::new();
    // Whether a refund was approved while invoices were issued or pending: only then may the
    // invoices exceed what was received less what was refunded.
    let mut refunded_after_invoicing = false;
    for event in events {
        let pending_sum: i128 = pending.values().sum();
        match event {
            E::BalanceCredited { amount, .. } | E::RechargeSucceeded { amount, .. } => {
                credited += i128::from(amount.fen());
            }
            E::RefundApproved { amount, .. } => {
                refunded += i128::from(amount.fen());
                refunded_after_invoicing |= invoiced + pending_sum > 0;
            }
            E::InvoiceRequested {
                invoice_id, amount, ..
            } => {
                let amount = i128::from(amount.fen());
                prop_assert!(amount > 0);
                prop_assert!(
                    invoiced + pending_sum + amount <= credited - refunded,
                    "an invoice request took more than was invoiceable"
                );
                pending.insert(*invoice_id, amount);
            }
            E::InvoiceIssued {
                invoice_id, amount, ..
            } => {
                let reserved = pending.remove(invoice_id);
                prop_assert_eq!(
                    reserved,
                    Some(i128::from(amount.fen())),
                    "issued as reserved"
                );
                invoiced += i128::from(amount.fen());
            }
            E::InvoiceRejected { invoice_id, .. } => {
                prop_assert!(pending.remove(invoice_id).is_some());
            }
            _ => {}
        }
        let pending_sum: i128 = pending.values().sum();
        prop_assert!(
            invoiced + pending_sum <= credited,
            "invoiced more than received"
        );
        if !refunded_after_invoicing {
            prop_assert!(invoiced + pending_sum <= credited - refunded);
        }
    }
    Ok((credited, refunded, invoiced, pending.values().sum()))
}

fn check_invariants(
    state: &Operator,
    log: &[E],
    model: &Model,
    through_json: bool,
) -> Result<(), TestCaseError> {
    prop_assert!(state.balance.fen() >= 0);
    prop_assert!(state.balance.as_decimal().is_sign_positive());
    prop_assert_eq!(i128::from(state.balance.fen()), balance_from_events(log)?);
    prop_assert_eq!(state.balance.fen(), model.balance_fen);
    let (credited, refunded, invoiced, pending) = invoicing_from_events(log)?;
    prop_assert_eq!(i128::from(state.total_credited.fen()), credited);
    prop_assert_eq!(i128::from(state.total_refunded.fen()), refunded);
    prop_assert_eq!(i128::from(state.invoiced.fen()), invoiced);
    prop_assert_eq!(
        i128::from(state.invoiceable().fen()),
        (credited - refunded - invoiced - pending).max(0)
    );
    prop_assert_eq!(state.invoiceable().fen(), model.invoiceable_fen());
    prop_assert_eq!(state.open_refund, model.open_refund);
    prop_assert_eq!(
        state
            .open_recharges
            .iter()
            .map(|(id, o)| (*id, o.amount.fen(), o.query_failures, o.needs_review))
            .collect::<Vec<_>>(),
        model
            .open_recharges
            .iter()
            .map(|(id, o)| (*id, o.fen, o.query_failures, o.needs_review))
            .collect::<Vec<_>>()
    );
    prop_assert_eq!(
        &replay_all(log),
        state,
        "replay of all events differs from the live state"
    );
    if through_json {
        let stored: Vec<String> = log
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let loaded = replay(
            stored
                .iter()
                .map(|text| serde_json::from_str::<E>(text).unwrap()),
        );
        prop_assert_eq!(
            &loaded,
            state,
            "replay of the stored JSON differs from the live state"
        );
        let snapshot: Operator =
            serde_json::from_value(serde_json::to_value(state).unwrap()).unwrap();
        prop_assert_eq!(
            &snapshot,
            state,
            "the state's own JSON snapshot does not round-trip"
        );
    }
    // The live keys are the model's.
    let live_keys: Vec<&KeyId> = state.credentials.keys().collect();
    let model_keys: Vec<&KeyId> = model.keys.keys().collect();
    prop_assert_eq!(live_keys, model_keys);
    Ok(())
}

/// Runs `command` through `Aggregate::handle` (async, as the framework does) and returns the
/// events written and the aggregate it leaves.
fn handle(
    rt: &tokio::runtime::Runtime,
    state: &Operator,
    command: C,
) -> (Result<Vec<E>, OperatorError>, Operator) {
    let mut aggregate = state.clone();
    let sink = EventSink::<Operator>::default();
    let result = rt.block_on(async {
        aggregate.handle(command, &(), &sink).await?;
        Ok(sink.collect().await)
    });
    (result, aggregate)
}

/// Runs the steps, checking every invariant after each; returns the events recorded.
fn run(steps: Vec<(i64, Step)>) -> Result<Vec<E>, TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut state = Operator::default();
    let mut log = registered();
    for event in state.decide(register_command()).unwrap() {
        state.apply(event);
    }
    prop_assert_eq!(&replay_all(&log), &state);
    let mut harness = Harness {
        model: Model::registered(),
        now: t0(),
        counter: 0,
        authorized: vec![],
    };

    for (i, (advance, step)) in steps.iter().enumerate() {
        harness.now += TimeDelta::seconds(*advance);
        let (command, predicted) = harness.command(step);
        let decided = state.decide(command.clone());
        prop_assert_eq!(&decided, &predicted, "step {} {:?}", i, step);

        let (handled, handled_state) = handle(&rt, &state, command);
        prop_assert_eq!(
            &handled,
            &decided,
            "handle and decide disagree at step {}",
            i
        );

        // A refused command records nothing and changes nothing.
        if let Ok(events) = decided {
            for event in events {
                harness.accept(&event);
                state.apply(event.clone());
                log.push(event);
            }
        }
        prop_assert_eq!(
            &handled_state,
            &state,
            "handle left another state at step {}",
            i
        );
        check_invariants(
            &state,
            &log,
            &harness.model,
            i % 8 == 0 || i + 1 == steps.len(),
        )?;
    }
    Ok(log)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_balance_equal_to_its_events_and_replayable(
        steps in sequence()
    ) {
        run(steps)?;
    }
}

#[test]
fn a_long_busy_day_keeps_every_invariant() {
    // A deterministic sequence that surely reaches charges, refusals and rotations.
    let mut steps = vec![
        (0, Step::OpenSite { site: 0 }),
        (
            1,
            Step::Grant {
                app: 0,
                expires_in: None,
            },
        ),
        (1, Step::Credit { fen: 50_000 }),
    ];
    for k in 0..200 {
        steps.push((
            37,
            Step::Authorize {
                site: 0,
                app: 0,
                players: (k % 9) + 1,
                price_fen: 1_000,
                min: 2,
                span: 6,
                retired: false,
            },
        ));
        if k % 50 == 49 {
            steps.push((
                1,
                Step::Rotate {
                    overlap_seconds: 600,
                },
            ));
            steps.push((1, Step::Credit { fen: 20_000 }));
            steps.push((
                1,
                Step::EndGame {
                    duration_seconds: None,
                },
            ));
        }
    }
    run(steps).unwrap();
}

#[test]
fn a_month_of_refunds_and_invoices_keeps_every_invariant() {
    let game = |players| Step::Authorize {
        site: 0,
        app: 0,
        players,
        price_fen: 1_000,
        min: 2,
        span: 6,
        retired: false,
    };
    let steps = vec![
        (0, Step::OpenSite { site: 0 }),
        (
            1,
            Step::Grant {
                app: 0,
                expires_in: None,
            },
        ),
        (1, Step::Credit { fen: 10_000 }),
        // Invoice half, then more than is left: refused.
        (
            1,
            Step::RequestInvoice {
                amount: InvoiceAmount::Share(500),
            },
        ),
        (
            1,
            Step::RequestInvoice {
                amount: InvoiceAmount::Share(1_001),
            },
        ),
        (
            1,
            Step::RequestInvoice {
                amount: InvoiceAmount::Share(1_000),
            },
        ),
        (1, Step::IssueInvoice { pick: Some(0) }),
        (1, Step::RejectInvoice { pick: Some(0) }),
        (1, Step::IssueInvoice { pick: None }),
        // Refund: games during review reduce it; a second request waits.
        (1, Step::RequestRefund),
        (1, Step::RequestRefund),
        (1, game(5)),
        (1, Step::ApproveRefund { open: false }),
        (1, Step::ApproveRefund { open: true }),
        (1, Step::ApproveRefund { open: true }),
        (1, Step::RequestRefund),
        // Money again; a refund rejected keeps it.
        (1, Step::Credit { fen: 8_000 }),
        (1, Step::RequestRefund),
        (1, Step::RejectRefund { open: true }),
        // Spent to zero during review: the approval is refused, a rejection closes it.
        (1, Step::RequestRefund),
        (1, game(8)),
        (1, Step::ApproveRefund { open: true }),
        (1, Step::RejectRefund { open: true }),
        (
            1,
            Step::RequestInvoice {
                amount: InvoiceAmount::Share(1_000),
            },
        ),
    ];
    let log = run(steps).unwrap();
    let count = |name: &str| {
        event_types(&log)
            .iter()
            .filter(|t| t.as_str() == name)
            .count()
    };
    assert_eq!(count("InvoiceRequested"), 3);
    assert_eq!(count("InvoiceIssued"), 1);
    assert_eq!(count("InvoiceRejected"), 1);
    assert_eq!(count("RefundRequested"), 3);
    assert_eq!(count("RefundApproved"), 1);
    assert_eq!(count("RefundRejected"), 2);
    let state = replay(log.iter().cloned());
    // 100 credited, 50 played, 50 refunded, 80 credited, 80 played: nothing left.
    assert_eq!(state.balance, Money::ZERO);
    assert_eq!(state.total_refunded, money(5_000));
    assert_eq!(state.invoiced, money(5_000));
    assert_eq!(
        state.pending_invoices.values().copied().collect::<Vec<_>>(),
        [money(8_000)]
    );
}

#[test]
fn recharge_orders_paid_failed_closed_and_replayed_keep_every_invariant() {
    let open = |i| RechargeTarget::Open(i);
    let steps = vec![
        (
            0,
            Step::OrderRecharge {
                fen: 10_000,
                alipay: false,
            },
        ),
        (
            1,
            Step::OrderRecharge {
                fen: 99,
                alipay: true,
            },
        ),
        (
            1,
            Step::OrderRecharge {
                fen: 2_000,
                alipay: true,
            },
        ),
        (
            1,
            Step::OrderRecharge {
                fen: 5_000,
                alipay: false,
            },
        ),
        // A wrong amount is refused; the right one credits; a second result is refused.
        (
            1,
            Step::ConfirmRecharge {
                target: open(0),
                paid_delta_fen: 1,
            },
        ),
        (
            1,
            Step::ConfirmRecharge {
                target: open(0),
                paid_delta_fen: 0,
            },
        ),
        (
            1,
            Step::ConfirmRecharge {
                target: RechargeTarget::Decided(0),
                paid_delta_fen: 0,
            },
        ),
        // Three failed queries flag the next order; it is still credited.
        (1, Step::RechargeQueryFailed { target: open(0) }),
        (1, Step::RechargeQueryFailed { target: open(0) }),
        (1, Step::RechargeQueryFailed { target: open(0) }),
        (1, Step::RechargeQueryFailed { target: open(0) }),
        (
            1,
            Step::ConfirmRecharge {
                target: open(0),
                paid_delta_fen: 0,
            },
        ),
        // The last one is closed, and a late payment for it is refused.
        (1, Step::CloseRecharge { target: open(0) }),
        (
            1,
            Step::ConfirmRecharge {
                target: RechargeTarget::Decided(2),
                paid_delta_fen: 0,
            },
        ),
        (1, Step::FailRecharge { target: open(0) }),
        (
            1,
            Step::RequestInvoice {
                amount: InvoiceAmount::Share(1_000),
            },
        ),
    ];
    let log = run(steps).unwrap();
    let count = |name: &str| {
        event_types(&log)
            .iter()
            .filter(|t| t.as_str() == name)
            .count()
    };
    assert_eq!(count("RechargeOrdered"), 3);
    assert_eq!(count("RechargeSucceeded"), 2);
    assert_eq!(count("RechargeQueryFailed"), 4);
    assert_eq!(count("RechargeNeedsReview"), 1);
    assert_eq!(count("RechargeClosed"), 1);
    assert_eq!(count("RechargeFailed"), 0);
    let state = replay(log.iter().cloned());
    assert_eq!(state.balance, money(12_000));
    assert_eq!(state.total_credited, money(12_000));
    assert!(state.open_recharges.is_empty());
    assert_eq!(
        state.pending_invoices.values().copied().collect::<Vec<_>>(),
        [money(12_000)]
    );
}
