//! Refunds, maker-checker: the operator asks, finance decides, and what is refunded is the
//! balance at approval time (invariant 7).

use ledger_core::metadata::ActorRole;
use ledger_core::money::Money;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::members::{Member, assert_staff_recorded, member, metadata_of};

const REFUNDS: &str = "/api/v1/operator/refunds";

async fn request(app: &TestApp, m: &Member) -> tests::headset::Reply {
    m.call(
        app,
        "POST",
        REFUNDS,
        json!({"reason": "closing the arcade"}),
    )
    .await
}

fn review_path(m: &Member, refund_id: &Value, action: &str) -> String {
    format!(
        "/api/v1/finance/operators/{}/refunds/{}/{action}",
        m.arcade.operator,
        refund_id.as_str().unwrap()
    )
}

#[tokio::test]
async fn a_refund_approved_after_a_fifty_game_refunds_the_fifty_left_and_records_the_reviewer() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let r = request(&app, &m).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let refund = r.data().clone();
    assert_eq!(refund["status"], "pending");
    assert_eq!(refund["requested_amount"], "100.00");
    assert_eq!(refund["reason"], "closing the arcade");

    let game = m.play(5).await;
    assert_eq!(game.status, 200, "{}", game.raw);
    assert_eq!(game.data()["balance_after"], "50.00");

    let finance = app.staff_token(ActorRole::FinanceSpecialist).await;
    let r = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &refund["id"], "approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "approved");
    assert_eq!(r.data()["amount"], "50.00");
    assert_eq!(r.data()["balance_after"], "0.00");
    assert_eq!(app.balance(m.arcade.operator).await, "0.00");

    let operator = m.arcade.operator.to_string();
    assert_staff_recorded(
        &app,
        &operator,
        "RefundApproved",
        &finance,
        ActorRole::FinanceSpecialist,
    )
    .await;
    let asked = metadata_of(&app, &operator, "RefundRequested").await;
    assert_eq!(asked["actor_id"], operator);
    assert_eq!(asked["actor_role"], "operator");
    assert_eq!(app.project_and_verify(m.arcade.operator).await, "0.00");
}

#[tokio::test]
async fn a_rejected_refund_keeps_the_balance_and_a_new_request_may_follow() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let refund = request(&app, &m).await.data().clone();
    let finance = app.staff_token(ActorRole::FinanceManager).await;
    let path = review_path(&m, &refund["id"], "reject");

    let r = app.call(Some(&finance), "POST", &path, json!({})).await;
    assert_eq!(r.status, 400, "a rejection needs a reason: {}", r.raw);
    assert_eq!(r.body["details"]["fields"], json!(["reason"]));

    let r = app
        .call(
            Some(&finance),
            "POST",
            &path,
            json!({"reason": "contract runs to June"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "rejected");
    assert_eq!(app.balance(m.arcade.operator).await, "100.00");
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "RefundRejected",
        &finance,
        ActorRole::FinanceManager,
    )
    .await;

    let again = app
        .call(Some(&finance), "POST", &path, json!({"reason": "x"}))
        .await;
    assert_eq!(again.status, 404, "{}", again.raw);
    assert_eq!(again.error_code(), "REFUND_NOT_FOUND");
    assert_eq!(request(&app, &m).await.status, 201);
}

#[tokio::test]
async fn a_second_open_request_is_refused_naming_the_open_one() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let first = request(&app, &m).await.data().clone();
    let r = request(&app, &m).await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "REFUND_ALREADY_OPEN");
    assert_eq!(r.body["details"]["refund_id"], first["id"]);
}

#[tokio::test]
async fn approval_when_games_used_up_the_balance_is_nothing_to_refund() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let refund = request(&app, &m).await.data().clone();
    assert_eq!(m.play(8).await.status, 200);
    assert_eq!(m.play(2).await.status, 200);
    let finance = app.staff_token(ActorRole::FinanceSpecialist).await;
    let r = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &refund["id"], "approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "NOTHING_TO_REFUND");
    assert_eq!(app.balance(m.arcade.operator).await, "0.00");
}

#[tokio::test]
async fn a_zero_balance_cannot_ask_for_a_refund() {
    let app = TestApp::spawn().await;
    let m = member(&app, "0", "10.00").await;
    let r = request(&app, &m).await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "NOTHING_TO_REFUND");
}

#[tokio::test]
async fn roles_without_refund_review_and_operators_cannot_approve() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let refund = request(&app, &m).await.data().clone();
    let path = review_path(&m, &refund["id"], "approve");
    let admin = app.staff_token(ActorRole::Admin).await;
    for token in [&admin, &m.token] {
        let r = app.call(Some(token), "POST", &path, json!({})).await;
        assert_eq!(r.status, 403, "{}", r.raw);
        assert_eq!(r.body["details"]["missing_scope"], "refunds:review");
    }
    assert_eq!(app.balance(m.arcade.operator).await, "100.00");
}

/// Invariant 7 under load: games keep landing while finance approves. Whatever the order,
/// the refund equals the balance just before it, nothing goes below zero, and every yuan
/// credited is either spent, refunded or still there.
#[tokio::test]
async fn an_approval_racing_authorizations_never_refunds_more_than_the_balance_then() {
    let app = TestApp::spawn().await;
    let m = member(&app, "1000", "10.00").await;
    let refund = request(&app, &m).await.data().clone();
    let finance = app.staff_token(ActorRole::FinanceSpecialist).await;
    let path = review_path(&m, &refund["id"], "approve");

    let games = (0..30).map(|_| {
        let m_headset = m.arcade.headset.clone();
        let (app_id, site) = (m.arcade.app, m.arcade.site);
        tokio::spawn(async move {
            m_headset
                .authorize(&m_headset.new_session_id(), app_id, site, 3)
                .await
        })
    });
    let games: Vec<_> = games.collect();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let approval = app.call(Some(&finance), "POST", &path, json!({})).await;
    let mut played = 0;
    for game in games {
        let r = game.await.unwrap();
        match r.status {
            200 => played += 1,
            402 => assert_eq!(r.error_code(), "INSUFFICIENT_BALANCE"),
            other => panic!("unexpected {other}: {}", r.raw),
        }
    }
    assert_eq!(approval.status, 200, "{}", approval.raw);
    let refunded = Money::parse(approval.data()["amount"].as_str().unwrap()).unwrap();

    // Walk the stream: each event's balance_after follows from the one before.
    let mut balance = Money::ZERO;
    for (event_type, payload) in app.events_of(m.arcade.operator).await {
        let payload = &payload[&event_type];
        let after = payload["balance_after"]
            .as_str()
            .map(|b| Money::parse(b).unwrap());
        if event_type == "RefundApproved" {
            let amount = Money::parse(payload["amount"].as_str().unwrap()).unwrap();
            assert_eq!(amount, balance, "the refund is the whole balance then");
            assert_eq!(amount, refunded);
        }
        if let Some(after) = after {
            balance = after;
        }
    }
    assert_eq!(balance.to_string(), app.balance(m.arcade.operator).await);
    let spent = Money::parse("30.00").unwrap().times(played).unwrap();
    assert_eq!(
        spent
            .checked_add(refunded)
            .unwrap()
            .checked_add(balance)
            .unwrap(),
        Money::parse("1000").unwrap(),
        "credited = spent + refunded + left ({played} games)"
    );
    assert_eq!(balance, Money::ZERO, "the approval took whatever was left");
    assert_eq!(
        app.project_and_verify(m.arcade.operator).await,
        balance.to_string()
    );
}
