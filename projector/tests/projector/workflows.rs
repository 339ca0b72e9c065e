//! Requests and reviews (profile, category, applications, refunds, invoices), staff
//! accounts, announcements and the staff audit trail, as the read tables show them.

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppRequestId, CreditId, InvoiceId, RefundId, StaffId};
use ledger_core::metadata::ActorRole;
use ledger_core::operator::{Category, InvoiceType, OperatorEvent};
use ledger_core::staff_account::StaffEvent;
use projector::READ_SCHEMA;
use tests::db::TestDb;
use tokio_postgres::Client;

use crate::support::*;

async fn one_row(client: &Client, sql: &str, id: uuid::Uuid) -> tokio_postgres::Row {
    client.query_one(sql, &[&id]).await.unwrap()
}

#[tokio::test]
async fn requests_and_their_reviews_land_in_their_rows_and_the_operator_totals() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let beat = AppFixture::new("Beat Saber", "25.00");
    let pirates = AppFixture::new("Space Pirates", "5.00");
    append_app(&client, beat.id, &[beat.created(0)]).await;
    append_app(&client, pirates.id, &[pirates.created(0)]).await;
    let mut op = OperatorScript::new();
    let op_id = op.id;
    let own = move |s| by_operator(op_id, s);
    let admin = |s| by_staff("admin-1", ActorRole::Admin, s);
    let finance = |s| by_staff("fin-1", ActorRole::FinanceManager, s);

    let mut setup = op.register_with_threshold(1, "50");
    setup.push(op.credit("500", 2));
    append_operator(&client, op.id, &setup).await;
    let profile = [
        OperatorEvent::ProfileUpdated {
            name: "Arcade Two".to_owned(),
            phone: "13900000000".to_owned(),
            email: "two@example.com".to_owned(),
            updated_at: at(3),
        },
        OperatorEvent::PasswordChanged { changed_at: at(4) },
    ];
    append_operator_as(&client, op.id, &profile, &own(3)).await;
    let category = [
        OperatorEvent::CategoryChanged {
            category: Category::Vip,
            changed_at: at(5),
        },
        OperatorEvent::LowBalanceThresholdSet {
            threshold: money("1000"),
            set_at: at(5),
        },
    ];
    append_operator_as(&client, op.id, &category, &admin(5)).await;

    // Applications: one approved (with its grant), one rejected.
    let (approved, rejected) = (AppRequestId::new(), AppRequestId::new());
    let apply = |request_id, app: &AppFixture, s| OperatorEvent::AppApplied {
        request_id,
        app_id: app.id,
        app_name: app.name.clone(),
        reason: format!("we want {}", app.name),
        applied_at: at(s),
    };
    append_operator_as(
        &client,
        op.id,
        &[apply(approved, &beat, 10), apply(rejected, &pirates, 11)],
        &own(10),
    )
    .await;
    // Reviewed in a later batch: the pending rows come from the read table.
    project_all(&mut client, READ_SCHEMA).await;
    let review = [
        OperatorEvent::ApplicationApproved {
            request_id: approved,
            app_id: beat.id,
            approved_at: at(12),
        },
        op.grant(&beat, 12),
    ];
    append_operator_as(&client, op.id, &review, &admin(12)).await;
    let reject = OperatorEvent::ApplicationRejected {
        request_id: rejected,
        app_id: pirates.id,
        reason: "not for trial arcades".to_owned(),
        rejected_at: at(13),
    };
    append_operator_as(&client, op.id, &[reject], &admin(13)).await;

    // A refund requested at 500, a game while it waits, approval refunds what is left.
    let (refunded, refused) = (RefundId::new(), RefundId::new());
    let request = OperatorEvent::RefundRequested {
        refund_id: refunded,
        requested_amount: op.balance,
        reason: "closing down".to_owned(),
        requested_at: at(20),
    };
    append_operator_as(&client, op.id, &[request], &own(20)).await;
    let (_, game) = op.authorize(&beat, 2, 21);
    append_operator(&client, op.id, &[game]).await;
    let approve = op.refund(refunded, 22);
    let refund_position = append_operator_as(&client, op.id, &[approve], &finance(22)).await[0];
    let mut second = vec![op.credit("100", 23)];
    second.push(OperatorEvent::RefundRequested {
        refund_id: refused,
        requested_amount: op.balance,
        reason: "changed my mind".to_owned(),
        requested_at: at(24),
    });
    append_operator_as(&client, op.id, &second, &own(24)).await;
    let reject = OperatorEvent::RefundRejected {
        refund_id: refused,
        reason: "open sessions".to_owned(),
        rejected_at: at(25),
    };
    append_operator_as(&client, op.id, &[reject], &finance(25)).await;

    // Invoices: one issued, one rejected.
    let (issued, declined) = (InvoiceId::new(), InvoiceId::new());
    let ask = |invoice_id, invoice_type, amount: &str, s| OperatorEvent::InvoiceRequested {
        invoice_id,
        invoice_type,
        title: "Arcade Two Ltd".to_owned(),
        tax_number: "91310000MA1FL8XQ3R".to_owned(),
        amount: money(amount),
        requested_at: at(s),
    };
    append_operator_as(
        &client,
        op.id,
        &[
            ask(issued, InvoiceType::General, "100", 30),
            ask(declined, InvoiceType::Special, "50", 31),
        ],
        &own(30),
    )
    .await;
    let issue = OperatorEvent::InvoiceIssued {
        invoice_id: issued,
        invoice_number: "MR2025112100000001".to_owned(),
        amount: money("100"),
        seller_name: "MR Ledger Ltd".to_owned(),
        seller_tax_number: "91110000600037341L".to_owned(),
        issued_at: at(32),
    };
    append_operator_as(&client, op.id, &[issue], &finance(32)).await;
    let decline = OperatorEvent::InvoiceRejected {
        invoice_id: declined,
        reason: "wrong title".to_owned(),
        rejected_at: at(33),
    };
    append_operator_as(&client, op.id, &[decline], &finance(33)).await;
    append_operator_as(
        &client,
        op.id,
        &[OperatorEvent::OperatorDeactivated {
            deactivated_at: at(40),
        }],
        &own(40),
    )
    .await;
    project_all(&mut client, READ_SCHEMA).await;

    let o = one_row(
        &client,
        "SELECT name, phone, email, category, low_balance_threshold::text, balance::text, \
                total_credited::text, total_charged::text, total_refunded::text, \
                total_invoiced::text, status, deactivated_at, updated_at \
         FROM read.operators WHERE id = $1",
        op.id.as_uuid(),
    )
    .await;
    assert_eq!(
        (0..11).map(|i| o.get::<_, String>(i)).collect::<Vec<_>>(),
        [
            "Arcade Two",
            "13900000000",
            "two@example.com",
            "vip",
            "1000.00",
            "100.00",
            "600.00",
            "50.00",
            "450.00",
            "100.00",
            "deactivated"
        ]
    );
    assert_eq!(o.get::<_, Option<DateTime<Utc>>>(11), Some(at(40)));
    assert_eq!(o.get::<_, DateTime<Utc>>(12), at(40));

    let app_sql = "SELECT status, review_reason, reviewed_by, reviewed_at, app_name, reason, \
                          applied_at, operator_id \
                   FROM read.app_applications WHERE id = $1";
    let a = one_row(&client, app_sql, approved.as_uuid()).await;
    assert_eq!(a.get::<_, String>(0), "approved");
    assert_eq!(a.get::<_, Option<String>>(1), None);
    assert_eq!(a.get::<_, Option<String>>(2).as_deref(), Some("admin-1"));
    assert_eq!(a.get::<_, Option<DateTime<Utc>>>(3), Some(at(12)));
    assert_eq!(a.get::<_, String>(4), "Beat Saber");
    assert_eq!(a.get::<_, String>(5), "we want Beat Saber");
    assert_eq!(a.get::<_, DateTime<Utc>>(6), at(10));
    assert_eq!(a.get::<_, uuid::Uuid>(7), op.id.as_uuid());
    let r = one_row(&client, app_sql, rejected.as_uuid()).await;
    assert_eq!(r.get::<_, String>(0), "rejected");
    assert_eq!(
        r.get::<_, Option<String>>(1).as_deref(),
        Some("not for trial arcades")
    );
    assert_eq!(r.get::<_, Option<DateTime<Utc>>>(3), Some(at(13)));
    let grant: String = one_row(
        &client,
        "SELECT status FROM read.grants WHERE app_id = $1",
        beat.id.as_uuid(),
    )
    .await
    .get(0);
    assert_eq!(grant, "active", "approval grants the app");

    let refund_sql = "SELECT status, requested_amount::text, reason, amount::text, \
                             balance_after::text, reject_reason, reviewed_by, requested_at, reviewed_at \
                      FROM read.refunds WHERE id = $1";
    let r = one_row(&client, refund_sql, refunded.as_uuid()).await;
    assert_eq!(
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, Option<String>>(3),
            r.get::<_, Option<String>>(4),
            r.get::<_, Option<String>>(5),
            r.get::<_, Option<String>>(6),
        ),
        (
            "approved".into(),
            "500.00".into(),
            "closing down".into(),
            Some("450.00".into()),
            Some("0.00".into()),
            None,
            Some("fin-1".into())
        )
    );
    assert_eq!(r.get::<_, DateTime<Utc>>(7), at(20));
    assert_eq!(r.get::<_, Option<DateTime<Utc>>>(8), Some(at(22)));
    let r = one_row(&client, refund_sql, refused.as_uuid()).await;
    assert_eq!(r.get::<_, String>(0), "rejected");
    assert_eq!(r.get::<_, Option<String>>(3), None);
    assert_eq!(
        r.get::<_, Option<String>>(5).as_deref(),
        Some("open sessions")
    );
    assert_eq!(r.get::<_, Option<DateTime<Utc>>>(8), Some(at(25)));

    let refund_tx = client
        .query_one(
            "SELECT kind, amount::text, balance_after::text, reference, description, occurred_at, \
                    operator_id \
             FROM read.transactions WHERE position = $1",
            &[&refund_position],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            refund_tx.get::<_, String>(0),
            refund_tx.get::<_, String>(1),
            refund_tx.get::<_, String>(2),
            refund_tx.get::<_, String>(3),
            refund_tx.get::<_, String>(4),
        ),
        (
            "refund".into(),
            "450.00".into(),
            "0.00".into(),
            refunded.to_string(),
            "closing down".into()
        )
    );
    assert_eq!(refund_tx.get::<_, DateTime<Utc>>(5), at(22));

    let invoice_sql = "SELECT status, invoice_type, title, tax_number, amount::text, invoice_number, \
                              seller_name, seller_tax_number, reject_reason, reviewed_by, \
                              issued_at, reviewed_at \
                       FROM read.invoices WHERE id = $1";
    let i = one_row(&client, invoice_sql, issued.as_uuid()).await;
    assert_eq!(
        (0..5).map(|c| i.get::<_, String>(c)).collect::<Vec<_>>(),
        [
            "issued",
            "general",
            "Arcade Two Ltd",
            "91310000MA1FL8XQ3R",
            "100.00"
        ]
    );
    assert_eq!(
        (5..10)
            .map(|c| i.get::<_, Option<String>>(c))
            .collect::<Vec<_>>(),
        [
            Some("MR2025112100000001".to_owned()),
            Some("MR Ledger Ltd".to_owned()),
            Some("91110000600037341L".to_owned()),
            None,
            Some("fin-1".to_owned())
        ]
    );
    assert_eq!(i.get::<_, Option<DateTime<Utc>>>(10), Some(at(32)));
    assert_eq!(i.get::<_, Option<DateTime<Utc>>>(11), Some(at(32)));
    let i = one_row(&client, invoice_sql, declined.as_uuid()).await;
    assert_eq!(i.get::<_, String>(0), "rejected");
    assert_eq!(i.get::<_, String>(1), "special");
    assert_eq!(i.get::<_, Option<String>>(5), None);
    assert_eq!(
        i.get::<_, Option<String>>(8).as_deref(),
        Some("wrong title")
    );
    assert_eq!(i.get::<_, Option<DateTime<Utc>>>(10), None);
    assert_eq!(i.get::<_, Option<DateTime<Utc>>>(11), Some(at(33)));

    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_refund_whose_balance_does_not_add_up_stops_the_batch() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let mut op = OperatorScript::new();
    let refund_id = RefundId::new();
    let mut events = op.register(0);
    events.push(op.credit("80", 1));
    events.push(OperatorEvent::RefundRequested {
        refund_id,
        requested_amount: op.balance,
        reason: "r".to_owned(),
        requested_at: at(2),
    });
    events.push(OperatorEvent::RefundApproved {
        refund_id,
        amount: money("70"),
        balance_after: money("0"),
        approved_at: at(3),
    });
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
async fn staff_accounts_and_announcements_land_and_every_staff_action_is_recorded() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let root = StaffId::new();
    let clerk = StaffId::new();
    let by_root = |s| by_staff(&root.to_string(), ActorRole::SuperAdmin, s);
    append_staff(
        &client,
        root,
        &[StaffEvent::StaffCreated {
            staff_id: root,
            username: "root".to_owned(),
            name: "Bootstrap admin".to_owned(),
            role: ActorRole::SuperAdmin,
            created_at: at(0),
        }],
        &tests::events::metadata(at(0)),
    )
    .await;
    let created = append_staff(
        &client,
        clerk,
        &[StaffEvent::StaffCreated {
            staff_id: clerk,
            username: "clerk".to_owned(),
            name: "Finance clerk".to_owned(),
            role: ActorRole::FinanceSpecialist,
            created_at: at(1),
        }],
        &by_root(1),
    )
    .await;
    // The first events in one batch, the rest in another: the row comes back from the table.
    project_all(&mut client, READ_SCHEMA).await;
    let changes = [
        StaffEvent::StaffRoleChanged {
            role: ActorRole::FinanceManager,
            changed_at: at(2),
        },
        StaffEvent::StaffDisabled { disabled_at: at(3) },
        StaffEvent::StaffEnabled { enabled_at: at(4) },
        StaffEvent::StaffPasswordReset { reset_at: at(5) },
    ];
    let changed = append_staff(&client, clerk, &changes, &by_root(2)).await;
    let clerk_meta = by_staff(&clerk.to_string(), ActorRole::FinanceManager, 6);
    let own_change = append_staff(
        &client,
        clerk,
        &[StaffEvent::StaffPasswordChanged { changed_at: at(6) }],
        &clerk_meta,
    )
    .await;
    let (announcement, announced) = announce(&client, "admin-9", "Maintenance", 7).await;

    // Staff acting on an operator's stream is a staff action too; the operator's own
    // requests, headsets and the system are not.
    let mut op = OperatorScript::new();
    let app = AppFixture::new("Beat", "1.00");
    append_app(&client, app.id, &[app.created(0)]).await;
    let mut setup = op.register(8);
    setup.push(op.grant(&app, 8));
    append_operator(&client, op.id, &setup).await;
    let credit = op.credit("10", 9);
    let OperatorEvent::BalanceCredited { credit_id, .. } = &credit else {
        unreachable!()
    };
    let credit_id: CreditId = *credit_id;
    let credit_meta = by_staff("fin-7", ActorRole::FinanceSpecialist, 9);
    let credited = append_operator_as(&client, op.id, &[credit], &credit_meta).await;
    append_operator_as(
        &client,
        op.id,
        &[OperatorEvent::AppApplied {
            request_id: AppRequestId::new(),
            app_id: app.id,
            app_name: app.name.clone(),
            reason: "please".to_owned(),
            applied_at: at(10),
        }],
        &by_operator(op.id, 10),
    )
    .await;
    let (_, game) = op.authorize(&app, 1, 11);
    append_operator(&client, op.id, &[game]).await;
    project_all(&mut client, READ_SCHEMA).await;

    let staff = client
        .query(
            "SELECT username, name, role, status, created_at, updated_at FROM read.staff \
             ORDER BY created_at",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(staff.len(), 2);
    let clerk_row = &staff[1];
    assert_eq!(
        (0..4)
            .map(|c| clerk_row.get::<_, String>(c))
            .collect::<Vec<_>>(),
        ["clerk", "Finance clerk", "finance_manager", "active"]
    );
    assert_eq!(clerk_row.get::<_, DateTime<Utc>>(4), at(1));
    assert_eq!(clerk_row.get::<_, DateTime<Utc>>(5), at(6));
    assert_eq!(staff[0].get::<_, String>(2), "super_admin");

    let a = client
        .query_one(
            "SELECT title, body, published_by, published_at, position FROM read.announcements \
             WHERE id = $1",
            &[&announcement.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(a.get::<_, String>(0), "Maintenance");
    assert_eq!(a.get::<_, String>(1), "Maintenance body");
    assert_eq!(a.get::<_, String>(2), "admin-9");
    assert_eq!(a.get::<_, DateTime<Utc>>(3), at(7));
    assert_eq!(a.get::<_, i64>(4), announced);

    let actions = client
        .query(
            "SELECT position, actor_id, actor_role, action, aggregate_type, aggregate_id, \
                    details, source_ip, request_id, occurred_at \
             FROM read.staff_actions ORDER BY position",
            &[],
        )
        .await
        .unwrap();
    let summary: Vec<(i64, String, String, String, String)> = actions
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let (root_id, clerk_id) = (root.to_string(), clerk.to_string());
    let row = |p: i64, actor: &str, role: &str, action: &str, kind: &str| {
        (
            p,
            actor.to_owned(),
            role.to_owned(),
            action.to_owned(),
            kind.to_owned(),
        )
    };
    assert_eq!(
        summary,
        [
            row(
                created[0],
                &root_id,
                "super_admin",
                "StaffCreated",
                "StaffMember"
            ),
            row(
                changed[0],
                &root_id,
                "super_admin",
                "StaffRoleChanged",
                "StaffMember"
            ),
            row(
                changed[1],
                &root_id,
                "super_admin",
                "StaffDisabled",
                "StaffMember"
            ),
            row(
                changed[2],
                &root_id,
                "super_admin",
                "StaffEnabled",
                "StaffMember"
            ),
            row(
                changed[3],
                &root_id,
                "super_admin",
                "StaffPasswordReset",
                "StaffMember"
            ),
            row(
                own_change[0],
                &clerk_id,
                "finance_manager",
                "StaffPasswordChanged",
                "StaffMember"
            ),
            row(
                announced,
                "admin-9",
                "admin",
                "AnnouncementPublished",
                "Announcement"
            ),
            row(
                credited[0],
                "fin-7",
                "finance_specialist",
                "BalanceCredited",
                "Operator"
            ),
        ]
    );
    let credit_row = actions.last().unwrap();
    assert_eq!(credit_row.get::<_, String>(5), op.id.to_string());
    let details: serde_json::Value = credit_row.get(6);
    assert_eq!(
        details["BalanceCredited"]["credit_id"],
        serde_json::json!(credit_id.to_string())
    );
    assert_eq!(
        details["BalanceCredited"]["amount"],
        serde_json::json!("10.00")
    );
    assert_eq!(credit_row.get::<_, String>(7), "10.0.0.7");
    assert_eq!(credit_row.get::<_, String>(8), credit_meta.request_id);
    assert_eq!(credit_row.get::<_, DateTime<Utc>>(9), at(9));
    let clerk_row = &actions[1];
    assert_eq!(clerk_row.get::<_, String>(5), clerk.to_string());
    assert_eq!(
        clerk_row.get::<_, DateTime<Utc>>(9),
        at(2),
        "occurred_at comes from the metadata"
    );
}
