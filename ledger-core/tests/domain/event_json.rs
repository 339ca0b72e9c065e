//! Snapshot tests of the stored event JSON. Events are kept forever: a change of field name,
//! tag, money or time format breaks every stored stream, so each variant's JSON is pinned here
//! and must also read back to the same value. A failure here means "write an upcaster", not
//! "update the literal".

use std::fmt::Debug;

use ledger_core::DomainEvent;
use ledger_core::announcement::AnnouncementEvent;
use ledger_core::application::AppEvent;
use ledger_core::headset_server::HeadsetServerEvent;
use ledger_core::metadata::ActorRole;
use ledger_core::operator::{
    Category, InvoiceType, OperatorEvent as E, PaymentChannel, RetiredKey,
};
use ledger_core::staff_account::StaffEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::fixtures::*;

/// The event serializes to exactly `expected`, and `expected` reads back to the event.
fn pin<T>(event: &T, expected: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    assert_eq!(
        serde_json::to_value(event).unwrap(),
        expected,
        "JSON of {event:?}"
    );
    let back: T = serde_json::from_value(expected).unwrap();
    assert_eq!(&back, event);
    // Also through text, as the event store reads it.
    let text = serde_json::to_string(event).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), event);
}

fn operator_events() -> Vec<(E, &'static str, Value)> {
    let [reg, issued, threshold] = <[E; 3]>::try_from(registered()).unwrap();
    let mut cases = vec![
        (
            reg,
            "OperatorRegistered",
            json!({"OperatorRegistered": {
                "operator_id": OPERATOR,
                "username": "starcade",
                "name": "星际街机有限公司",
                "phone": "13800138000",
                "email": "ops@starcade.example",
                "category": "trial",
                "registered_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            issued,
            "CredentialIssued",
            json!({"CredentialIssued": {
                "key_id": KEY,
                "fingerprint": "f1".repeat(32),
                "issued_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            E::CredentialRotated {
                key_id: key(NEW_KEY),
                fingerprint: "ab".repeat(32),
                retired: vec![RetiredKey {
                    key_id: key(KEY),
                    ends_at: later(300),
                }],
                rotated_at: t0(),
            },
            "CredentialRotated",
            json!({"CredentialRotated": {
                "key_id": NEW_KEY,
                "fingerprint": "ab".repeat(32),
                "retired": [{"key_id": KEY, "ends_at": "2026-11-21T12:05:00Z"}],
                "rotated_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            site_opened(site()),
            "SiteOpened",
            json!({"SiteOpened": {
                "site_id": SITE,
                "name": "万达店",
                "address": "上海市浦东新区世纪大道 1 号",
                "opened_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            E::SiteUpdated {
                site_id: site(),
                name: "新店".into(),
                address: "北京".into(),
                updated_at: later(5),
            },
            "SiteUpdated",
            json!({"SiteUpdated": {
                "site_id": SITE,
                "name": "新店",
                "address": "北京",
                "updated_at": "2026-11-21T12:00:05Z"
            }}),
        ),
        (
            site_closed(site()),
            "SiteClosed",
            json!({"SiteClosed": {"site_id": SITE, "closed_at": "2026-11-21T12:01:00Z"}}),
        ),
        (
            granted(None),
            "AppGranted",
            json!({"AppGranted": {"app_id": APP, "expires_at": null, "granted_at": "2026-11-21T12:00:00Z"}}),
        ),
        (
            granted(Some(at("2026-12-31T16:00:00Z"))),
            "AppGranted",
            json!({"AppGranted": {
                "app_id": APP,
                "expires_at": "2026-12-31T16:00:00Z",
                "granted_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            E::AppRevoked {
                app_id: app_id(),
                revoked_at: later(30),
            },
            "AppRevoked",
            json!({"AppRevoked": {"app_id": APP, "revoked_at": "2026-11-21T12:00:30Z"}}),
        ),
        (
            credited("500", "500.5"),
            "BalanceCredited",
            json!({"BalanceCredited": {
                "credit_id": CREDIT,
                "amount": "500.00",
                "reason": "银行转账",
                "balance_after": "500.50",
                "credited_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            E::GameAuthorized {
                session_id: session(1),
                authorization_token: token(),
                app_id: app_id(),
                app_name: APP_NAME.into(),
                site_id: site(),
                player_count: 5,
                unit_price: yuan("10"),
                total_cost: yuan("50"),
                balance_after: yuan("450"),
                authorized_at: at("2026-11-21T12:30:00.123Z"),
            },
            "GameAuthorized",
            json!({"GameAuthorized": {
                "session_id": format!("{OPERATOR}_1795262400000_sess000000000001"),
                "authorization_token": TOKEN,
                "app_id": APP,
                "app_name": "太空探险",
                "site_id": SITE,
                "player_count": 5,
                "unit_price": "10.00",
                "total_cost": "50.00",
                "balance_after": "450.00",
                "authorized_at": "2026-11-21T12:30:00.123Z"
            }}),
        ),
        (
            E::GameEnded {
                session_id: session(1),
                duration_seconds: 754,
                ended_at: later(1354),
            },
            "GameEnded",
            json!({"GameEnded": {
                "session_id": format!("{OPERATOR}_1795262400000_sess000000000001"),
                "duration_seconds": 754,
                "ended_at": "2026-11-21T12:22:34Z"
            }}),
        ),
        (
            locked(),
            "OperatorLocked",
            json!({"OperatorLocked": {"reason": "可疑签名", "locked_at": "2026-11-21T12:02:00Z"}}),
        ),
        (
            E::OperatorUnlocked {
                unlocked_at: later(300),
            },
            "OperatorUnlocked",
            json!({"OperatorUnlocked": {"unlocked_at": "2026-11-21T12:05:00Z"}}),
        ),
        (
            deactivated(),
            "OperatorDeactivated",
            json!({"OperatorDeactivated": {"deactivated_at": "2026-11-21T12:03:00Z"}}),
        ),
        (
            threshold,
            "LowBalanceThresholdSet",
            json!({"LowBalanceThresholdSet": {"threshold": "50.00", "set_at": "2026-11-21T12:00:00Z"}}),
        ),
    ];
    cases.extend(workflow_events());
    cases.extend(recharge_events());
    cases
}

/// The events of an online recharge order's life.
fn recharge_events() -> Vec<(E, &'static str, Value)> {
    vec![
        (
            E::RechargeOrdered {
                order_id: recharge_id(RECHARGE),
                out_trade_no: "MR20261121120000000001".into(),
                channel: PaymentChannel::Wechat,
                amount: yuan("100"),
                ordered_at: later(200),
            },
            "RechargeOrdered",
            json!({"RechargeOrdered": {
                "order_id": RECHARGE,
                "out_trade_no": "MR20261121120000000001",
                "channel": "wechat",
                "amount": "100.00",
                "ordered_at": "2026-11-21T12:03:20Z"
            }}),
        ),
        (
            E::RechargeSucceeded {
                order_id: recharge_id(RECHARGE),
                channel: PaymentChannel::Alipay,
                transaction_id: "2026112122001400000000000001".into(),
                amount: yuan("100"),
                balance_after: yuan("150.5"),
                paid_at: later(210),
                succeeded_at: later(211),
            },
            "RechargeSucceeded",
            json!({"RechargeSucceeded": {
                "order_id": RECHARGE,
                "channel": "alipay",
                "transaction_id": "2026112122001400000000000001",
                "amount": "100.00",
                "balance_after": "150.50",
                "paid_at": "2026-11-21T12:03:30Z",
                "succeeded_at": "2026-11-21T12:03:31Z"
            }}),
        ),
        (
            E::RechargeFailed {
                order_id: recharge_id(RECHARGE),
                reason: "PAYERROR".into(),
                failed_at: later(220),
            },
            "RechargeFailed",
            json!({"RechargeFailed": {
                "order_id": RECHARGE,
                "reason": "PAYERROR",
                "failed_at": "2026-11-21T12:03:40Z"
            }}),
        ),
        (
            E::RechargeClosed {
                order_id: recharge_id(RECHARGE),
                closed_at: later(230),
            },
            "RechargeClosed",
            json!({"RechargeClosed": {
                "order_id": RECHARGE,
                "closed_at": "2026-11-21T12:03:50Z"
            }}),
        ),
        (
            E::RechargeQueryFailed {
                order_id: recharge_id(RECHARGE),
                attempts: 2,
                reason: "gateway timeout".into(),
                failed_at: later(240),
            },
            "RechargeQueryFailed",
            json!({"RechargeQueryFailed": {
                "order_id": RECHARGE,
                "attempts": 2,
                "reason": "gateway timeout",
                "failed_at": "2026-11-21T12:04:00Z"
            }}),
        ),
        (
            E::RechargeNeedsReview {
                order_id: recharge_id(RECHARGE),
                reason: "gateway timeout".into(),
                flagged_at: later(250),
            },
            "RechargeNeedsReview",
            json!({"RechargeNeedsReview": {
                "order_id": RECHARGE,
                "reason": "gateway timeout",
                "flagged_at": "2026-11-21T12:04:10Z"
            }}),
        ),
    ]
}

/// The events of the workflows around the money stream (profile, applications, refunds,
/// invoices, messages, reminders).
fn workflow_events() -> Vec<(E, &'static str, Value)> {
    vec![
        (
            E::ProfileUpdated {
                name: "星际街机".into(),
                phone: "+86-21-12345678".into(),
                email: "hi@starcade.example".into(),
                updated_at: later(10),
            },
            "ProfileUpdated",
            json!({"ProfileUpdated": {
                "name": "星际街机",
                "phone": "+86-21-12345678",
                "email": "hi@starcade.example",
                "updated_at": "2026-11-21T12:00:10Z"
            }}),
        ),
        (
            E::PasswordChanged {
                changed_at: later(20),
            },
            "PasswordChanged",
            json!({"PasswordChanged": {"changed_at": "2026-11-21T12:00:20Z"}}),
        ),
        (
            E::CategoryChanged {
                category: Category::Vip,
                changed_at: later(30),
            },
            "CategoryChanged",
            json!({"CategoryChanged": {"category": "vip", "changed_at": "2026-11-21T12:00:30Z"}}),
        ),
        (
            E::AppApplied {
                request_id: request_id(REQUEST),
                app_id: app_id(),
                app_name: APP_NAME.into(),
                reason: "新店开业".into(),
                applied_at: later(40),
            },
            "AppApplied",
            json!({"AppApplied": {
                "request_id": REQUEST,
                "app_id": APP,
                "app_name": "太空探险",
                "reason": "新店开业",
                "applied_at": "2026-11-21T12:00:40Z"
            }}),
        ),
        (
            E::ApplicationApproved {
                request_id: request_id(REQUEST),
                app_id: app_id(),
                approved_at: later(50),
            },
            "ApplicationApproved",
            json!({"ApplicationApproved": {
                "request_id": REQUEST,
                "app_id": APP,
                "approved_at": "2026-11-21T12:00:50Z"
            }}),
        ),
        (
            E::ApplicationRejected {
                request_id: request_id(REQUEST),
                app_id: app_id(),
                reason: "资质不足".into(),
                rejected_at: later(50),
            },
            "ApplicationRejected",
            json!({"ApplicationRejected": {
                "request_id": REQUEST,
                "app_id": APP,
                "reason": "资质不足",
                "rejected_at": "2026-11-21T12:00:50Z"
            }}),
        ),
        (
            E::RefundRequested {
                refund_id: refund_id(REFUND),
                requested_amount: yuan("100"),
                reason: "停止营业".into(),
                requested_at: later(60),
            },
            "RefundRequested",
            json!({"RefundRequested": {
                "refund_id": REFUND,
                "requested_amount": "100.00",
                "reason": "停止营业",
                "requested_at": "2026-11-21T12:01:00Z"
            }}),
        ),
        (
            E::RefundApproved {
                refund_id: refund_id(REFUND),
                amount: yuan("50.5"),
                balance_after: yuan("0"),
                approved_at: later(70),
            },
            "RefundApproved",
            json!({"RefundApproved": {
                "refund_id": REFUND,
                "amount": "50.50",
                "balance_after": "0.00",
                "approved_at": "2026-11-21T12:01:10Z"
            }}),
        ),
        (
            E::RefundRejected {
                refund_id: refund_id(REFUND),
                reason: "信息不符".into(),
                rejected_at: later(70),
            },
            "RefundRejected",
            json!({"RefundRejected": {
                "refund_id": REFUND,
                "reason": "信息不符",
                "rejected_at": "2026-11-21T12:01:10Z"
            }}),
        ),
        (
            E::InvoiceRequested {
                invoice_id: invoice_id(INVOICE),
                invoice_type: InvoiceType::Special,
                title: "星际街机有限公司".into(),
                tax_number: "91310000MA1FL0XXXX".into(),
                amount: yuan("300"),
                requested_at: later(80),
            },
            "InvoiceRequested",
            json!({"InvoiceRequested": {
                "invoice_id": INVOICE,
                "invoice_type": "special",
                "title": "星际街机有限公司",
                "tax_number": "91310000MA1FL0XXXX",
                "amount": "300.00",
                "requested_at": "2026-11-21T12:01:20Z"
            }}),
        ),
        (
            E::InvoiceRequested {
                invoice_id: invoice_id(OTHER_INVOICE),
                invoice_type: InvoiceType::General,
                title: "星际街机".into(),
                tax_number: "123456789012345".into(),
                amount: yuan("0.01"),
                requested_at: later(80),
            },
            "InvoiceRequested",
            json!({"InvoiceRequested": {
                "invoice_id": OTHER_INVOICE,
                "invoice_type": "general",
                "title": "星际街机",
                "tax_number": "123456789012345",
                "amount": "0.01",
                "requested_at": "2026-11-21T12:01:20Z"
            }}),
        ),
        (
            E::InvoiceIssued {
                invoice_id: invoice_id(INVOICE),
                invoice_number: "MR2026112100000001".into(),
                amount: yuan("300"),
                seller_name: "MR 科技有限公司".into(),
                seller_tax_number: "91110000MA00000000".into(),
                issued_at: later(90),
            },
            "InvoiceIssued",
            json!({"InvoiceIssued": {
                "invoice_id": INVOICE,
                "invoice_number": "MR2026112100000001",
                "amount": "300.00",
                "seller_name": "MR 科技有限公司",
                "seller_tax_number": "91110000MA00000000",
                "issued_at": "2026-11-21T12:01:30Z"
            }}),
        ),
        (
            E::InvoiceRejected {
                invoice_id: invoice_id(INVOICE),
                reason: "抬头有误".into(),
                rejected_at: later(90),
            },
            "InvoiceRejected",
            json!({"InvoiceRejected": {
                "invoice_id": INVOICE,
                "reason": "抬头有误",
                "rejected_at": "2026-11-21T12:01:30Z"
            }}),
        ),
        (
            E::MessagesRead {
                message_ids: vec![3, 17, 9_000_000_000],
                read_at: later(100),
            },
            "MessagesRead",
            json!({"MessagesRead": {
                "message_ids": [3, 17, 9_000_000_000_i64],
                "read_at": "2026-11-21T12:01:40Z"
            }}),
        ),
        (
            E::AllMessagesRead {
                read_at: later(100),
            },
            "AllMessagesRead",
            json!({"AllMessagesRead": {"read_at": "2026-11-21T12:01:40Z"}}),
        ),
        (
            E::GrantExpiryReminded {
                app_id: app_id(),
                app_name: APP_NAME.into(),
                expires_at: at("2026-11-28T16:00:00Z"),
                reminded_at: later(110),
            },
            "GrantExpiryReminded",
            json!({"GrantExpiryReminded": {
                "app_id": APP,
                "app_name": "太空探险",
                "expires_at": "2026-11-28T16:00:00Z",
                "reminded_at": "2026-11-21T12:01:50Z"
            }}),
        ),
    ]
}

fn staff_events() -> Vec<(StaffEvent, &'static str, Value)> {
    vec![
        (
            StaffEvent::StaffCreated {
                staff_id: staff_id(),
                username: "fin_li".into(),
                name: "李财务".into(),
                role: ActorRole::FinanceSpecialist,
                created_at: t0(),
            },
            "StaffCreated",
            json!({"StaffCreated": {
                "staff_id": STAFF,
                "username": "fin_li",
                "name": "李财务",
                "role": "finance_specialist",
                "created_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            StaffEvent::StaffRoleChanged {
                role: ActorRole::SuperAdmin,
                changed_at: later(1),
            },
            "StaffRoleChanged",
            json!({"StaffRoleChanged": {"role": "super_admin", "changed_at": "2026-11-21T12:00:01Z"}}),
        ),
        (
            StaffEvent::StaffDisabled {
                disabled_at: later(2),
            },
            "StaffDisabled",
            json!({"StaffDisabled": {"disabled_at": "2026-11-21T12:00:02Z"}}),
        ),
        (
            StaffEvent::StaffEnabled {
                enabled_at: later(3),
            },
            "StaffEnabled",
            json!({"StaffEnabled": {"enabled_at": "2026-11-21T12:00:03Z"}}),
        ),
        (
            StaffEvent::StaffPasswordChanged {
                changed_at: later(4),
            },
            "StaffPasswordChanged",
            json!({"StaffPasswordChanged": {"changed_at": "2026-11-21T12:00:04Z"}}),
        ),
        (
            StaffEvent::StaffPasswordReset { reset_at: later(5) },
            "StaffPasswordReset",
            json!({"StaffPasswordReset": {"reset_at": "2026-11-21T12:00:05Z"}}),
        ),
    ]
}

fn announcement_events() -> Vec<(AnnouncementEvent, &'static str, Value)> {
    vec![(
        AnnouncementEvent::AnnouncementPublished {
            announcement_id: announcement_id(),
            title: "春节营业安排".into(),
            body: "春节期间正常营业。\n祝大家新年快乐！".into(),
            published_at: later(6),
        },
        "AnnouncementPublished",
        json!({"AnnouncementPublished": {
            "announcement_id": ANNOUNCEMENT,
            "title": "春节营业安排",
            "body": "春节期间正常营业。\n祝大家新年快乐！",
            "published_at": "2026-11-21T12:00:06Z"
        }}),
    )]
}

fn app_events() -> Vec<(AppEvent, &'static str, Value)> {
    vec![
        (
            AppEvent::AppCreated {
                app_id: app_id(),
                name: APP_NAME.into(),
                description: "多人太空冒险".into(),
                unit_price: yuan("10"),
                min_players: 2,
                max_players: 8,
                created_at: t0(),
            },
            "AppCreated",
            json!({"AppCreated": {
                "app_id": APP,
                "name": "太空探险",
                "description": "多人太空冒险",
                "unit_price": "10.00",
                "min_players": 2,
                "max_players": 8,
                "created_at": "2026-11-21T12:00:00Z"
            }}),
        ),
        (
            AppEvent::AppDetailsUpdated {
                name: "太空探险 2".into(),
                description: String::new(),
                updated_at: later(1),
            },
            "AppDetailsUpdated",
            json!({"AppDetailsUpdated": {
                "name": "太空探险 2",
                "description": "",
                "updated_at": "2026-11-21T12:00:01Z"
            }}),
        ),
        (
            AppEvent::PriceChanged {
                old_price: yuan("10"),
                new_price: yuan("12.5"),
                changed_at: later(60),
            },
            "PriceChanged",
            json!({"PriceChanged": {
                "old_price": "10.00",
                "new_price": "12.50",
                "changed_at": "2026-11-21T12:01:00Z"
            }}),
        ),
        (
            AppEvent::PlayerRangeChanged {
                min_players: 1,
                max_players: 10,
                changed_at: later(60),
            },
            "PlayerRangeChanged",
            json!({"PlayerRangeChanged": {"min_players": 1, "max_players": 10, "changed_at": "2026-11-21T12:01:00Z"}}),
        ),
        (
            AppEvent::AppRetired {
                retired_at: later(900),
            },
            "AppRetired",
            json!({"AppRetired": {"retired_at": "2026-11-21T12:15:00Z"}}),
        ),
    ]
}

fn headset_server_events() -> Vec<(HeadsetServerEvent, &'static str, Value)> {
    vec![(
        HeadsetServerEvent::HeartbeatReceived {
            operator_id: operator_id(),
            site_id: site(),
            server_id: "hs-01".into(),
            players_online: 6,
            version: "2.3.1".into(),
            received_at: later(42),
        },
        "HeartbeatReceived",
        json!({"HeartbeatReceived": {
            "operator_id": OPERATOR,
            "site_id": SITE,
            "server_id": "hs-01",
            "players_online": 6,
            "version": "2.3.1",
            "received_at": "2026-11-21T12:00:42Z"
        }}),
    )]
}

/// Each list must hold every variant once; the exhaustive match breaks the build when a
/// variant is added without a snapshot.
fn operator_variant_index(event: &E) -> usize {
    match event {
        E::OperatorRegistered { .. } => 0,
        E::CredentialIssued { .. } => 1,
        E::CredentialRotated { .. } => 2,
        E::SiteOpened { .. } => 3,
        E::SiteUpdated { .. } => 4,
        E::SiteClosed { .. } => 5,
        E::AppGranted { .. } => 6,
        E::AppRevoked { .. } => 7,
        E::BalanceCredited { .. } => 8,
        E::GameAuthorized { .. } => 9,
        E::GameEnded { .. } => 10,
        E::OperatorLocked { .. } => 11,
        E::OperatorUnlocked { .. } => 12,
        E::OperatorDeactivated { .. } => 13,
        E::LowBalanceThresholdSet { .. } => 14,
        E::ProfileUpdated { .. } => 15,
        E::PasswordChanged { .. } => 16,
        E::CategoryChanged { .. } => 17,
        E::AppApplied { .. } => 18,
        E::ApplicationApproved { .. } => 19,
        E::ApplicationRejected { .. } => 20,
        E::RefundRequested { .. } => 21,
        E::RefundApproved { .. } => 22,
        E::RefundRejected { .. } => 23,
        E::InvoiceRequested { .. } => 24,
        E::InvoiceIssued { .. } => 25,
        E::InvoiceRejected { .. } => 26,
        E::MessagesRead { .. } => 27,
        E::AllMessagesRead { .. } => 28,
        E::GrantExpiryReminded { .. } => 29,
        E::RechargeOrdered { .. } => 30,
        E::RechargeSucceeded { .. } => 31,
        E::RechargeFailed { .. } => 32,
        E::RechargeClosed { .. } => 33,
        E::RechargeQueryFailed { .. } => 34,
        E::RechargeNeedsReview { .. } => 35,
    }
}

fn app_variant_index(event: &AppEvent) -> usize {
    match event {
        AppEvent::AppCreated { .. } => 0,
        AppEvent::AppDetailsUpdated { .. } => 1,
        AppEvent::PriceChanged { .. } => 2,
        AppEvent::PlayerRangeChanged { .. } => 3,
        AppEvent::AppRetired { .. } => 4,
    }
}

fn headset_server_variant_index(event: &HeadsetServerEvent) -> usize {
    match event {
        HeadsetServerEvent::HeartbeatReceived { .. } => 0,
    }
}

fn staff_variant_index(event: &StaffEvent) -> usize {
    match event {
        StaffEvent::StaffCreated { .. } => 0,
        StaffEvent::StaffRoleChanged { .. } => 1,
        StaffEvent::StaffDisabled { .. } => 2,
        StaffEvent::StaffEnabled { .. } => 3,
        StaffEvent::StaffPasswordChanged { .. } => 4,
        StaffEvent::StaffPasswordReset { .. } => 5,
    }
}

fn announcement_variant_index(event: &AnnouncementEvent) -> usize {
    match event {
        AnnouncementEvent::AnnouncementPublished { .. } => 0,
    }
}

fn assert_covers_every_variant<T>(
    cases: &[(T, &str, Value)],
    variants: usize,
    index: fn(&T) -> usize,
) {
    let mut seen = vec![false; variants];
    for (event, _, _) in cases {
        seen[index(event)] = true;
    }
    assert!(
        seen.iter().all(|s| *s),
        "a variant has no snapshot: {seen:?}"
    );
}

#[test]
fn every_operator_event_variant_has_pinned_json_that_reads_back() {
    let cases = operator_events();
    assert_covers_every_variant(&cases, 36, operator_variant_index);
    for (event, _, expected) in cases {
        pin(&event, expected);
    }
}

#[test]
fn every_app_event_variant_has_pinned_json_that_reads_back() {
    let cases = app_events();
    assert_covers_every_variant(&cases, 5, app_variant_index);
    for (event, _, expected) in cases {
        pin(&event, expected);
    }
}

#[test]
fn every_headset_server_event_variant_has_pinned_json_that_reads_back() {
    let cases = headset_server_events();
    assert_covers_every_variant(&cases, 1, headset_server_variant_index);
    for (event, _, expected) in cases {
        pin(&event, expected);
    }
}

#[test]
fn every_staff_event_variant_has_pinned_json_that_reads_back() {
    let cases = staff_events();
    assert_covers_every_variant(&cases, 6, staff_variant_index);
    for (event, _, expected) in cases {
        pin(&event, expected);
    }
}

#[test]
fn every_announcement_event_variant_has_pinned_json_that_reads_back() {
    let cases = announcement_events();
    assert_covers_every_variant(&cases, 1, announcement_variant_index);
    for (event, _, expected) in cases {
        pin(&event, expected);
    }
}

#[test]
fn event_type_names_are_pinned_and_match_the_json_tag() {
    fn check<T: DomainEvent>(cases: Vec<(T, &'static str, Value)>) {
        let names: Vec<&str> = cases.iter().map(|(_, name, _)| *name).collect();
        let events: Vec<T> = cases.iter().map(|(event, _, _)| event.clone()).collect();
        assert_eq!(event_types(&events), names);
        for (event, name, json) in &cases {
            let tag = json.as_object().unwrap().keys().next().unwrap();
            assert_eq!(tag, name, "the stored tag and event_type() agree");
            assert_eq!(event.event_version(), "1", "{name}");
        }
    }
    check(operator_events());
    check(app_events());
    check(headset_server_events());
    check(staff_events());
    check(announcement_events());
}

#[test]
fn money_in_stored_events_is_refused_as_a_json_number() {
    let stored = json!({"PriceChanged": {"old_price": 10, "new_price": "12.50", "changed_at": "2026-11-21T12:01:00Z"}});
    assert!(serde_json::from_value::<AppEvent>(stored).is_err());
}

#[test]
fn the_category_is_stored_in_snake_case() {
    for (category, text) in [
        (Category::Vip, "vip"),
        (Category::Standard, "standard"),
        (Category::Trial, "trial"),
    ] {
        assert_eq!(serde_json::to_value(category).unwrap(), json!(text));
        assert_eq!(category.as_str(), text);
    }
}
