//! Fixed facts shared by the domain tests: times, ids, and the events that put an operator
//! into a known state. Everything is deterministic so failures reproduce exactly.

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use ledger_core::application::{AppStatus, Application};
use ledger_core::ids::{
    AnnouncementId, AppId, AppRequestId, AuthorizationToken, CreditId, InvoiceId, KeyId,
    OperatorId, RechargeOrderId, RefundId, SessionId, SiteId, StaffId,
};
use ledger_core::money::Money;
use ledger_core::operator::{AppTerms, Category, Operator, OperatorCommand, OperatorEvent};
use ledger_core::{Aggregate, DomainEvent};

pub const OPERATOR: &str = "0190f5a4-7b1c-7d3e-8f00-123456789abc";
pub const SITE: &str = "0190f5a4-7b1c-7d3e-8f00-00000000a001";
pub const OTHER_SITE: &str = "0190f5a4-7b1c-7d3e-8f00-00000000a002";
pub const APP: &str = "0190f5a4-7b1c-7d3e-8f00-00000000b001";
pub const APP_NAME: &str = "太空探险";
pub const KEY: &str = "mrk_00000000000000000000000000000001";
pub const NEW_KEY: &str = "mrk_00000000000000000000000000000002";
pub const THIRD_KEY: &str = "mrk_00000000000000000000000000000003";
pub const TOKEN: &str = "0190f5a4-7b1c-7d3e-8f00-00000000c001";
pub const CREDIT: &str = "0190f5a4-7b1c-7d3e-8f00-00000000d001";
pub const REQUEST: &str = "0190f5a4-7b1c-7d3e-8f00-00000000e001";
pub const OTHER_REQUEST: &str = "0190f5a4-7b1c-7d3e-8f00-00000000e002";
pub const REFUND: &str = "0190f5a4-7b1c-7d3e-8f00-00000000f001";
pub const OTHER_REFUND: &str = "0190f5a4-7b1c-7d3e-8f00-00000000f002";
pub const INVOICE: &str = "0190f5a4-7b1c-7d3e-8f00-000000001001";
pub const OTHER_INVOICE: &str = "0190f5a4-7b1c-7d3e-8f00-000000001002";
pub const STAFF: &str = "0190f5a4-7b1c-7d3e-8f00-000000002001";
pub const ANNOUNCEMENT: &str = "0190f5a4-7b1c-7d3e-8f00-000000003001";
pub const RECHARGE: &str = "0190f5a4-7b1c-7d3e-8f00-000000004001";
pub const OTHER_RECHARGE: &str = "0190f5a4-7b1c-7d3e-8f00-000000004002";

