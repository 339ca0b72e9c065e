//! Staff reads of the workflows: application review, refunds, invoices (with PDFs), the
//! global transaction monitor, announcements and staff accounts.

use chrono::{Duration, Utc};
use ledger_core::metadata::ActorRole;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    BUYER_TAX_NUMBER, SELLER_TAX_NUMBER, TestApp, at, insert_app, insert_application,
    insert_invoice, insert_operator, insert_refund, insert_staff, insert_transaction,
};

fn field(list: &Value, name: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i[name]
                .as_str()
                .map_or_else(|| i[name].to_string(), str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn finance_sees_each_refund_with_the_operators_recharged_spent_and_balance() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "refunder", "active", "250").await;
    let other = insert_operator(&app.sql, "other", "active", "10").await;
    let base = at("2026-05-01T00:00:00Z");
    let pending = insert_refund(&app.sql, op, "pending", "300", base + Duration::hours(2)).await;
    let approved =
        insert_refund(&app.sql, other, "approved", "10", base + Duration::hours(1)).await;
    let rejected = insert_refund(&app.sql, op, "rejected", "5", base).await;
    let finance = app.login(ActorRole::FinanceSpecialist).await;

    let all = app.get_as(&finance, "/api/v1/finance/refunds").await;
    assert_eq!(
        field(all.data(), "id"),
        [
            pending.to_string(),
            approved.to_string(),
            rejected.to_string()
        ]
    );
    let item = &all.data()["items"][0];
    assert_eq!(item["operator_id"], op.to_string());
    assert_eq!(item["status"], "pending");
    assert_eq!(item["requested_amount"], "300.00");
    assert_eq!(item["reason"], "closing down");
    assert_eq!(item["amount"], Value::Null);
    assert_eq!(item["operator"]["username"], "refunder");
    assert_eq!(item["operator"]["name"], "refunder Arcade");
    assert_eq!(item["operator"]["total_credited"], "350.00");
    assert_eq!(item["operator"]["total_charged"], "100.00");
    assert_eq!(item["operator"]["balance"], "250.00");

    let open = app
        .get_as(&finance, "/api/v1/finance/refunds?status=pending")
        .await;
    assert_eq!(field(open.data(), "id"), [pending.to_string()]);
    let theirs = app
        .get_as(
            &finance,
            &format!("/api/v1/finance/refunds?operator_id={op}"),
        )
        .await;
    assert_eq!(
        field(theirs.data(), "id"),
        [pending.to_string(), rejected.to_string()]
    );
    let page = app
        .get_as(&finance, "/api/v1/finance/refunds?limit=1")
        .await;
    let cursor = page.data()["next_cursor"].as_str().unwrap();
    let next = app
        .get_as(
            &finance,
            &format!("/api/v1/finance/refunds?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(field(next.data(), "id"), [approved.to_string()]);

    let detail = app
        .get_as(&finance, &format!("/api/v1/finance/refunds/{approved}"))
        .await;
    assert_eq!(detail.data()["amount"], "10.00");
    assert_eq!(detail.data()["balance_after"], "0.00");
    assert_eq!(detail.data()["operator"]["username"], "other");
    let missing = app
        .get_as(
            &finance,
            &format!("/api/v1/finance/refunds/{}", Uuid::now_v7()),
        )
        .await;
    missing.assert_error(404, "NOT_FOUND");
    assert_eq!(missing.body["details"]["resource"], "refund");
    assert_eq!(
        app.get_as(
            &finance,
            "/api/v1/finance/refunds?status=open&operator_id=1"
        )
        .await
        .invalid_fields(),
        ["operator_id", "status"]
    );
}

#[tokio::test]
async fn an_issued_invoice_downloads_as_a_pdf_showing_its_amount_and_tax_numbers() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "invoiced", "active", "5000").await;
    let issued = insert_invoice(&app.sql, op, "issued", "1234.5", Utc::now()).await;
    let pending = insert_invoice(&app.sql, op, "pending", "10", Utc::now()).await;
    let number: String = app
        .sql
        .query_one(
            "SELECT invoice_number FROM read.invoices WHERE id = $1",
            &[&issued],
        )
        .await
        .unwrap()
        .get(0);
    let operator = app.login_operator(op).await;
    let finance = app.login(ActorRole::FinanceAuditor).await;

    for (login, path) in [
        (&operator, format!("/api/v1/operator/invoices/{issued}/pdf")),
        (&finance, format!("/api/v1/finance/invoices/{issued}/pdf")),
    ] {
        let reply = app.get_raw(login, &path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.content_type.as_deref(), Some("application/pdf"));
        let disposition = reply.content_disposition.unwrap();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert!(
            disposition.contains(&format!("invoice-{number}.pdf")),
            "{disposition}"
        );
        let pdf = lopdf::Document::load_mem(&reply.body).unwrap();
        let text = pdf.extract_text(&[1]).unwrap();
        for expected in [
            number.as_str(),
            "1,234.50",
            "1234.50",
            "壹仟贰佰叁拾肆元伍角",
            BUYER_TAX_NUMBER,
            SELLER_TAX_NUMBER,
            "星际游乐有限公司",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
    }

    // Only an issued invoice has a PDF; an unknown one has none either.
    for path in [
        format!("/api/v1/operator/invoices/{pending}/pdf"),
        format!("/api/v1/finance/invoices/{pending}/pdf"),
        format!("/api/v1/finance/invoices/{}/pdf", Uuid::now_v7()),
    ] {
        let login = if path.contains("/operator/") {
            &operator
        } else {
            &finance
        };
        let reply = app.get_as(login, &path).await;
        reply.assert_error(404, "NOT_FOUND");
        assert_eq!(reply.body["details"]["resource"], "invoice");
    }
}

#[tokio::test]
async fn finance_lists_invoices_by_status_with_their_operator() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "buyer", "active", "100").await;
    let base = at("2026-05-01T00:00:00Z");
    let issued = insert_invoice(&app.sql, op, "issued", "20", base + Duration::hours(1)).await;
    let pending = insert_invoice(&app.sql, op, "pending", "10", base + Duration::hours(2)).await;
    let finance = app.login(ActorRole::FinanceManager).await;

    let all = app.get_as(&finance, "/api/v1/finance/invoices").await;
    assert_eq!(
        field(all.data(), "id"),
        [pending.to_string(), issued.to_string()]
    );
    assert_eq!(all.data()["items"][0]["operator"]["username"], "buyer");
    assert_eq!(all.data()["items"][0]["pdf_available"], false);
    let only = app
        .get_as(&finance, "/api/v1/finance/invoices?status=issued")
        .await;
    assert_eq!(field(only.data(), "id"), [issued.to_string()]);
    let detail = app
        .get_as(&finance, &format!("/api/v1/finance/invoices/{issued}"))
        .await;
    let detail = detail.data();
    assert_eq!(detail["invoice_type"], "general");
    assert_eq!(detail["title"], "星际游乐有限公司");
    assert_eq!(detail["tax_number"], BUYER_TAX_NUMBER);
    assert_eq!(detail["seller_tax_number"], SELLER_TAX_NUMBER);
    assert_eq!(detail["amount"], "20.00");
    assert_eq!(detail["issued_at"], "2026-05-01T02:00:00Z");
    assert_eq!(detail["operator"]["name"], "buyer Arcade");
}

