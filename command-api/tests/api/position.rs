//! The read-your-writes token: every answer whose request appended events names the
//! transaction that appended them (`X-Ledger-Position`; over gRPC the `x-ledger-position`
//! metadata), which is the `tx_id` those events carry; an answer that appended nothing (a
//! refusal, a replay) names none.

use std::collections::HashMap;

use futures_util::future::join_all;
use proto::headset::v1::headset_service_client::HeadsetServiceClient;
use tests::headset_grpc::GrpcHeadsetClient;

use crate::harness::TestApp;

/// `tx_id` of each event of the operator's stream, by event type and session id (when the
/// payload names one), in stream order.
async fn tx_ids(app: &TestApp, operator: &str) -> Vec<(String, String, String)> {
    let client = app.db.client().await;
    client
        .query(
            "SELECT event_type, coalesce(payload::json -> event_type ->> 'session_id', ''), \
                    tx_id::text FROM events \
             WHERE aggregate_type = 'Operator' AND aggregate_id = $1 ORDER BY sequence",
            &[&operator],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

#[tokio::test]
async fn a_staff_command_answers_the_transaction_of_its_events_and_a_refusal_none() {
    let app = TestApp::spawn().await;
    let (operator, _, _) = app.create_operator().await;
    let credited = app.credit(operator, "12.00").await;
    assert_eq!(credited.status, 201, "{}", credited.raw);
    let events = tx_ids(&app, &operator.to_string()).await;
    let (kind, _, tx_id) = events.last().unwrap();
    assert_eq!(kind, "BalanceCredited");
    assert_eq!(credited.position.as_deref(), Some(tx_id.as_str()));

    let refused = app.credit(operator, "-1.00").await;
    assert_eq!(refused.status, 400, "{}", refused.raw);
    assert_eq!(refused.position, None);
}

#[tokio::test]
async fn each_authorization_answers_its_charge_transaction_and_a_replay_none() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "1.00", 1, 8).await;
    let sessions: Vec<String> = (0..12).map(|_| arcade.headset.new_session_id()).collect();
    // At once: most of them are recorded by the group commit, several per statement.
    let answers = join_all(
        sessions
            .iter()
            .map(|s| arcade.headset.authorize(s, arcade.app, arcade.site, 1)),
    )
    .await;
    let charged: HashMap<String, String> = tx_ids(&app, &arcade.operator.to_string())
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "GameAuthorized")
        .map(|(_, session, tx_id)| (session, tx_id))
        .collect();
    for (session, answer) in sessions.iter().zip(&answers) {
        assert_eq!(answer.status, 200, "{}", answer.raw);
        assert_eq!(
            answer.position.as_ref(),
            Some(&charged[session]),
            "{session}"
        );
    }

    let replay = arcade
        .headset
        .authorize(&sessions[0], arcade.app, arcade.site, 1)
        .await;
    assert!(replay.replayed);
    assert_eq!(replay.position, None);

    let ended = arcade.headset.end(&sessions[0], Some(60)).await;
    assert_eq!(ended.status, 200, "{}", ended.raw);
    let (kind, _, tx_id) = tx_ids(&app, &arcade.operator.to_string())
        .await
        .pop()
        .unwrap();
    assert_eq!(kind, "GameEnded");
    assert_eq!(ended.position.as_deref(), Some(tx_id.as_str()));
    let ended_again = arcade.headset.end(&sessions[0], Some(60)).await;
    assert!(ended_again.replayed);
    assert_eq!(ended_again.position, None);
}

#[tokio::test]
async fn a_grpc_authorization_carries_its_transaction_in_metadata() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "1.00", 1, 8).await;
    let server = command_api::grpc::start("127.0.0.1:0".parse().unwrap(), app.state.clone())
        .await
        .unwrap();
    let url = format!("http://{}", server.addr());
    let signer = GrpcHeadsetClient::new(
        &url,
        arcade.operator,
        &arcade.headset.key_id,
        &arcade.headset.secret,
    );
    let mut client = HeadsetServiceClient::connect(url).await.unwrap();
    let session = signer.new_session_id();
    let call = |session: &str| signer.authorize_request(session, arcade.app, arcade.site, 1);
    let response = client.authorize(call(&session)).await.unwrap();
    let position = response
        .metadata()
        .get("x-ledger-position")
        .map(|v| v.to_str().unwrap().to_owned());
    let (_, _, tx_id) = tx_ids(&app, &arcade.operator.to_string())
        .await
        .pop()
        .unwrap();
    assert_eq!(position, Some(tx_id));

    let replay = client.authorize(call(&session)).await.unwrap();
    assert!(replay.get_ref().idempotent_replayed);
    assert!(replay.metadata().get("x-ledger-position").is_none());
}
