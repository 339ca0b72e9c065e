//! Master-key rotation: secrets sealed under the old key keep working while both keys are
//! configured, `rotate-master-key` reseals every one under the new key (also while
//! authorizations run, also twice at once), the old key can then go, and a secret sealed
//! under a key the settings lack stops the service at start.

use std::net::TcpListener;

use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use command_api::http::AppState;
use command_api::rotation::{self, KeyCheckError};
use command_api::settings::{Secret, Settings};
use futures_util::future::join_all;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::json;
use tests::headset::{HeadsetClient, Reply, reply};

use crate::harness::{TestApp, settings};

/// The harness seals under `k1` with this key.
fn k1() -> String {
    STANDARD.encode([42u8; 32])
}

fn k2() -> String {
    STANDARD.encode([43u8; 32])
}

/// The harness settings with `k2` current and `previous` as MR_MASTER_KEY_PREVIOUS.
fn settings_k2(app: &TestApp, previous: &str) -> Settings {
    Settings {
        master_key: Secret(k2()),
        master_key_id: "k2".to_owned(),
        master_key_previous: Secret(previous.to_owned()),
        ..settings(&app.db)
    }
}

fn rotating(app: &TestApp) -> Settings {
    settings_k2(app, &format!("k1:{}", k1()))
}

/// Another command-api on the app's database with `settings` (its own caches), started
/// the way `serve` starts: the master-key check included.
async fn start(settings: &Settings) -> anyhow::Result<(String, web::Data<AppState>)> {
    let state = command_api::state(settings, command_api::ledger::system_clock())?;
    command_api::bootstrap(&state, settings).await?;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, state.clone(), 2).unwrap());
    Ok((base, state))
}

/// An operator able to play, and its credential.
struct Player {
    operator: OperatorId,
    key_id: String,
    secret: String,
    app: AppId,
    site: SiteId,
}

impl Player {
    async fn new(app: &TestApp, game: AppId) -> Player {
        let (operator, key_id, secret) = app.create_operator().await;
        let site = app.open_site(operator).await;
        assert_eq!(app.grant(operator, game, None).await.status, 201);
        assert_eq!(app.credit(operator, "1000").await.status, 201);
        Player {
            operator,
            key_id,
            secret,
            app: game,
            site,
        }
    }

    async fn authorize_at(&self, base: &str) -> Reply {
        let headset = HeadsetClient::new(base, self.operator, &self.key_id, &self.secret);
        headset
            .authorize(&headset.new_session_id(), self.app, self.site, 1)
            .await
    }
}