#[tokio::test]
async fn admins_review_applications_by_status_and_operator() {
    let app = TestApp::spawn().await;
    let a = insert_operator(&app.sql, "applicant_a", "active", "0").await;
    let b = insert_operator(&app.sql, "applicant_b", "active", "0").await;
    let game = insert_app(&app.sql, "Space Quest", "10", "active").await;
    let base = at("2026-05-01T00:00:00Z");
    let a_pending = insert_application(&app.sql, a, game, "pending", base).await;
    let b_pending =
        insert_application(&app.sql, b, game, "pending", base + Duration::hours(1)).await;
    let b_approved =
        insert_application(&app.sql, b, game, "approved", base - Duration::days(1)).await;
    let admin = app.login(ActorRole::Admin).await;

    let pending = app
        .get_as(&admin, "/api/v1/admin/app-applications?status=pending")
        .await;
    assert_eq!(
        field(pending.data(), "id"),
        [b_pending.to_string(), a_pending.to_string()]
    );
    assert_eq!(
        pending.data()["items"][0]["operator"]["username"],
        "applicant_b"
    );
    assert_eq!(pending.data()["items"][0]["reason"], "we have the room");
    let of_b = app
        .get_as(
            &admin,
            &format!("/api/v1/admin/app-applications?operator_id={b}"),
        )
        .await;
    assert_eq!(
        field(of_b.data(), "id"),
        [b_pending.to_string(), b_approved.to_string()]
    );
}

