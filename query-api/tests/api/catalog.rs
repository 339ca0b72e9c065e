use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, insert_app};

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
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
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
