//! Invoices: requested by the operator up to what it paid in and has not invoiced yet,
//! issued (numbered) or rejected by finance.

use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::headset::Reply;

use crate::harness::TestApp;
use crate::members::{Member, assert_staff_recorded, member};

const INVOICES: &str = "/api/v1/operator/invoices";
const TAX_NUMBER: &str = "91110105MA01ABCD2X";

async fn ask(app: &TestApp, m: &Member, amount: &str) -> Reply {
    m.call(
        app,
        "POST",
        INVOICES,
        json!({"invoice_type": "general", "title": "星际体验馆有限公司",
               "tax_number": TAX_NUMBER, "amount": amount}),
    )
    .await
}

fn review_path(m: &Member, invoice: &Value, action: &str) -> String {
    format!(
        "/api/v1/finance/operators/{}/invoices/{}/{action}",
        m.arcade.operator,
        invoice["id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn over_invoicing_is_refused_also_when_two_pending_requests_together_exceed() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;

    let r = ask(&app, &m, "100.01").await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "INVOICE_AMOUNT_EXCEEDED");
    assert_eq!(
        r.body["details"],
        json!({"invoiceable_amount": "100.00", "requested_amount": "100.01"})
    );

    let first = ask(&app, &m, "60.00").await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert_eq!(first.data()["status"], "pending");
    assert_eq!(first.data()["amount"], "60.00");
    assert_eq!(first.data()["invoice_type"], "general");
    assert_eq!(first.data()["tax_number"], TAX_NUMBER);

    let r = ask(&app, &m, "50.00").await;
    assert_eq!(r.status, 409, "60 pending + 50 > 100: {}", r.raw);
    assert_eq!(r.error_code(), "INVOICE_AMOUNT_EXCEEDED");
    assert_eq!(r.body["details"]["invoiceable_amount"], "40.00");
    assert_eq!(ask(&app, &m, "40.00").await.status, 201);
    assert_eq!(
        ask(&app, &m, "0.01").await.error_code(),
        "INVOICE_AMOUNT_EXCEEDED"
    );
}

#[tokio::test]
async fn approval_issues_a_numbered_invoice_and_records_the_reviewer() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let invoice = ask(&app, &m, "80.00").await.data().clone();
    let finance = app.staff_token(ActorRole::FinanceSpecialist).await;
    let r = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &invoice, "approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let d = r.data();
    assert_eq!(d["invoice_id"], invoice["id"]);
    assert_eq!(d["status"], "issued");
    assert_eq!(d["amount"], "80.00");
    let number = d["invoice_number"].as_str().unwrap();
    assert_eq!(number.len(), 2 + 8 + 8, "{number}");
    assert!(number.starts_with("MR"), "{number}");
    assert!(number[2..].bytes().all(|b| b.is_ascii_digit()), "{number}");
    let china_today = (chrono::Utc::now() + chrono::TimeDelta::hours(8))
        .format("%Y%m%d")
        .to_string();
    assert_eq!(&number[2..10], china_today, "issue date in UTC+8");
    assert!(d["issued_at"].as_str().unwrap().ends_with('Z'));
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "InvoiceIssued",
        &finance,
        ActorRole::FinanceSpecialist,
    )
    .await;

    // Issued, it counts against what may be invoiced; approving again finds nothing.
    assert_eq!(
        ask(&app, &m, "20.01").await.error_code(),
        "INVOICE_AMOUNT_EXCEEDED"
    );
    let again = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &invoice, "approve"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 404, "{}", again.raw);
    assert_eq!(again.error_code(), "INVOICE_NOT_FOUND");

    // A second invoice gets the next number.
    let second = ask(&app, &m, "20.00").await.data().clone();
    let r = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &second, "approve"),
            json!({}),
        )
        .await;
    let next = r.data()["invoice_number"].as_str().unwrap();
    let seq = |n: &str| n[10..].parse::<i64>().unwrap();
    assert_eq!(seq(next), seq(number) + 1);
}

#[tokio::test]
async fn a_rejected_request_frees_its_amount() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let invoice = ask(&app, &m, "100.00").await.data().clone();
    let finance = app.staff_token(ActorRole::FinanceManager).await;
    let r = app
        .call(
            Some(&finance),
            "POST",
            &review_path(&m, &invoice, "reject"),
            json!({"reason": "抬头与营业执照不符"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "rejected");
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "InvoiceRejected",
        &finance,
        ActorRole::FinanceManager,
    )
    .await;
    assert_eq!(ask(&app, &m, "100.00").await.status, 201);
}

#[tokio::test]
async fn bad_and_unknown_fields_are_named_all_at_once() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let r = m
        .call(
            &app,
            "POST",
            INVOICES,
            json!({"invoice_type": "vat", "title": "", "tax_number": "abc",
                   "amount": 10, "operator_id": m.arcade.operator}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(r.error_code(), "INVALID_PARAMS");
    let mut fields: Vec<String> = r.body["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "amount",
            "invoice_type",
            "operator_id",
            "tax_number",
            "title"
        ]
    );
}