#[tokio::test]
async fn the_transaction_monitor_shows_every_operator_newest_first_with_filters() {
    let app = TestApp::spawn().await;
    let a = insert_operator(&app.sql, "mon_a", "active", "500").await;
    let b = insert_operator(&app.sql, "mon_b", "active", "500").await;
    let base = at("2026-06-01T00:00:00Z");
    insert_transaction(&app.sql, a, 1, "credit", "1000", base).await;
    insert_transaction(&app.sql, b, 2, "credit", "800", base + Duration::minutes(1)).await;
    insert_transaction(&app.sql, a, 3, "charge", "-30", base + Duration::minutes(2)).await;
    insert_transaction(
        &app.sql,
        b,
        4,
        "refund",
        "-770",
        base + Duration::minutes(3),
    )
    .await;
    let analyst = app.login(ActorRole::Analyst).await;

    let all = app.get_as(&analyst, "/api/v1/admin/transactions").await;
    assert_eq!(field(all.data(), "position"), ["4", "3", "2", "1"]);
    let first = &all.data()["items"][0];
    assert_eq!(first["operator_id"], b.to_string());
    assert_eq!(first["operator_username"], "mon_b");
    assert_eq!(first["kind"], "refund");
    assert_eq!(first["amount"], "-770.00");

    let of_a = app
        .get_as(
            &analyst,
            &format!("/api/v1/admin/transactions?operator_id={a}"),
        )
        .await;
    assert_eq!(field(of_a.data(), "position"), ["3", "1"]);
    let credits = app
        .get_as(&analyst, "/api/v1/admin/transactions?kind=credit&limit=1")
        .await;
    assert_eq!(field(credits.data(), "position"), ["2"]);
    let cursor = credits.data()["next_cursor"].as_str().unwrap();
    let more = app
        .get_as(
            &analyst,
            &format!("/api/v1/admin/transactions?kind=credit&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(field(more.data(), "position"), ["1"]);
    assert_eq!(more.data()["next_cursor"], Value::Null);
    let window = app
        .get_as(
            &analyst,
            "/api/v1/admin/transactions?from=2026-06-01T00:01:00Z&to=2026-06-01T00:03:00Z",
        )
        .await;
    assert_eq!(field(window.data(), "position"), ["3", "2"]);
}

#[tokio::test]
async fn announcements_and_staff_accounts_are_listed() {
    let app = TestApp::spawn().await;
    let base = at("2026-06-01T00:00:00Z");
    for (position, title) in [(5_i64, "first"), (9, "second"), (12, "third")] {
        app.sql
            .execute(
                "INSERT INTO read.announcements (id, title, body, published_by, published_at, position)
                 VALUES ($1, $2, 'body', 'staff-1', $3, $4)",
                &[
                    &Uuid::now_v7(),
                    &title,
                    &(base + Duration::hours(position)),
                    &position,
                ],
            )
            .await
            .unwrap();
    }
    let first = app.get("/api/v1/admin/announcements?limit=2").await;
    assert_eq!(field(first.data(), "title"), ["third", "second"]);
    assert_eq!(first.data()["items"][0]["published_by"], "staff-1");
    let cursor = first.data()["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!(
            "/api/v1/admin/announcements?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(field(rest.data(), "title"), ["first"]);

    insert_staff(&app.sql, Uuid::now_v7(), "alice", ActorRole::FinanceManager).await;
    let staff = app.get("/api/v1/admin/staff").await;
    let members = staff.data().as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["username"], "alice");
    assert_eq!(members[0]["role"], "finance_manager");
    assert_eq!(members[0]["status"], "active");
    assert!(members[0].get("password_hash").is_none());
}
