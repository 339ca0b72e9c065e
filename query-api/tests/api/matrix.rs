//! The whole role × endpoint matrix: every route of `ENDPOINTS` asked by every login role.
//! A role the route's access allows gets an answer (200 here, with every path id naming a
//! row that exists); any other role gets 403 naming the scope it lacks.

use std::collections::HashMap;

use chrono::Utc;
use ledger_core::access::{Access, LOGIN_ROLES};
use ledger_core::metadata::ActorRole;
use query_api::endpoints::ENDPOINTS;
use serde_json::Value;

use crate::helpers::{
    Login, TestApp, Usage, append_events, at, genesis, insert_app, insert_grant, insert_invoice,
    insert_message, insert_operator, insert_recharge, insert_refund, insert_site,
    insert_transaction, insert_usage,
};

/// `path` with each `{param}` replaced by its value in `ids`.
fn fill(path: &str, ids: &HashMap<&str, String>) -> String {
    let mut filled = path.to_owned();
    for (name, value) in ids {
        filled = filled.replace(&format!("{{{name}}}"), value);
    }
    assert!(!filled.contains('{'), "unfilled parameter in {filled}");
    filled
}

/// Status and JSON body (when the answer is JSON) of a GET as `login`.
async fn ask(app: &TestApp, login: &Login, path: &str) -> (u16, Value) {
    let reply = app.get_raw(login, path).await;
    let json = reply
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/json"));
    let body = if json {
        serde_json::from_slice(&reply.body).unwrap()
    } else {
        Value::Null
    };
    (reply.status, body)
}

#[tokio::test]
async fn every_endpoint_answers_the_roles_it_allows_and_refuses_the_others_naming_the_scope() {
    let app = TestApp::spawn().await;
    // One operator with something in every table its routes read.
    let op = insert_operator(&app.sql, "matrix", "active", "500").await;
    let site = insert_site(&app.sql, op, "Hall").await;
    let game = insert_app(&app.sql, "Space Quest", "10", "active").await;
    insert_grant(&app.sql, op, game, None).await;
    insert_usage(
        &app.sql,
        op,
        &Usage {
            site_id: site,
            app_id: game,
            authorized_at: at("2026-04-01T10:00:00Z"),
            position: 10,
        },
    )
    .await;
    insert_transaction(
        &app.sql,
        op,
        11,
        "charge",
        "-30",
        at("2026-04-01T10:00:00Z"),
    )
    .await;
    let invoice = insert_invoice(&app.sql, op, "issued", "100", Utc::now()).await;
    let refund = insert_refund(&app.sql, op, "pending", "500", Utc::now()).await;
    let recharge = insert_recharge(&app.sql, op, "wechat", "succeeded", "100", Utc::now()).await;
    insert_message(
        &app.sql,
        op,
        12,
        "low_balance",
        serde_json::json!({ "balance": "40.00", "threshold": "50.00" }),
        false,
    )
    .await;
    append_events(&app.sql, "Operator", &op.to_string(), 1, genesis(), 1).await;
    let run = uuid::Uuid::now_v7();
    app.sql
        .execute(
            "INSERT INTO reconciliation_runs VALUES ($1, 'wechat', '2026-04-01', 'finance',
                 now(), 1, 0, 0, 0, 1, 100, 1, 100)",
            &[&run],
        )
        .await
        .unwrap();

    let report = uuid::Uuid::now_v7();
    app.sql
        .execute(
            "INSERT INTO finance_reports (id, kind, period_start, period_end, time_zone, status,
                 totals, pdf, xlsx, generated_at)
             VALUES ($1, 'daily', '2026-04-01', '2026-04-01', 'Asia/Shanghai', 'ready', '{}',
                 '\\x255044462d', '\\x504b0304', now())",
            &[&report],
        )
        .await
        .unwrap();

    let ids: HashMap<&str, String> = HashMap::from([
        ("operator_id", op.to_string()),
        ("invoice_id", invoice.to_string()),
        ("refund_id", refund.to_string()),
        ("order_id", recharge.to_string()),
        ("run_id", run.to_string()),
        ("report_id", report.to_string()),
        ("app_id", game.to_string()),
        ("aggregate_type", "Operator".to_owned()),
        ("aggregate_id", op.to_string()),
    ]);

    let mut logins = Vec::new();
    for role in LOGIN_ROLES {
        let login = if role == ActorRole::Operator {
            app.login_operator(op).await
        } else {
            app.login(role).await
        };
        logins.push(login);
    }

    // Reads only: tests/tests/access_matrix.rs calls every route with its own method.
    let reads: Vec<_> = ENDPOINTS.iter().filter(|e| e.method == "GET").collect();
    let mut checked = 0;
    for endpoint in &reads {
        let path = fill(endpoint.path, &ids);
        if endpoint.access == Access::Public {
            // Not every public answer is JSON (`/metrics` is Prometheus text).
            let reply = app
                .http
                .get(format!("{}{path}", app.base_url))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), 200, "{path} without a token");
        }
        for login in &logins {
            let (status, body) = ask(&app, login, &path).await;
            if endpoint.access.allows(login.role) && path.ends_with("/live") {
                // An event stream never ends; asked without `Accept: text/event-stream` (as
                // here) it answers a JSON error instead, after the access check passed.
                assert_eq!(status, 400, "{:?} {path}: {body}", login.role);
                assert_eq!(
                    body["error_code"], "INVALID_PARAMS",
                    "{:?} {path}",
                    login.role
                );
            } else if endpoint.access.allows(login.role) {
                assert_eq!(status, 200, "{:?} {path}: {body}", login.role);
            } else {
                assert_eq!(status, 403, "{:?} {path}: {body}", login.role);
                assert_eq!(body["error_code"], "FORBIDDEN", "{:?} {path}", login.role);
                assert_eq!(
                    body["details"]["missing_scope"],
                    endpoint.access.as_str(),
                    "{:?} {path}",
                    login.role
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, reads.len() * LOGIN_ROLES.len());
}

#[test]
fn every_role_is_allowed_somewhere_and_operators_only_on_their_own_routes() {
    for role in LOGIN_ROLES {
        let allowed: Vec<&str> = ENDPOINTS
            .iter()
            .filter(|e| e.access != Access::Public && e.access.allows(role))
            .map(|e| e.path)
            .collect();
        assert!(!allowed.is_empty(), "{role:?} may read nothing");
        if role == ActorRole::Operator {
            assert!(
                allowed.iter().all(|p| p.starts_with("/api/v1/operator/")),
                "{allowed:?}"
            );
        } else {
            assert!(
                allowed.iter().all(|p| !p.starts_with("/api/v1/operator/")),
                "{role:?}: {allowed:?}"
            );
        }
    }
    // Operator routes never take an operator from the path.
    for endpoint in ENDPOINTS {
        if endpoint.path.starts_with("/api/v1/operator/") {
            assert!(
                !endpoint.path.contains("{operator_id}"),
                "{}",
                endpoint.path
            );
        }
    }
}
