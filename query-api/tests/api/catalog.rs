use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, insert_app, insert_operator};

#[tokio::test]
async fn apps_are_listed_by_name_filtered_by_status_and_found_by_id() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (name, status) in [
        ("Cave", "active"),
        ("Abyss", "retired"),
        ("Dunes", "active"),
        ("Blaze", "active"),
    ] {
        ids.push(insert_app(&app.sql, name, "9.9", status).await);
    }

    let first = app.get("/api/v1/admin/apps?limit=2").await;
    assert_eq!(names(first.data()), ["Abyss", "Blaze"]);
    let cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/api/v1/admin/apps?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(names(second.data()), ["Cave", "Dunes"]);
    assert_eq!(second.data()["next_cursor"], Value::Null);

    let active = app.get("/api/v1/admin/apps?status=active").await;
    assert_eq!(names(active.data()), ["Blaze", "Cave", "Dunes"]);

    let one = app.get(&format!("/api/v1/admin/apps/{}", ids[0])).await;
    let data = one.data();
    assert_eq!(data["name"], "Cave");
    assert_eq!(data["unit_price"], "9.90");
    assert_eq!(data["min_players"], 1);
    assert_eq!(data["max_players"], 8);
    assert_eq!(data["status"], "active");

    app.get(&format!("/api/v1/admin/apps/{}", Uuid::now_v7()))
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(
        app.get("/api/v1/admin/apps/42").await.invalid_fields(),
        ["app_id"]
    );
    assert_eq!(
        app.get("/api/v1/admin/apps?status=gone")
            .await
            .invalid_fields(),
        ["status"]
    );
}

#[tokio::test]
async fn operators_see_only_active_apps_in_their_catalog_and_staff_cannot_use_it() {
    let app = TestApp::spawn().await;
    for (name, status) in [
        ("Cave", "active"),
        ("Abyss", "retired"),
        ("Dunes", "active"),
        ("Blaze", "active"),
    ] {
        insert_app(&app.sql, name, "9.9", status).await;
    }
    let operator = insert_operator(&app.sql, "catalog_reader", "active", "0").await;
    let login = app.login_operator(operator).await;

    let first = app.get_as(&login, "/api/v1/operator/catalog?limit=2").await;
    assert_eq!(
        names(first.data()),
        ["Blaze", "Cave"],
        "retired apps are never listed"
    );
    assert_eq!(first.data()["items"][0]["unit_price"], "9.90");
    let cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get_as(
            &login,
            &format!("/api/v1/operator/catalog?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(names(second.data()), ["Dunes"]);

    // Only limit and cursor: a status filter would let an operator page through retired apps.
    assert_eq!(
        app.get_as(&login, "/api/v1/operator/catalog?status=retired")
            .await
            .invalid_fields(),
        ["status"]
    );
    // Staff read the catalog at /admin/apps; this route is the operator's own.
    app.get("/api/v1/operator/catalog")
        .await
        .assert_error(403, "FORBIDDEN");
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}
