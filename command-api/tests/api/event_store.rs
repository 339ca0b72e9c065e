//! The event store's guarantees: append-only, hash-chained, metadata on every event,
//! secrets never stored in clear, snapshots, and readable by postgres-es.

use cqrs_es::persist::PersistedEventRepository;
use ledger_core::chain::{self, ChainedEvent, GENESIS};
use ledger_core::operator::Operator;

use crate::harness::TestApp;

#[tokio::test]
async fn events_cannot_be_updated_deleted_or_truncated() {
    let app = TestApp::spawn().await;
    app.arcade("100", "10.00", 2, 8).await;
    let client = app.db.client().await;
    for sql in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = client.batch_execute(sql).await.expect_err(sql);
        assert!(
            error.to_string().contains("append-only")
                || format!("{error:?}").contains("append-only"),
            "{sql}: {error:?}"
        );
    }
}

#[tokio::test]
async fn every_stream_verifies_its_hash_chain_and_every_event_carries_its_metadata() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100", "10.00", 2, 8).await;
    arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    let client = app.db.client().await;
    let rows = client
        .query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text, hash \
             FROM events ORDER BY aggregate_type, aggregate_id, sequence",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= 7);
    let mut previous = (String::new(), GENESIS);
    for row in &rows {
        let stream: String = format!("{}/{}", row.get::<_, &str>(0), row.get::<_, &str>(1));
        if stream != previous.0 {
            previous = (stream.clone(), GENESIS);
        }
        let event = ChainedEvent {
            aggregate_type: row.get(0),
            aggregate_id: row.get(1),
            sequence: row.get(2),
            event_type: row.get(3),
            event_version: row.get(4),
            payload: row.get(5),
            metadata: row.get(6),
        };
        let hash = chain::event_hash(&previous.1, &event);
        assert_eq!(
            hash.to_vec(),
            row.get::<_, Vec<u8>>(7),
            "{stream} #{}",
            event.sequence
        );
        previous.1 = hash;
        let metadata: serde_json::Value = serde_json::from_str(event.metadata).unwrap();
        for key in [
            "actor_id",
            "actor_role",
            "source_ip",
            "request_id",
            "trace_id",
            "occurred_at",
        ] {
            assert!(
                metadata[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} in {metadata}"
            );
        }
    }
    let roles: Vec<String> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r.get(6)).unwrap()["actor_role"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        roles.contains(&"super_admin".to_owned()) && roles.contains(&"headset_server".to_owned())
    );
}

#[tokio::test]
async fn api_secrets_are_stored_sealed_and_never_in_events() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100", "10.00", 2, 8).await;
    let secret = arcade.headset.secret.as_bytes();
    let client = app.db.client().await;
    let sealed: Vec<u8> = client
        .query_one("SELECT secret_ciphertext FROM api_credentials", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    let all: String = client
        .query_one(
            "SELECT string_agg(payload::text || metadata::text, '') FROM events",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!all.contains(&arcade.headset.secret));
    assert!(all.contains(&ledger_core::signing::fingerprint(secret)));
}

#[tokio::test]
async fn a_rotated_out_key_stops_at_once_and_the_new_one_works() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100", "10.00", 2, 8).await;
    let r = app
        .staff(
            "POST",
            &format!(
                "/api/v1/admin/operators/{}/credentials/rotate",
                arcade.operator
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let old = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    assert_eq!(old.error_code(), "INVALID_API_KEY");
    let new = app.headset(
        arcade.operator,
        r.data()["key_id"].as_str().unwrap(),
        r.data()["secret"].as_str().unwrap(),
    );
    assert_eq!(
        new.authorize(&new.new_session_id(), arcade.app, arcade.site, 2)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn long_streams_load_from_a_snapshot_to_the_same_state() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100000", "1.00", 1, 8).await;
    for _ in 0..230 {
        let r = arcade
            .headset
            .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 1)
            .await;
        assert_eq!(r.status, 200);
    }
    let client = app.db.client().await;
    let snapshot_at: i64 = client
        .query_one("SELECT sequence FROM snapshots WHERE aggregate_type = 'Operator' AND aggregate_id = $1", &[&arcade.operator.to_string()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(snapshot_at % 100, 0);
    assert!(snapshot_at >= 200);
    // A fresh instance (cold cache) loads snapshot + tail and agrees with the warm one.
    let pool = app.db.pool(2);
    let pooled = pool.get().await.unwrap();
    let cold = command_api::store::events::load::<Operator>(&pooled, &arcade.operator.to_string())
        .await
        .unwrap();
    let warm = app
        .state
        .ledger
        .operator_state(arcade.operator)
        .await
        .unwrap();
    assert_eq!(cold.state, warm);
    assert_eq!(cold.state.balance.to_string(), "99770.00");
}

#[tokio::test]
async fn postgres_es_reads_our_streams_as_the_same_events() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100", "10.00", 2, 8).await;
    arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&app.db.url)
        .await
        .unwrap();
    let repository = postgres_es::PostgresEventRepository::new(pool);
    let theirs = repository
        .get_events::<Operator>(&arcade.operator.to_string())
        .await
        .unwrap();
    let ours = app.events_of(arcade.operator).await;
    assert_eq!(theirs.len(), ours.len());
    for (their, (event_type, payload)) in theirs.iter().zip(&ours) {
        assert_eq!(&their.event_type, event_type);
        assert_eq!(&their.payload, payload);
        let typed: ledger_core::operator::OperatorEvent =
            serde_json::from_value(their.payload.clone()).unwrap();
        assert_eq!(cqrs_es::DomainEvent::event_type(&typed), *event_type);
        assert!(their.metadata["request_id"].is_string());
    }
}