/// 2026-11-21T12:00:00Z, the moment every scenario starts.
pub fn t0() -> DateTime<Utc> {
    at("2026-11-21T12:00:00Z")
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn later(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

pub fn yuan(text: &str) -> Money {
    Money::parse(text).unwrap()
}

pub fn operator_id() -> OperatorId {
    OPERATOR.parse().unwrap()
}

pub fn site() -> SiteId {
    SITE.parse().unwrap()
}

pub fn other_site() -> SiteId {
    OTHER_SITE.parse().unwrap()
}

pub fn app_id() -> AppId {
    APP.parse().unwrap()
}

pub fn key(id: &str) -> KeyId {
    KeyId(id.to_owned())
}

pub fn token() -> AuthorizationToken {
    TOKEN.parse().unwrap()
}

pub fn credit_id() -> CreditId {
    CREDIT.parse().unwrap()
}

pub fn request_id(id: &str) -> AppRequestId {
    id.parse().unwrap()
}

pub fn refund_id(id: &str) -> RefundId {
    id.parse().unwrap()
}

pub fn invoice_id(id: &str) -> InvoiceId {
    id.parse().unwrap()
}

pub fn staff_id() -> StaffId {
    STAFF.parse().unwrap()
}

pub fn recharge_id(id: &str) -> RechargeOrderId {
    id.parse().unwrap()
}

pub fn announcement_id() -> AnnouncementId {
    ANNOUNCEMENT.parse().unwrap()
}

/// A well-formed session id of the operator; `n` makes it unique.
pub fn session(n: u32) -> SessionId {
    SessionId::parse(&format!(
        "{OPERATOR}_{}_sess{n:012}",
        t0().timestamp_millis()
    ))
    .unwrap()
}

/// Given/when/then on a fresh operator with these past events.
pub fn given(events: Vec<OperatorEvent>) -> AggregateTestExecutor<Operator> {
    TestFramework::<Operator>::with(()).given(events)
}

/// State of an operator after these events, exactly as the event store would load it.
pub fn replay(events: impl IntoIterator<Item = OperatorEvent>) -> Operator {
    let mut operator = Operator::default();
    for event in events {
        operator.apply(event);
    }
    operator
}

pub fn replay_app(
    events: impl IntoIterator<Item = ledger_core::application::AppEvent>,
) -> Application {
    let mut app = Application::default();
    for event in events {
        app.apply(event);
    }
    app
}

pub fn register_command() -> OperatorCommand {
    OperatorCommand::RegisterOperator {
        operator_id: operator_id(),
        username: "starcade".to_owned(),
        name: "星际街机有限公司".to_owned(),
        phone: "13800138000".to_owned(),
        email: "ops@starcade.example".to_owned(),
        category: Category::Trial,
        low_balance_threshold: yuan(TRIAL_THRESHOLD),
        key_id: key(KEY),
        fingerprint: "f1".repeat(32),
        now: t0(),
    }
}

/// The trial category's default low-balance threshold, as configuration gives it.
pub const TRIAL_THRESHOLD: &str = "50.00";

/// The three events of a registration at `t0`.
pub fn registered() -> Vec<OperatorEvent> {
    vec![
        OperatorEvent::OperatorRegistered {
            operator_id: operator_id(),
            username: "starcade".to_owned(),
            name: "星际街机有限公司".to_owned(),
            phone: "13800138000".to_owned(),
            email: "ops@starcade.example".to_owned(),
            category: Category::Trial,
            registered_at: t0(),
        },
        OperatorEvent::CredentialIssued {
            key_id: key(KEY),
            fingerprint: "f1".repeat(32),
            issued_at: t0(),
        },
        OperatorEvent::LowBalanceThresholdSet {
            threshold: yuan(TRIAL_THRESHOLD),
            set_at: t0(),
        },
    ]
}

pub fn site_opened(site_id: SiteId) -> OperatorEvent {
    OperatorEvent::SiteOpened {
        site_id,
        name: "万达店".to_owned(),
        address: "上海市浦东新区世纪大道 1 号".to_owned(),
        opened_at: t0(),
    }
}

pub fn site_closed(site_id: SiteId) -> OperatorEvent {
    OperatorEvent::SiteClosed {
        site_id,
        closed_at: later(60),
    }
}

pub fn granted(expires_at: Option<DateTime<Utc>>) -> OperatorEvent {
    OperatorEvent::AppGranted {
        app_id: app_id(),
        expires_at,
        granted_at: t0(),
    }
}

pub fn credited(amount: &str, balance_after: &str) -> OperatorEvent {
    OperatorEvent::BalanceCredited {
        credit_id: credit_id(),
        amount: yuan(amount),
        reason: "银行转账".to_owned(),
        balance_after: yuan(balance_after),
        credited_at: t0(),
    }
}

pub fn locked() -> OperatorEvent {
    OperatorEvent::OperatorLocked {
        reason: "可疑签名".to_owned(),
        locked_at: later(120),
    }
}

pub fn deactivated() -> OperatorEvent {
    OperatorEvent::OperatorDeactivated {
        deactivated_at: later(180),
    }
}

/// A registered operator with one open site, a permanent grant of the app and `balance`.
pub fn ready_to_play(balance: &str) -> Vec<OperatorEvent> {
    let mut events = registered();
    events.push(site_opened(site()));
    events.push(granted(None));
    if !yuan(balance).is_zero() {
        events.push(credited(balance, balance));
    }
    events
}

/// The app's terms in force: 10.00 per player, 2 to 8 players, active.
pub fn terms() -> AppTerms {
    AppTerms {
        app_id: app_id(),
        name: APP_NAME.to_owned(),
        unit_price: yuan("10.00"),
        min_players: 2,
        max_players: 8,
        status: AppStatus::Active,
    }
}

pub fn retired_terms() -> AppTerms {
    AppTerms {
        status: AppStatus::Retired,
        ..terms()
    }
}

pub fn authorize(player_count: i64) -> OperatorCommand {
    authorize_with(terms(), site(), player_count)
}

pub fn authorize_with(app: AppTerms, site_id: SiteId, player_count: i64) -> OperatorCommand {
    OperatorCommand::AuthorizeGame {
        session_id: session(1),
        token: token(),
        app,
        site_id,
        player_count,
        now: later(600),
    }
}

/// The event an authorization of `players` at 10.00 from `balance_before` records.
pub fn game_authorized(players: u32, total: &str, balance_after: &str) -> OperatorEvent {
    OperatorEvent::GameAuthorized {
        session_id: session(1),
        authorization_token: token(),
        app_id: app_id(),
        app_name: APP_NAME.to_owned(),
        site_id: site(),
        player_count: players,
        unit_price: yuan("10.00"),
        total_cost: yuan(total),
        balance_after: yuan(balance_after),
        authorized_at: later(600),
    }
}

/// The `event_type()` names, in one place, for tests that list them.
pub fn event_types<E: DomainEvent>(events: &[E]) -> Vec<String> {
    events.iter().map(DomainEvent::event_type).collect()
}
