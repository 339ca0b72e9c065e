use serde_json::{Value, json};

use crate::helpers::{TestApp, insert_message, insert_operator};

#[tokio::test]
async fn messages_page_newest_first_with_the_unread_count_and_unread_only() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "reader", "active", "0").await;
    for (id, read) in [(3, true), (5, false), (8, false), (13, true), (21, false)] {
        insert_message(
            &app.sql,
            op,
            id,
            "announcement",
            json!({ "title": format!("t{id}"), "body": format!("b{id}") }),
            read,
        )
        .await;
    }
    let login = app.login_operator(op).await;

    let count = app
        .get_as(&login, "/api/v1/operator/messages/unread-count")
        .await;
    assert_eq!(count.data(), &json!({ "unread_count": 3 }));

    let mut seen = Vec::new();
    let mut path = "/api/v1/operator/messages?limit=2".to_owned();
    loop {
        let reply = app.get_as(&login, &path).await;
        let data = reply.data();
        assert_eq!(data["unread_count"], 3, "on every page");
        seen.extend(
            data["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap()),
        );
        match data["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/operator/messages?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [21, 13, 8, 5, 3]);

    let unread = app
        .get_as(&login, "/api/v1/operator/messages?unread_only=true")
        .await;
    let items = unread.data()["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [21, 8, 5]
    );
    assert!(items.iter().all(|m| m["read_at"].is_null()));
    let first = &items[0];
    assert_eq!(first["kind"], "announcement");
    assert_eq!(first["title"], "t21");
    assert_eq!(first["body"], "b21");
    assert_eq!(first["data"], json!({ "title": "t21", "body": "b21" }));
    assert!(first["created_at"].as_str().unwrap().ends_with('Z'));

    assert_eq!(
        app.get_as(&login, "/api/v1/operator/messages?unread_only=yes&cursor=x")
            .await
            .invalid_fields(),
        ["cursor", "unread_only"]
    );
}

#[tokio::test]
async fn message_text_is_rendered_in_the_request_language_chinese_by_default() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "bilingual", "active", "0").await;
    insert_message(
        &app.sql,
        op,
        1,
        "price_change",
        json!({ "app_id": "a", "app_name": "Space Quest", "old_price": "10.00", "new_price": "12.00" }),
        false,
    )
    .await;
    insert_message(
        &app.sql,
        op,
        2,
        "low_balance",
        json!({ "balance": "40.00", "threshold": "50.00" }),
        false,
    )
    .await;
    insert_message(
        &app.sql,
        op,
        3,
        "grant_expiry",
        json!({ "app_id": "a", "app_name": "Space Quest", "expires_at": "2026-06-30T16:00:00Z" }),
        false,
    )
    .await;
    let login = app.login_operator(op).await;
    let texts = |reply: &crate::helpers::Reply| -> Vec<(String, String)> {
        reply.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["title"].as_str().unwrap().to_owned(),
                    m["body"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let zh = texts(&app.get_as(&login, "/api/v1/operator/messages").await);
    assert_eq!(zh[0].0, "授权即将到期");
    assert!(zh[0].1.contains("2026-07-01 00:00"), "{:?}", zh[0]);
    assert_eq!(zh[1].0, "余额不足提醒");
    assert!(zh[1].1.contains("¥40.00") && zh[1].1.contains("¥50.00"));
    assert_eq!(zh[2].0, "价格调整通知");
    assert!(zh[2].1.contains("Space Quest"));

    let en_reply = app
        .get_with(
            "/api/v1/operator/messages",
            Some(&login.token),
            &[("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")],
        )
        .await;
    let en = texts(&en_reply);
    assert_eq!(en[0].0, "Authorization expiring");
    assert_eq!(en[1].0, "Low balance");
    assert_eq!(
        en[2],
        (
            "Price change".to_owned(),
            "The unit price of Space Quest changed from ¥10.00 to ¥12.00; it applies from the next authorization."
                .to_owned()
        )
    );
    // The facts are the same in every language.
    assert_eq!(
        en_reply.data()["items"][2]["data"]["new_price"],
        Value::String("12.00".into())
    );
}
