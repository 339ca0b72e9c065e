//! Rebuild without downtime: `projector rebuild` replays the whole history into a schema
//! beside the live one and swaps it in while headset servers keep authorizing games and the
//! live projector keeps tailing. Afterwards the swapped-in tables hold every charge exactly
//! once and equal a fresh replay (`projector verify` diffs every table both ways).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::json;
use tests::cluster::Cluster;
use tests::headset::HeadsetClient;

/// Headset servers authorizing at once while the rebuild runs.
const CONCURRENT_SITES: usize = 4;
/// History written before the rebuild starts, so the replay has something to chew on.
const GAMES_BEFORE: u64 = 200;
/// Pause between one site's games while the rebuild runs.
const GAME_INTERVAL: Duration = Duration::from_millis(10);

#[tokio::test]
async fn a_rebuild_under_load_swaps_in_tables_equal_to_a_fresh_replay() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.admin_token().await;
    let post = async |path: String, body| cluster.command("POST", &path, &token, body).await.ok();

    let app = post(
        "/api/v1/admin/apps".into(),
        json!({"name": "重建测试", "unit_price": "1.00", "min_players": 1, "max_players": 8}),
    )
    .await;
    let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
    let created = post(
        "/api/v1/admin/operators".into(),
        json!({"username": "rebuild_arcade", "name": "重建体验馆",
               "phone": "13800000001", "email": "r@example.com"}),
    )
    .await;
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let mut sites: Vec<SiteId> = Vec::new();
    for n in 0..CONCURRENT_SITES {
        let site = post(
            format!("/api/v1/admin/operators/{operator}/sites"),
            json!({"name": format!("门店{n}"), "address": "上海市"}),
        )
        .await;
        sites.push(site["id"].as_str().unwrap().parse().unwrap());
    }
    post(
        format!("/api/v1/admin/operators/{operator}/grants"),
        json!({"app_id": app, "expires_at": null}),
    )
    .await;
    post(
        format!("/api/v1/finance/operators/{operator}/manual-credits"),
        json!({"amount": "50000", "reason": "bank transfer"}),
    )
    .await;
    let headset = Arc::new(HeadsetClient::new(
        &cluster.command,
        operator,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    ));

    for _ in 0..GAMES_BEFORE {
        let reply = headset
            .authorize(&headset.new_session_id(), app, sites[0], 1)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
    }

    // Load: every site authorizes games one after another until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let charged = Arc::new(AtomicU64::new(GAMES_BEFORE));
    let mut load = Vec::new();
    for site in sites.clone() {
        let (headset, stop, charged) = (headset.clone(), stop.clone(), charged.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let reply = headset
                    .authorize(&headset.new_session_id(), app, site, 1)
                    .await;
                assert_eq!(reply.status, 200, "{}", reply.raw);
                charged.fetch_add(1, Ordering::Relaxed);
                // A steady arcade pace, not a flood: unthrottled, the load outgrows the
                // rebuild on a fast machine and drains the balance before the swap.
                tokio::time::sleep(GAME_INTERVAL).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_rebuild = charged.load(Ordering::Relaxed);

    let rebuild = cluster.run_projector(&["rebuild"]).await;
    let stdout = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        rebuild.status.success(),
        "rebuild failed: {stdout}{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    assert!(stdout.contains("rebuilt read"), "{stdout}");
    let during_rebuild = charged.load(Ordering::Relaxed) - before_rebuild;

    // Keep the load on a little after the swap: the live projector must go on in the new schema.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let games = charged.load(Ordering::Relaxed);
    assert!(
        during_rebuild > 0,
        "no authorization was charged while the rebuild ran: the test proves nothing"
    );

    // Every charge reaches the swapped-in tables exactly once.
    let client = cluster.db.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let expected_balance = rust_decimal::Decimal::from(50_000u64 - games);
    loop {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM read.usage_records WHERE operator_id = $1), \
                        (SELECT balance FROM read.operators WHERE id = $1)",
                &[&operator.as_uuid()],
            )
            .await
            .unwrap();
        let (rows, balance): (i64, rust_decimal::Decimal) = (row.get(0), row.get(1));
        if rows as u64 == games && balance == expected_balance {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "read tables hold {rows} games and balance {balance}, expected {games} and {expected_balance}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let schemas: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('read_next', 'read_old')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0, "the rebuild left a schema behind");

    let verify = cluster.run_projector(&["verify"]).await;
    assert!(
        verify.status.success(),
        "verify after a rebuild under load: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
