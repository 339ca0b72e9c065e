//! The auditors' gRPC event stream of query-api (`mrledger.audit.v1.EventStore`), against the
//! real binaries: the same events as the HTTP pages, chain links a client can check, follow
//! mode, and the auth and argument errors.

use std::time::Duration;

use futures_util::StreamExt;
use ledger_core::chain::{self, ChainedEvent};
use ledger_core::ids::OperatorId;
use proto::audit::v1::event_store_client::EventStoreClient;
use proto::audit::v1::{Event, GlobalEventsRequest, StreamEventsRequest};
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tonic::transport::Channel;
use tonic::{Code, Request, Streaming};

const PASSWORD: &str = "Arcade-pass1";

/// A self-registered operator with two sites: a few events in its stream.
async fn operator_with_events(cluster: &Cluster, username: &str) -> OperatorId {
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": username, "name": "星际体验馆", "phone": "13800138000",
                      "email": format!("{username}@example.com"), "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let id: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    for name in ["朝阳店", "海淀店"] {
        add_site(cluster, username, name).await;
    }
    id
}

async fn add_site(cluster: &Cluster, username: &str, name: &str) {
    let token = cluster.token("operator", username, PASSWORD).await;
    cluster
        .command(
            "POST",
            "/api/v1/operator/sites",
            &token,
            json!({"name": name, "address": "北京市"}),
        )
        .await
        .ok();
}

async fn client(cluster: &Cluster) -> EventStoreClient<Channel> {
    EventStoreClient::connect(cluster.grpc.clone())
        .await
        .expect("the gRPC server listens")
}

/// `message` with `authorization: Bearer <token>` metadata.
fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn all(mut events: Streaming<Event>) -> Vec<Event> {
    let mut received = Vec::new();
    while let Some(event) = events.next().await {
        received.push(event.expect("no error mid-stream"));
    }
    received
}

fn stream_request(aggregate_type: &str, aggregate_id: &str, after: i64) -> StreamEventsRequest {
    StreamEventsRequest {
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        after_sequence: after,
    }
}

fn global_request(after_position: i64, limit: Option<u64>, follow: bool) -> GlobalEventsRequest {
    GlobalEventsRequest {
        after_position,
        limit,
        follow,
    }
}

/// position, aggregate type and id, sequence, event type and version, payload, metadata,
/// recorded at, hash.
type Shown = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    Value,
    Value,
    String,
    String,
);

/// An event of the HTTP pages as the gRPC message carries it (without the previous hash,
/// which only the gRPC stream has). Payload and metadata compare as JSON values here; the
/// hash check in [`assert_links`] proves the gRPC texts are the stored bytes.
fn http_event(item: &Value) -> Shown {
    (
        item["position"].as_i64().unwrap(),
        item["aggregate_type"].as_str().unwrap().to_owned(),
        item["aggregate_id"].as_str().unwrap().to_owned(),
        item["sequence"].as_i64().unwrap(),
        item["event_type"].as_str().unwrap().to_owned(),
        item["event_version"].as_str().unwrap().to_owned(),
        item["payload"].clone(),
        item["metadata"].clone(),
        item["recorded_at"].as_str().unwrap().to_owned(),
        item["hash"].as_str().unwrap().to_owned(),
    )
}

fn grpc_event(event: &Event) -> Shown {
    (
        event.position,
        event.aggregate_type.clone(),
        event.aggregate_id.clone(),
        event.sequence,
        event.event_type.clone(),
        event.event_version.clone(),
        serde_json::from_str(&event.payload).unwrap(),
        serde_json::from_str(&event.metadata).unwrap(),
        event.recorded_at.clone(),
        event.hash.clone(),
    )
}

