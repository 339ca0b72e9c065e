//! Given/when/then tests of online recharges: an order is opened, and money enters only when a
//! verified gateway result confirms it, once. One rule per test, named as a sentence.

use chrono::{DateTime, Utc};
use ledger_core::money::Money;
use ledger_core::operator::{
    GatewayPayment, MoneyDirection, OperatorCommand as C, OperatorError, OperatorEvent as E,
    PaymentChannel,
};

use crate::fixtures::*;

const OUT_TRADE_NO: &str = "MR20261121120000000001";
const TRANSACTION: &str = "4200002026112100000000000001";
const MAX_FAILURES: u32 = 3;

fn with(mut events: Vec<E>, more: impl IntoIterator<Item = E>) -> Vec<E> {
    events.extend(more);
    events
}

fn order(id: &str, amount: &str) -> C {
    C::CreateRechargeOrder {
        order_id: recharge_id(id),
        out_trade_no: OUT_TRADE_NO.to_owned(),
        channel: PaymentChannel::Wechat,
        amount: yuan(amount),
        now: later(100),
    }
}

fn ordered(id: &str, amount: &str) -> E {
    E::RechargeOrdered {
        order_id: recharge_id(id),
        out_trade_no: OUT_TRADE_NO.to_owned(),
        channel: PaymentChannel::Wechat,
        amount: yuan(amount),
        ordered_at: later(100),
    }
}

fn payment(paid: &str) -> GatewayPayment {
    GatewayPayment {
        transaction_id: TRANSACTION.to_owned(),
        paid_amount: yuan(paid),
        paid_at: later(150),
    }
}

fn confirm(id: &str, paid: &str) -> C {
    C::ConfirmRecharge {
        order_id: recharge_id(id),
        payment: payment(paid),
        now: later(160),
    }
}

fn succeeded(id: &str, amount: &str, balance_after: &str) -> E {
    E::RechargeSucceeded {
        order_id: recharge_id(id),
        channel: PaymentChannel::Wechat,
        transaction_id: TRANSACTION.to_owned(),
        amount: yuan(amount),
        balance_after: yuan(balance_after),
        paid_at: later(150),
        succeeded_at: later(160),
    }
}

fn fail(id: &str) -> C {
    C::FailRecharge {
        order_id: recharge_id(id),
        reason: "PAYERROR".to_owned(),
        now: later(170),
    }
}

fn failed(id: &str) -> E {
    E::RechargeFailed {
        order_id: recharge_id(id),
        reason: "PAYERROR".to_owned(),
        failed_at: later(170),
    }
}

fn close(id: &str) -> C {
    C::CloseRecharge {
        order_id: recharge_id(id),
        now: later(180),
    }
}

fn closed(id: &str) -> E {
    E::RechargeClosed {
        order_id: recharge_id(id),
        closed_at: later(180),
    }
}

fn query_failure(now: DateTime<Utc>) -> C {
    C::RecordRechargeQueryFailure {
        order_id: recharge_id(RECHARGE),
        reason: "gateway timeout".to_owned(),
        max_failures: MAX_FAILURES,
        now,
    }
}

fn query_failed(attempts: u32, now: DateTime<Utc>) -> E {
    E::RechargeQueryFailed {
        order_id: recharge_id(RECHARGE),
        attempts,
        reason: "gateway timeout".to_owned(),
        failed_at: now,
    }
}

fn needs_review(now: DateTime<Utc>) -> E {
    E::RechargeNeedsReview {
        order_id: recharge_id(RECHARGE),
        reason: "gateway timeout".to_owned(),
        flagged_at: now,
    }
}

fn amount_limit() -> OperatorError {
    OperatorError::InvalidField {
        field: "amount",
        reason: "1.00 to 50000.00".to_owned(),
    }
}

// ---------------------------------------------------------------- ordering

#[test]
fn an_order_of_one_yuan_or_fifty_thousand_is_recorded_as_open() {
    for amount in ["1.00", "50000.00"] {
        given(registered())
            .when(order(RECHARGE, amount))
            .then_expect_events(vec![ordered(RECHARGE, amount)]);
    }
    let operator = replay(with(registered(), [ordered(RECHARGE, "100")]));
    let open = &operator.open_recharges[&recharge_id(RECHARGE)];
    assert_eq!(open.amount, yuan("100"));
    assert_eq!(open.out_trade_no, OUT_TRADE_NO);
    assert_eq!((open.query_failures, open.needs_review), (0, false));
    assert_eq!(operator.balance, Money::ZERO, "an order moves no money");
    assert!(ordered(RECHARGE, "100").money_movement().is_none());
}

