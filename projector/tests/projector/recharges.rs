//! Online recharge orders as the read tables show them: the order's row through its life,
//! the money of a success (balance, total credited, a "recharge" transaction), and verify.

use ledger_core::ids::RechargeOrderId;
use ledger_core::operator::{OperatorEvent, PaymentChannel};
use projector::READ_SCHEMA;
use tests::db::TestDb;
use tokio_postgres::Client;

use crate::support::*;

/// (status, transaction_id, query_failures, reason, paid_at, updated_at) of an order.
async fn order_row(
    client: &Client,
    id: RechargeOrderId,
) -> (
    String,
    Option<String>,
    i32,
    Option<String>,
    Option<chrono::DateTime<chrono::Utc>>,
    chrono::DateTime<chrono::Utc>,
) {
    let r = client
        .query_one(
            "SELECT status, transaction_id, query_failures, reason, paid_at, updated_at \
             FROM read.recharge_orders WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
}

fn query_failed(order_id: RechargeOrderId, attempts: u32, seconds: i64) -> OperatorEvent {
    OperatorEvent::RechargeQueryFailed {
        order_id,
        attempts,
        reason: "gateway timeout".to_owned(),
        failed_at: at(seconds),
    }
}

/// One operator with orders in every state: paid after review, failed, closed, pending.
struct Seeded {
    op: OperatorScript,
    paid: RechargeOrderId,
    failed: RechargeOrderId,
    closed: RechargeOrderId,
    pending: RechargeOrderId,
}

/// Appends the orders and their results in several appends, projecting in between, so the
/// later events find their orders in the read table rather than in the same batch.
async fn seed(client: &mut Client) -> Seeded {
    let mut op = OperatorScript::new();
    let (paid, failed, closed, pending) = (
        RechargeOrderId::new(),
        RechargeOrderId::new(),
        RechargeOrderId::new(),
        RechargeOrderId::new(),
    );
    let mut events = op.register(0);
    events.push(op.credit("10", 1));
    events.push(op.recharge_ordered(paid, PaymentChannel::Wechat, "100", 10));
    events.push(op.recharge_ordered(failed, PaymentChannel::Alipay, "20", 11));
    events.push(op.recharge_ordered(closed, PaymentChannel::Wechat, "30", 12));
    events.push(op.recharge_ordered(pending, PaymentChannel::Alipay, "40", 13));
    append_operator(client, op.id, &events).await;
    project_all(client, READ_SCHEMA).await;

    let mut results = vec![
        query_failed(paid, 1, 320),
        query_failed(paid, 2, 350),
        query_failed(paid, 3, 380),
        OperatorEvent::RechargeNeedsReview {
            order_id: paid,
            reason: "gateway timeout".to_owned(),
            flagged_at: at(380),
        },
    ];
    results.push(OperatorEvent::RechargeFailed {
        order_id: failed,
        reason: "PAYERROR".to_owned(),
        failed_at: at(390),
    });
    results.push(OperatorEvent::RechargeClosed {
        order_id: closed,
        closed_at: at(400),
    });
    results.push(query_failed(pending, 1, 410));
    append_operator(client, op.id, &results).await;
    project_all(client, READ_SCHEMA).await;

    let success = op.recharge_succeeded(paid, PaymentChannel::Wechat, "100", 500);
    append_operator(client, op.id, &[success]).await;
    project_all(client, READ_SCHEMA).await;
    Seeded {
        op,
        paid,
        failed,
        closed,
        pending,
    }
}

#[tokio::test]
async fn orders_move_through_their_states_and_only_a_success_moves_money() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let s = seed(&mut client).await;

    let row = client
        .query_one(
            "SELECT operator_id, out_trade_no, channel, amount::text, ordered_at \
             FROM read.recharge_orders WHERE id = $1",
            &[&s.paid.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>(0), s.op.id.as_uuid());
    assert_eq!(row.get::<_, String>(1), out_trade_no(s.paid));
    assert_eq!(row.get::<_, String>(2), "wechat");
    assert_eq!(row.get::<_, String>(3), "100.00");
    assert_eq!(row.get::<_, chrono::DateTime<chrono::Utc>>(4), at(10));

    assert_eq!(
        order_row(&client, s.paid).await,
        (
            "succeeded".to_owned(),
            Some(format!("tx-{}", s.paid.as_uuid().simple())),
            3,
            Some("gateway timeout".to_owned()),
            Some(at(499)),
            at(500),
        ),
        "paid after review; the review's reason stays as history"
    );
    assert_eq!(
        order_row(&client, s.failed).await,
        (
            "failed".to_owned(),
            None,
            0,
            Some("PAYERROR".to_owned()),
            None,
            at(390)
        )
    );
    assert_eq!(
        order_row(&client, s.closed).await,
        ("closed".to_owned(), None, 0, None, None, at(400))
    );
    assert_eq!(
        order_row(&client, s.pending).await,
        (
            "pending".to_owned(),
            None,
            1,
            Some("gateway timeout".to_owned()),
            None,
            at(410)
        )
    );

    let op = client
        .query_one(
            "SELECT balance::text, total_credited::text FROM read.operators WHERE id = $1",
            &[&s.op.id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(
        (op.get::<_, String>(0), op.get::<_, String>(1)),
        ("110.00".to_owned(), "110.00".to_owned())
    );
    let transactions = client
        .query(
            "SELECT kind, amount::text, balance_after::text, reference, description, occurred_at \
             FROM read.transactions WHERE operator_id = $1 ORDER BY position",
            &[&s.op.id.as_uuid()],
        )
        .await
        .unwrap();
    let transactions: Vec<(String, String, String, String, String)> = transactions
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(transactions.len(), 2, "the credit and the one recharge");
    assert_eq!(
        transactions[1],
        (
            "recharge".to_owned(),
            "100.00".to_owned(),
            "110.00".to_owned(),
            out_trade_no(s.paid),
            "wechat".to_owned()
        )
    );
}

#[tokio::test]
async fn verify_is_clean_rebuild_is_equal_and_a_tampered_order_row_is_reported() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let s = seed(&mut client).await;
    let live = dump(&client, READ_SCHEMA).await;
    assert_eq!(live["recharge_orders"].len(), 4);

    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
    projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert_eq!(live, dump(&client, READ_SCHEMA).await);

    // A closed order shown as paid, and a balance that counts it: both are reported.
    client
        .execute(
            "UPDATE read.recharge_orders SET status = 'succeeded', transaction_id = 'forged' \
             WHERE id = $1",
            &[&s.closed.as_uuid()],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE read.operators SET balance = balance + 30 WHERE id = $1",
            &[&s.op.id.as_uuid()],
        )
        .await
        .unwrap();
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    let tables: Vec<(&str, i64, i64)> = report
        .read
        .tables
        .iter()
        .map(|t| (t.table, t.missing, t.unexpected))
        .collect();
    assert_eq!(
        tables,
        [("operators", 1, 1), ("recharge_orders", 1, 1)],
        "{report}"
    );
    let orders = &report.read.tables[1];
    assert!(
        orders.unexpected_sample[0].contains("\"transaction_id\":\"forged\""),
        "{report}"
    );
    assert_eq!(report.read.balances.len(), 1, "{report}");
    assert_eq!(report.read.balances[0].balance.to_string(), "140.00");
    assert_eq!(
        report.read.balances[0].recomputed.to_string(),
        "110.00",
        "the recharge counts as money in"
    );
}

#[tokio::test]
async fn a_success_for_a_closed_order_stops_the_batch() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let mut op = OperatorScript::new();
    let order = RechargeOrderId::new();
    let mut events = op.register(0);
    events.push(op.recharge_ordered(order, PaymentChannel::Wechat, "100", 1));
    events.push(OperatorEvent::RechargeClosed {
        order_id: order,
        closed_at: at(2),
    });
    events.push(op.recharge_succeeded(order, PaymentChannel::Wechat, "100", 3));
    append_operator(&client, op.id, &events).await;
    let refused = projector::project_next_batch(&mut client, READ_SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, projector::Error::Unjustified { sequence: 6, .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn a_success_whose_amount_or_balance_does_not_fit_stops_the_batch() {
    for (amount, balance_after) in [("99.99", "99.99"), ("100", "100.01")] {
        let db = TestDb::new().await;
        let mut client = db.client().await;
        let op = OperatorScript::new();
        let order = RechargeOrderId::new();
        let mut events = op.register(0);
        events.push(op.recharge_ordered(order, PaymentChannel::Alipay, "100", 1));
        events.push(OperatorEvent::RechargeSucceeded {
            order_id: order,
            channel: PaymentChannel::Alipay,
            transaction_id: "t".to_owned(),
            amount: money(amount),
            balance_after: money(balance_after),
            paid_at: at(2),
            succeeded_at: at(2),
        });
        append_operator(&client, op.id, &events).await;
        let refused = projector::project_next_batch(&mut client, READ_SCHEMA)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, projector::Error::Unjustified { sequence: 5, .. }),
            "{refused}"
        );
    }
}
