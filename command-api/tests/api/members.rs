//! A registered operator that is logged in and ready to play, and a look at the metadata
//! its events were recorded with: shared by the workflow tests.

use ledger_core::metadata::ActorRole;
use serde_json::Value;
use tests::headset::Reply;

use crate::harness::{Arcade, TestApp};

/// An operator that registered itself, logged in, and was given a site, an app and money.
pub struct Member {
    pub arcade: Arcade,
    pub username: String,
    pub password: String,
    pub token: String,
}

pub fn unique_username() -> String {
    format!("m_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A member with `balance` and a granted app at `price` per player (1 to 8 players).
pub async fn member(app: &TestApp, balance: &str, price: &str) -> Member {
    let username = unique_username();
    let (operator, key_id, secret, password) = app.register_operator(&username).await;
    let app_id = app.create_app(price, 1, 8).await;
    let site = app.open_site(operator).await;
    assert_eq!(app.grant(operator, app_id, None).await.status, 201);
    if balance != "0" {
        let r = app.credit(operator, balance).await;
        assert_eq!(r.status, 201, "{}", r.raw);
    }
    let token = app.operator_token(&username, &password).await;
    Member {
        arcade: Arcade {
            operator,
            app: app_id,
            site,
            headset: app.headset(operator, &key_id, &secret),
        },
        username,
        password,
        token,
    }
}

impl Member {
    /// A call to the command API as this operator.
    pub async fn call(&self, app: &TestApp, method: &str, path: &str, body: Value) -> Reply {
        app.call(Some(&self.token), method, path, body).await
    }

    /// One game of `players` players of the member's app, through the signed headset route.
    pub async fn play(&self, players: i64) -> Reply {
        let headset = &self.arcade.headset;
        headset
            .authorize(
                &headset.new_session_id(),
                self.arcade.app,
                self.arcade.site,
                players,
            )
            .await
    }
}

/// Metadata of the last `event_type` event of stream `aggregate_id`.
pub async fn metadata_of(app: &TestApp, aggregate_id: &str, event_type: &str) -> Value {
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT metadata::text FROM events WHERE aggregate_id = $1 AND event_type = $2 \
             ORDER BY sequence DESC LIMIT 1",
            &[&aggregate_id, &event_type],
        )
        .await
        .unwrap_or_else(|e| panic!("no {event_type} on {aggregate_id}: {e}"));
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}

/// The id in a staff access token (its `sub` claim), read without checking the signature.
pub fn token_subject(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).expect("a JWT has three parts");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("JWT claims are base64url");
    let claims: Value = serde_json::from_slice(&json).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Asserts that the last `event_type` of `aggregate_id` names the staff member behind
/// `token`, with `role`, and the test client's address.
pub async fn assert_staff_recorded(
    app: &TestApp,
    aggregate_id: &str,
    event_type: &str,
    token: &str,
    role: ActorRole,
) {
    let metadata = metadata_of(app, aggregate_id, event_type).await;
    assert_eq!(metadata["actor_id"], token_subject(token), "{metadata}");
    assert_eq!(metadata["actor_role"], role.as_str(), "{metadata}");
    assert_eq!(metadata["source_ip"], "127.0.0.1", "{metadata}");
    assert!(
        !metadata["request_id"].as_str().unwrap_or("").is_empty(),
        "{metadata}"
    );
}

/// Count of events of `event_type` on stream `aggregate_id`.
pub async fn count_events(app: &TestApp, aggregate_id: &str, event_type: &str) -> i64 {
    let client = app.db.client().await;
    client
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = $2",
            &[&aggregate_id, &event_type],
        )
        .await
        .unwrap()
        .get(0)
}