#[test]
fn an_order_below_one_yuan_or_above_fifty_thousand_is_refused() {
    for amount in ["0.99", "50000.01", "0"] {
        given(registered())
            .when(order(RECHARGE, amount))
            .then_expect_error(amount_limit());
    }
}

#[test]
fn a_deactivated_operator_cannot_order_a_recharge() {
    given(with(registered(), [deactivated()]))
        .when(order(RECHARGE, "100"))
        .then_expect_error(OperatorError::AccountDeactivated);
}

#[test]
fn an_unregistered_operator_cannot_order_a_recharge() {
    given(vec![])
        .when(order(RECHARGE, "100"))
        .then_expect_error(OperatorError::NotFound);
}

#[test]
fn an_order_without_an_out_trade_no_is_refused() {
    given(registered())
        .when(C::CreateRechargeOrder {
            order_id: recharge_id(RECHARGE),
            out_trade_no: String::new(),
            channel: PaymentChannel::Alipay,
            amount: yuan("100"),
            now: later(100),
        })
        .then_expect_error(OperatorError::InvalidField {
            field: "out_trade_no",
            reason: "1 to 32 characters".to_owned(),
        });
}

// ---------------------------------------------------------------- confirming

#[test]
fn confirming_a_paid_order_credits_the_amount_as_money_in() {
    given(with(ready_to_play("50.50"), [ordered(RECHARGE, "100")]))
        .when(confirm(RECHARGE, "100.00"))
        .then_expect_events(vec![succeeded(RECHARGE, "100", "150.50")]);
    assert_eq!(
        succeeded(RECHARGE, "100", "150.50").money_movement(),
        Some((MoneyDirection::In, yuan("100"), yuan("150.50"))),
        "a recharge is money in"
    );

    let operator = replay(with(
        ready_to_play("50.50"),
        [
            ordered(RECHARGE, "100"),
            succeeded(RECHARGE, "100", "150.50"),
        ],
    ));
    assert_eq!(operator.balance, yuan("150.50"));
    assert!(
        operator.open_recharges.is_empty(),
        "a paid order is decided"
    );
}

#[test]
fn a_second_confirmation_of_the_same_order_is_refused_and_credits_nothing() {
    let history = with(
        registered(),
        [ordered(RECHARGE, "100"), succeeded(RECHARGE, "100", "100")],
    );
    given(history.clone())
        .when(confirm(RECHARGE, "100"))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
    assert_eq!(replay(history).balance, yuan("100"));
}

#[test]
fn confirming_an_unknown_order_is_refused() {
    given(with(registered(), [ordered(RECHARGE, "100")]))
        .when(confirm(OTHER_RECHARGE, "100"))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
}

#[test]
fn a_payment_of_another_amount_is_refused_with_both_amounts() {
    let history = with(registered(), [ordered(RECHARGE, "100")]);
    for paid in ["99.99", "100.01"] {
        given(history.clone())
            .when(confirm(RECHARGE, paid))
            .then_expect_error(OperatorError::RechargeAmountMismatch {
                expected: yuan("100"),
                paid: yuan(paid),
            });
    }
    // The order stays open: the right payment is still credited.
    given(history)
        .when(confirm(RECHARGE, "100"))
        .then_expect_events(vec![succeeded(RECHARGE, "100", "100")]);
}

#[test]
fn a_payment_without_a_transaction_id_is_refused() {
    given(with(registered(), [ordered(RECHARGE, "100")]))
        .when(C::ConfirmRecharge {
            order_id: recharge_id(RECHARGE),
            payment: GatewayPayment {
                transaction_id: " ".to_owned(),
                ..payment("100")
            },
            now: later(160),
        })
        .then_expect_error(OperatorError::InvalidField {
            field: "transaction_id",
            reason: "1 to 64 characters".to_owned(),
        });
}

#[test]
fn recharges_count_in_total_credited_and_so_become_invoiceable() {
    let operator = replay(with(
        ready_to_play("100"),
        [ordered(RECHARGE, "200"), succeeded(RECHARGE, "200", "300")],
    ));
    assert_eq!(operator.total_credited, yuan("300"));
    assert_eq!(operator.invoiceable(), yuan("300"));
}