/// Sealed secrets per master key id.
async fn sealed_under(app: &TestApp) -> Vec<(String, i64)> {
    app.db
        .client()
        .await
        .query(
            "SELECT master_key_id, count(*) FROM api_credentials GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn secrets_keep_working_before_during_and_after_a_master_key_rotation() {
    let app = TestApp::spawn().await;
    let game = app.create_app("1.00", 1, 8).await;
    let players = [Player::new(&app, game).await, Player::new(&app, game).await];
    assert_eq!(sealed_under(&app).await, [("k1".to_owned(), 2)]);

    // Both keys configured: k2 seals, k1 still opens.
    let during = rotating(&app);
    let (base, state) = start(&during).await.unwrap();
    for player in &players {
        let r = player.authorize_at(&base).await;
        assert_eq!(r.status, 200, "with k1 as a previous key: {}", r.raw);
    }
    // A credential issued by the rotating instance is sealed under k2 …
    let issued = reply(
        app.http
            .post(format!("{base}/api/v1/admin/operators"))
            .bearer_auth(&app.token)
            .json(&json!({"username": "op_rotating", "name": "星际体验馆",
                          "phone": "13800000000", "email": "op@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    // … one issued by an instance not yet reconfigured is still sealed under k1.
    let fresh = Player::new(&app, game).await;
    let r = fresh.authorize_at(&base).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        sealed_under(&app).await,
        [("k1".to_owned(), 3), ("k2".to_owned(), 1)]
    );

    let keys = during.master_keys().unwrap();
    let report = rotation::rotate(&state.ledger.pool, &keys, 1)
        .await
        .unwrap();
    assert_eq!(
        (
            report.resealed,
            report.unknown_master_key,
            report.unreadable
        ),
        (3, 0, 0),
        "{report:?}"
    );
    assert!(report.complete());
    assert_eq!(sealed_under(&app).await, [("k2".to_owned(), 4)]);
    let again = rotation::rotate(&state.ledger.pool, &keys, 10)
        .await
        .unwrap();
    assert_eq!(again.resealed, 0, "nothing is resealed twice: {again:?}");

    // k1 removed from the settings: a fresh instance opens everything under k2 alone.
    let (base, _) = start(&settings_k2(&app, "")).await.unwrap();
    for player in players.iter().chain([&fresh]) {
        let r = player.authorize_at(&base).await;
        assert_eq!(r.status, 200, "after k1 is gone: {}", r.raw);
    }

    // The settings of before the rotation no longer hold the key of what is stored.
    let Err(error) = start(&settings(&app.db)).await else {
        panic!("the service started without the key of stored secrets");
    };
    assert!(
        matches!(error.downcast_ref(), Some(KeyCheckError::Unknown { ids, secrets: 4 }) if ids == &["k2"]),
        "{error}"
    );
}

#[tokio::test]
async fn a_secret_sealed_under_an_unknown_master_key_stops_the_service_at_start() {
    let app = TestApp::spawn().await;
    let (_, key_id, _) = app.create_operator().await;
    app.create_operator().await;
    app.db
        .client()
        .await
        .execute(
            "UPDATE api_credentials SET master_key_id = 'k0' WHERE key_id = $1",
            &[&key_id],
        )
        .await
        .unwrap();

    let Err(error) = start(&settings(&app.db)).await else {
        panic!("the service started without the key of stored secrets");
    };
    let message = error.to_string();
    assert!(
        message.starts_with("MASTER_KEY_UNKNOWN") && message.contains("\"k0\""),
        "{message}"
    );
    assert!(!message.contains(&k1()), "the key itself is never printed");

    // A rotation leaves that row alone, says so, and does not loop on it.
    let keys = rotating(&app).master_keys().unwrap();
    let report = rotation::rotate(&app.state.ledger.pool, &keys, 1)
        .await
        .unwrap();
    assert_eq!(
        (report.resealed, report.unknown_master_key),
        (1, 1),
        "{report:?}"
    );
    assert!(!report.complete());
    assert_eq!(
        sealed_under(&app).await,
        [("k0".to_owned(), 1), ("k2".to_owned(), 1)]
    );
}

#[tokio::test]
async fn a_different_key_under_a_known_id_stops_the_service_at_start() {
    let app = TestApp::spawn().await;
    app.create_operator().await;
    let changed = Settings {
        master_key: Secret(k2()),
        ..settings(&app.db)
    };
    let Err(error) = start(&changed).await else {
        panic!("the service started with a key that does not open the stored secrets");
    };
    assert!(
        matches!(error.downcast_ref(), Some(KeyCheckError::Mismatch { master_key_id, .. }) if master_key_id == "k1"),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("MASTER_KEY_MISMATCH"),
        "{error}"
    );
}

#[tokio::test]
async fn authorizations_during_two_concurrent_rotations_all_succeed() {
    const PLAYERS: usize = 12;
    const ROUNDS: usize = 4;
    let app = TestApp::spawn().await;
    let game = app.create_app("1.00", 1, 8).await;
    let players = join_all((0..PLAYERS).map(|_| Player::new(&app, game))).await;
    let during = rotating(&app);
    // Fresh caches: every credential is read from the table while rows are being resealed.
    let (base, state) = start(&during).await.unwrap();
    let keys = during.master_keys().unwrap();

    let authorizations = async {
        let mut replies = Vec::new();
        for _ in 0..ROUNDS {
            replies.extend(join_all(players.iter().map(|p| p.authorize_at(&base))).await);
        }
        replies
    };
    let rotations = async {
        tokio::join!(
            rotation::rotate(&state.ledger.pool, &keys, 1),
            rotation::rotate(&state.ledger.pool, &keys, 3),
        )
    };
    let (replies, (first, second)) = tokio::join!(authorizations, rotations);
    let (first, second) = (first.unwrap(), second.unwrap());

    let failed: Vec<_> = replies.iter().filter(|r| r.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{:?}",
        failed.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    assert_eq!(replies.len(), PLAYERS * ROUNDS);
    assert_eq!(
        first.resealed + second.resealed,
        PLAYERS as u64,
        "each row resealed exactly once: {first:?} {second:?}"
    );
    assert_eq!(
        sealed_under(&app).await,
        [("k2".to_owned(), PLAYERS as i64)]
    );

    // And a fresh instance without k1 serves every one of them.
    let (base, _) = start(&settings_k2(&app, "")).await.unwrap();
    for player in &players {
        assert_eq!(player.authorize_at(&base).await.status, 200);
    }
}