fn from_hex(text: &str) -> chain::Hash {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

/// Each event's hash is the chain hash of its texts over its previous hash.
fn assert_links(events: &[Event]) {
    for event in events {
        let computed = chain::event_hash(
            &from_hex(&event.previous_hash),
            &ChainedEvent {
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                event_version: &event.event_version,
                payload: &event.payload,
                metadata: &event.metadata,
            },
        );
        assert_eq!(chain::to_hex(&computed), event.hash, "{event:?}");
    }
}

#[tokio::test]
async fn the_grpc_stream_sends_what_the_http_pages_show_and_follows_new_events() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = operator_with_events(&cluster, "grpc_arcade").await;
    let mut grpc = client(&cluster).await;

    // One stream: every event, the same as the HTTP page, each linked to the one before.
    let page = cluster
        .query(
            &format!("/api/v1/audit/streams/Operator/{operator}/events?limit=500"),
            &admin,
        )
        .await
        .ok();
    let http: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(http_event)
        .collect();
    assert!(http.len() >= 3, "{page}");
    let streamed = all(grpc
        .stream_events(authorized(
            stream_request("Operator", &operator.to_string(), 0),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(streamed.iter().map(grpc_event).collect::<Vec<_>>(), http);
    assert_eq!(streamed[0].previous_hash, chain::to_hex(&chain::GENESIS));
    for pair in streamed.windows(2) {
        assert_eq!(pair[1].previous_hash, pair[0].hash);
    }
    assert_links(&streamed);

    // After a sequence: only the later ones.
    let rest = all(grpc
        .stream_events(authorized(
            stream_request("Operator", &operator.to_string(), 1),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(rest, streamed[1..]);

    // The global order: the same events as the HTTP feed.
    let feed = cluster
        .query("/api/v1/audit/events?limit=500", &admin)
        .await
        .ok();
    assert_eq!(feed["caught_up"], true, "{feed}");
    let http: Vec<_> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(http_event)
        .collect();
    let global = all(grpc
        .global_events(authorized(global_request(0, None, false), &admin))
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(global.iter().map(grpc_event).collect::<Vec<_>>(), http);
    assert_links(&global);

    // A limit, and resuming after a position.
    let first_two = all(grpc
        .global_events(authorized(global_request(0, Some(2), false), &admin))
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(first_two, global[..2]);
    let after_two = all(grpc
        .global_events(authorized(
            global_request(first_two[1].position, None, false),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(after_two, global[2..]);

    // Follow: an event appended after the call started arrives on the open call.
    let last = global.last().unwrap().position;
    let mut following = grpc
        .global_events(authorized(global_request(last, None, true), &admin))
        .await
        .unwrap()
        .into_inner();
    let nothing_yet = tokio::time::timeout(Duration::from_millis(500), following.next()).await;
    assert!(
        nothing_yet.is_err(),
        "no event before the append: {nothing_yet:?}"
    );
    add_site(&cluster, "grpc_arcade", "西城店").await;
    let appended = tokio::time::timeout(Duration::from_secs(10), following.next())
        .await
        .expect("the appended event arrives while following")
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            appended.aggregate_type.as_str(),
            appended.aggregate_id.clone()
        ),
        ("Operator", operator.to_string())
    );
    assert!(appended.position > last);
    assert_eq!(appended.previous_hash, streamed.last().unwrap().hash);
    assert_links(std::slice::from_ref(&appended));
}

#[tokio::test]
async fn grpc_calls_are_refused_with_the_right_status() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = operator_with_events(&cluster, "grpc_refused").await;
    let operator_token = cluster.token("operator", "grpc_refused", PASSWORD).await;
    let mut grpc = client(&cluster).await;
    let id = operator.to_string();

    let refused = |result: Result<tonic::Response<Streaming<Event>>, tonic::Status>| {
        let status = result.expect_err("refused");
        (status.code(), status.message().to_owned())
    };

    // No token, a token that is no token, the wrong role.
    let no_token = refused(grpc.stream_events(stream_request("Operator", &id, 0)).await);
    assert_eq!(no_token, (Code::Unauthenticated, "UNAUTHORIZED".to_owned()));
    let garbage = refused(
        grpc.global_events(authorized(global_request(0, None, false), "not-a-jwt"))
            .await,
    );
    assert_eq!(garbage.0, Code::Unauthenticated);
    let operator_role = refused(
        grpc.global_events(authorized(global_request(0, None, false), &operator_token))
            .await,
    );
    assert_eq!(
        operator_role,
        (
            Code::PermissionDenied,
            "FORBIDDEN: needs events:read".to_owned()
        )
    );

    // Bad arguments name the fields; an unknown stream is not found.
    let bad_names = refused(
        grpc.stream_events(authorized(stream_request("1x", "", -1), &admin))
            .await,
    );
    assert_eq!(
        bad_names,
        (
            Code::InvalidArgument,
            "INVALID_PARAMS: aggregate_type, aggregate_id, after_sequence".to_owned()
        )
    );
    let unknown = refused(
        grpc.stream_events(authorized(
            stream_request("Operator", "no-such-operator", 0),
            &admin,
        ))
        .await,
    );
    assert_eq!(unknown, (Code::NotFound, "NOT_FOUND: stream".to_owned()));
    let no_such_position = refused(
        grpc.global_events(authorized(global_request(i64::MAX, None, false), &admin))
            .await,
    );
    assert_eq!(
        no_such_position,
        (
            Code::InvalidArgument,
            "INVALID_PARAMS: after_position".to_owned()
        )
    );
    let zero_limit = refused(
        grpc.global_events(authorized(global_request(0, Some(0), false), &admin))
            .await,
    );
    assert_eq!(
        zero_limit,
        (Code::InvalidArgument, "INVALID_PARAMS: limit".to_owned())
    );

    // A logged-out session is refused at once, like on HTTP.
    let logout = cluster
        .command("POST", "/api/v1/auth/logout", &admin, json!({}))
        .await;
    assert!(logout.status < 300, "{}: {}", logout.status, logout.body);
    let after_logout = refused(
        grpc.global_events(authorized(global_request(0, None, false), &admin))
            .await,
    );
    assert_eq!(
        after_logout,
        (Code::Unauthenticated, "UNAUTHORIZED".to_owned())
    );
}

#[tokio::test]
async fn stopping_the_grpc_server_ends_a_following_call() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    // A second gRPC server in this process, on the cluster's database and secret.
    let settings = query_api::Settings::new(
        cluster.db.url.clone(),
        query_api::Secret::new("system-test-jwt-secret-0123456789abcdef"),
    );
    let state = std::sync::Arc::new(query_api::grpc::GrpcState {
        store: query_api::store::Store::new(&settings).unwrap(),
        verifier: query_api::auth::TokenVerifier::new(&settings.jwt_secret),
    });
    let server = query_api::grpc::start(
        "127.0.0.1:0".parse().unwrap(),
        state,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let mut grpc = EventStoreClient::connect(format!("http://{}", server.addr()))
        .await
        .unwrap();
    let mut following = grpc
        .global_events(authorized(global_request(0, None, true), &admin))
        .await
        .unwrap()
        .into_inner();
    // Caught up on what exists, then waiting for more.
    while tokio::time::timeout(Duration::from_millis(500), following.next())
        .await
        .is_ok()
    {}

    let stopped = tokio::time::timeout(Duration::from_secs(5), server.stop()).await;
    assert!(stopped.is_ok(), "stop waited for the following call");
    let end = tokio::time::timeout(Duration::from_secs(5), following.next())
        .await
        .expect("the following call ends with the server");
    assert!(
        end.as_ref().is_none_or(|e| e.is_err()),
        "no event after the stop: {end:?}"
    );
}

/// Events credited to `operator` in one statement per 500: `count` credits of 1.00 after
/// `credited` already credited, each with its pair-asserted `balance_after`.
async fn append_credits(cluster: &Cluster, operator: &str, credited: u64, count: u64) {
    use ledger_core::ids::CreditId;
    use ledger_core::money::Money;
    use ledger_core::operator::{Operator, OperatorEvent};
    let (db, connection) = tokio_postgres::connect(&cluster.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let at = chrono::Utc::now();
    let events: Vec<OperatorEvent> = (credited + 1..=credited + count)
        .map(|n| OperatorEvent::BalanceCredited {
            credit_id: CreditId::new(),
            amount: Money::parse("1.00").unwrap(),
            reason: format!("paging test {n}"),
            balance_after: Money::parse(&format!("{n}.00")).unwrap(),
            credited_at: at,
        })
        .collect();
    for chunk in events.chunks(500) {
        tests::events::append::<Operator>(&db, operator, chunk, &tests::events::metadata(at))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn thousands_of_events_arrive_in_pages_in_the_order_of_the_http_feed() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = operator_with_events(&cluster, "grpc_paged")
        .await
        .to_string();
    append_credits(&cluster, &operator, 0, 1_600).await;
    let mut grpc = client(&cluster).await;

    let started = std::time::Instant::now();
    let streamed = all(grpc
        .stream_events(authorized(stream_request("Operator", &operator, 0), &admin))
        .await
        .unwrap()
        .into_inner())
    .await;
    let elapsed = started.elapsed();
    println!(
        "StreamEvents: {} events in {elapsed:.1?} ({:.0} events/s)",
        streamed.len(),
        streamed.len() as f64 / elapsed.as_secs_f64()
    );
    assert!(streamed.len() > 1_600, "{}", streamed.len());
    let sequences: Vec<i64> = streamed.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=streamed.len() as i64).collect::<Vec<_>>());
    for pair in streamed.windows(2) {
        assert_eq!(pair[1].previous_hash, pair[0].hash);
    }
    assert_links(&streamed);

    // The HTTP feed page by page, against one gRPC call.
    let mut http_hashes = Vec::new();
    let mut after = 0;
    loop {
        let page = cluster
            .query(
                &format!("/api/v1/audit/events?after_position={after}&limit=500"),
                &admin,
            )
            .await
            .ok();
        for item in page["items"].as_array().unwrap() {
            http_hashes.push(item["hash"].as_str().unwrap().to_owned());
        }
        after = page["next_after_position"].as_i64().unwrap();
        if page["caught_up"] == true {
            break;
        }
    }
    let started = std::time::Instant::now();
    let global = all(grpc
        .global_events(authorized(global_request(0, None, false), &admin))
        .await
        .unwrap()
        .into_inner())
    .await;
    let elapsed = started.elapsed();
    println!(
        "GlobalEvents: {} events in {elapsed:.1?} ({:.0} events/s)",
        global.len(),
        global.len() as f64 / elapsed.as_secs_f64()
    );
    let grpc_hashes: Vec<String> = global.iter().map(|e| e.hash.clone()).collect();
    assert_eq!(grpc_hashes.len(), http_hashes.len());
    assert_eq!(grpc_hashes, http_hashes);
    assert_links(&global);
}