#[test]
fn two_open_orders_are_credited_independently() {
    let history = with(
        registered(),
        [ordered(RECHARGE, "100"), ordered(OTHER_RECHARGE, "20")],
    );
    given(history.clone())
        .when(confirm(OTHER_RECHARGE, "20"))
        .then_expect_events(vec![succeeded(OTHER_RECHARGE, "20", "20")]);
    let operator = replay(with(history, [succeeded(OTHER_RECHARGE, "20", "20")]));
    assert_eq!(
        operator.open_recharges.keys().collect::<Vec<_>>(),
        vec![&recharge_id(RECHARGE)]
    );
}

// ---------------------------------------------------------------- failing and closing

#[test]
fn a_failed_payment_decides_the_order_and_changes_no_balance() {
    let history = with(ready_to_play("10"), [ordered(RECHARGE, "100")]);
    given(history.clone())
        .when(fail(RECHARGE))
        .then_expect_events(vec![failed(RECHARGE)]);
    let after = with(history, [failed(RECHARGE)]);
    let operator = replay(after.clone());
    assert_eq!(operator.balance, yuan("10"));
    assert!(operator.open_recharges.is_empty());
    assert!(failed(RECHARGE).money_movement().is_none());
    given(after)
        .when(confirm(RECHARGE, "100"))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
}

#[test]
fn a_closed_order_is_never_credited() {
    let history = with(registered(), [ordered(RECHARGE, "100")]);
    given(history.clone())
        .when(close(RECHARGE))
        .then_expect_events(vec![closed(RECHARGE)]);
    let after = with(history, [closed(RECHARGE)]);
    assert!(replay(after.clone()).open_recharges.is_empty());
    // A late or replayed callback for the closed order.
    given(after.clone())
        .when(confirm(RECHARGE, "100"))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
    given(after.clone())
        .when(close(RECHARGE))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
    given(after)
        .when(fail(RECHARGE))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
}

#[test]
fn a_paid_order_can_no_longer_be_failed_or_closed() {
    let history = with(
        registered(),
        [ordered(RECHARGE, "100"), succeeded(RECHARGE, "100", "100")],
    );
    given(history.clone())
        .when(fail(RECHARGE))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
    given(history)
        .when(close(RECHARGE))
        .then_expect_error(OperatorError::RechargeOrderNotOpen);
}

#[test]
fn a_failure_without_a_reason_is_refused() {
    given(with(registered(), [ordered(RECHARGE, "100")]))
        .when(C::FailRecharge {
            order_id: recharge_id(RECHARGE),
            reason: String::new(),
            now: later(170),
        })
        .then_expect_error(OperatorError::InvalidField {
            field: "reason",
            reason: "1 to 500 characters".to_owned(),
        });
}

// ---------------------------------------------------------------- gateway queries

#[test]
fn failed_queries_are_counted_and_the_third_flags_the_order_for_review_once() {
    let mut history = with(registered(), [ordered(RECHARGE, "100")]);
    for attempt in 1..MAX_FAILURES {
        let now = later(400 + i64::from(attempt));
        given(history.clone())
            .when(query_failure(now))
            .then_expect_events(vec![query_failed(attempt, now)]);
        history.push(query_failed(attempt, now));
    }
    let third = later(500);
    given(history.clone())
        .when(query_failure(third))
        .then_expect_events(vec![query_failed(3, third), needs_review(third)]);
    history.extend([query_failed(3, third), needs_review(third)]);

    let operator = replay(history.clone());
    let open = &operator.open_recharges[&recharge_id(RECHARGE)];
    assert_eq!((open.query_failures, open.needs_review), (3, true));

    // Later failures are still counted, but the order is flagged only once.
    let fourth = later(600);
    given(history)
        .when(query_failure(fourth))
        .then_expect_events(vec![query_failed(4, fourth)]);
}

#[test]
fn an_order_under_review_can_still_be_confirmed() {
    let history = with(
        ready_to_play("5"),
        [
            ordered(RECHARGE, "100"),
            query_failed(1, later(401)),
            query_failed(2, later(402)),
            query_failed(3, later(403)),
            needs_review(later(403)),
        ],
    );
    given(history)
        .when(confirm(RECHARGE, "100"))
        .then_expect_events(vec![succeeded(RECHARGE, "100", "105")]);
}

#[test]
fn a_query_failure_on_a_decided_order_is_refused() {
    given(with(
        registered(),
        [ordered(RECHARGE, "100"), closed(RECHARGE)],
    ))
    .when(query_failure(later(400)))
    .then_expect_error(OperatorError::RechargeOrderNotOpen);
}
