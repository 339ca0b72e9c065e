//! Statistics end to end on the real binaries: an operator with a Beijing and a Shanghai
//! site plays games through the signed headset protocol; the projector's daily figures then
//! show up in the operator's, finance's and the analysts' views. Every expected number is
//! computed here from the events read back from the `events` table.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::metadata::ActorRole;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::headset::HeadsetClient;

const PASSWORD: &str = "Stats-pass1";

async fn staff_token(cluster: &Cluster, admin: &str, role: ActorRole) -> String {
    let username = format!("s_{}", role.as_str());
    let body = json!({"username": username, "name": "员工", "role": role.as_str(),
                      "password": PASSWORD});
    cluster
        .command("POST", "/api/v1/admin/staff", admin, body)
        .await
        .ok();
    cluster.token("staff", &username, PASSWORD).await
}

async fn new_app(cluster: &Cluster, admin: &str, name: &str, price: &str) -> AppId {
    let body = json!({"name": name, "unit_price": price, "min_players": 1, "max_players": 10});
    let app = cluster
        .command("POST", "/api/v1/admin/apps", admin, body)
        .await
        .ok();
    app["id"].as_str().unwrap().parse().unwrap()
}

async fn open_site(cluster: &Cluster, token: &str, name: &str) -> SiteId {
    let site = cluster
        .command(
            "POST",
            "/api/v1/operator/sites",
            token,
            json!({"name": name, "address": format!("{name} Road 1")}),
        )
        .await
        .ok();
    site["id"].as_str().unwrap().parse().unwrap()
}

/// Asia/Shanghai (the default statistics zone) has kept UTC+8 without daylight saving since
/// 1991.
fn local_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&FixedOffset::east_opt(8 * 3_600).unwrap())
        .date_naive()
}

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("an amount string: {value}"))
        .parse()
        .unwrap()
}

/// A game as the events record it.
#[derive(Debug)]
struct Game {
    site: String,
    app: String,
    players: i64,
    cost: Decimal,
    day: NaiveDate,
}

/// The operator's games and credits, from its stream in the `events` table.
async fn history(
    cluster: &Cluster,
    operator: OperatorId,
) -> (Vec<Game>, Vec<(NaiveDate, Decimal)>) {
    let client = cluster.db.client().await;
    let rows = client
        .query(
            "SELECT event_type, payload FROM events \
             WHERE aggregate_type = 'Operator' AND aggregate_id = $1 ORDER BY sequence",
            &[&operator.to_string()],
        )
        .await
        .unwrap();
    let time = |v: &Value| -> DateTime<Utc> { v.as_str().unwrap().parse().unwrap() };
    let (mut games, mut credits) = (Vec::new(), Vec::new());
    for row in rows {
        let event_type: String = row.get(0);
        let payload: Value = row.get(1);
        let body = &payload[event_type.as_str()];
        match event_type.as_str() {
            "GameAuthorized" => games.push(Game {
                site: body["site_id"].as_str().unwrap().to_owned(),
                app: body["app_id"].as_str().unwrap().to_owned(),
                players: body["player_count"].as_i64().unwrap(),
                cost: dec(&body["total_cost"]),
                day: local_day(time(&body["authorized_at"])),
            }),
            "BalanceCredited" => {
                credits.push((local_day(time(&body["credited_at"])), dec(&body["amount"])));
            }
            _ => {}
        }
    }
    (games, credits)
}

/// sessions, player_times, spend of `games` grouped by `key`.
fn figures(games: &[Game], key: fn(&Game) -> String) -> BTreeMap<String, (i64, i64, Decimal)> {
    let mut out: BTreeMap<String, (i64, i64, Decimal)> = BTreeMap::new();
    for game in games {
        let entry = out.entry(key(game)).or_default();
        entry.0 += 1;
        entry.1 += game.players;
        entry.2 += game.cost;
    }
    out
}

fn figures_of(items: &Value, id: &str) -> BTreeMap<String, (i64, i64, Decimal)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i[id].as_str().unwrap().to_owned(),
                (
                    i["sessions"].as_i64().unwrap(),
                    i["player_times"].as_i64().unwrap(),
                    dec(&i["spend"]),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn games_at_two_sites_show_up_in_every_statistics_view() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    let analyst = staff_token(&cluster, &admin, ActorRole::Analyst).await;

    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": "stats_x", "name": "星际体验馆", "phone": "13800138000",
                      "email": "stats_x@example.com", "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let token = cluster.token("operator", "stats_x", PASSWORD).await;
    let headset = HeadsetClient::new(
        &cluster.command,
        operator,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    let beijing = open_site(&cluster, &token, "Beijing").await;
    let shanghai = open_site(&cluster, &token, "Shanghai").await;
    let app_a = new_app(&cluster, &admin, "Space Walk", "5.00").await;
    let app_b = new_app(&cluster, &admin, "Zombie Night", "8.50").await;
    for app in [app_a, app_b] {
        cluster
            .command(
                "POST",
                &format!("/api/v1/admin/operators/{operator}/grants"),
                &admin,
                json!({"app_id": app, "expires_at": null}),
            )
            .await
            .ok();
    }
    cluster
        .command(
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            &finance,
            json!({"amount": "1000", "reason": "bank transfer"}),
        )
        .await
        .ok();

    let plays = [
        (beijing, app_a, 1),
        (beijing, app_a, 2),
        (beijing, app_a, 3),
        (beijing, app_a, 4),
        (beijing, app_a, 6),
        (shanghai, app_b, 2),
        (shanghai, app_b, 5),
        (shanghai, app_b, 9),
    ];
    for (site, app, players) in plays {
        let reply = headset
            .authorize(&headset.new_session_id(), app, site, players)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }

    // The events say what happened; the views must say the same once projected.
    let (games, credits) = history(&cluster, operator).await;
    assert_eq!(games.len(), plays.len());
    let first = games
        .iter()
        .map(|g| g.day)
        .chain(credits.iter().map(|c| c.0))
        .min()
        .unwrap();
    let last = games
        .iter()
        .map(|g| g.day)
        .chain(credits.iter().map(|c| c.0))
        .max()
        .unwrap();
    let period = format!("from={first}&to={last}");
    let by_site = cluster
        .query_until(
            &format!("/api/v1/operator/statistics/by-site?{period}"),
            &token,
            |d| {
                d["items"].as_array().is_some_and(|items| {
                    items
                        .iter()
                        .map(|i| i["sessions"].as_i64().unwrap())
                        .sum::<i64>()
                        == games.len() as i64
                })
            },
        )
        .await;
    assert_eq!(by_site["time_zone"], "Asia/Shanghai");
    let expected_sites = figures(&games, |g| g.site.clone());
    assert_eq!(figures_of(&by_site["items"], "site_id"), expected_sites);
    assert_eq!(expected_sites[&beijing.to_string()].0, 5);
    assert_eq!(expected_sites[&shanghai.to_string()].0, 3);
    let names: BTreeMap<String, String> = by_site["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["site_id"].as_str().unwrap().to_owned(),
                i["site_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(names[&beijing.to_string()], "Beijing");
    assert_eq!(names[&shanghai.to_string()], "Shanghai");

    let by_app = cluster
        .query(
            &format!("/api/v1/operator/statistics/by-app?{period}"),
            &token,
        )
        .await
        .ok();
    let expected_apps = figures(&games, |g| g.app.clone());
    assert_eq!(figures_of(&by_app["items"], "app_id"), expected_apps);
    let spends: Vec<Decimal> = by_app["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| dec(&i["spend"]))
        .collect();
    assert!(
        spends.windows(2).all(|w| w[0] >= w[1]),
        "most spend first: {spends:?}"
    );

    // Finance's day: the last day of the history, and its month up to it.
    let dashboard = cluster
        .query(&format!("/api/v1/finance/dashboard?date={last}"), &finance)
        .await
        .ok();
    let charged_on =
        |day: NaiveDate| -> Decimal { games.iter().filter(|g| g.day == day).map(|g| g.cost).sum() };
    let credited_on =
        |day: NaiveDate| -> Decimal { credits.iter().filter(|c| c.0 == day).map(|c| c.1).sum() };
    assert_eq!(dashboard["day"], last.to_string());
    assert_eq!(dec(&dashboard["consumed"]), charged_on(last));
    assert_eq!(dec(&dashboard["recharged"]), credited_on(last));
    assert_eq!(dashboard["refunded"], "0.00");
    assert_eq!(dec(&dashboard["net"]), credited_on(last));
    let trend = dashboard["month_trend"].as_array().unwrap();
    assert_eq!(
        trend.len(),
        last.day() as usize,
        "one point per day of the month so far"
    );
    for (point, n) in trend.iter().zip(1..) {
        let day = last.with_day(n).unwrap();
        assert_eq!(point["day"], day.to_string());
        assert_eq!(dec(&point["consumed"]), charged_on(day), "{day}");
        assert_eq!(dec(&point["recharged"]), credited_on(day), "{day}");
    }
    let today = cluster
        .query("/api/v1/finance/dashboard", &finance)
        .await
        .ok();
    let today_day: NaiveDate = today["day"].as_str().unwrap().parse().unwrap();
    assert_eq!(today_day, local_day(Utc::now()));
    assert_eq!(dec(&today["consumed"]), charged_on(today_day));
    assert_eq!(dec(&today["recharged"]), credited_on(today_day));

    let total: Decimal = games.iter().map(|g| g.cost).sum();
    let top = cluster
        .query(&format!("/api/v1/finance/top-customers?{period}"), &finance)
        .await
        .ok();
    assert_eq!(dec(&top["revenue"]), total);
    assert_eq!(top["items"][0]["operator_id"], operator.to_string());
    assert_eq!(dec(&top["items"][0]["spend"]), total);
    assert_eq!(top["items"][0]["share_of_revenue"], "1.0000");

    // The analysts' views agree.
    let overview = cluster
        .query(&format!("/api/v1/analytics/overview?{period}"), &analyst)
        .await
        .ok();
    assert_eq!(overview["sessions"], games.len() as i64);
    assert_eq!(
        overview["player_times"],
        games.iter().map(|g| g.players).sum::<i64>()
    );
    assert_eq!(dec(&overview["revenue"]), total);
    assert_eq!(
        dec(&overview["recharged"]),
        credits.iter().map(|c| c.1).sum::<Decimal>()
    );
    assert_eq!(overview["operators_active"], 1);
    let pairs = cluster
        .query(
            &format!("/api/v1/analytics/operator-app?{period}"),
            &analyst,
        )
        .await
        .ok();
    assert_eq!(figures_of(&pairs["items"], "app_id"), expected_apps);
    assert!(
        pairs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["operator_id"] == operator.to_string())
    );
    let sites = cluster
        .query(
            &format!("/api/v1/analytics/site-time?period=month&{period}"),
            &analyst,
        )
        .await
        .ok();
    let mut per_site: BTreeMap<String, (i64, i64, Decimal)> = BTreeMap::new();
    for item in sites["items"].as_array().unwrap() {
        let entry = per_site
            .entry(item["site_id"].as_str().unwrap().to_owned())
            .or_default();
        entry.0 += item["sessions"].as_i64().unwrap();
        entry.1 += item["player_times"].as_i64().unwrap();
        entry.2 += dec(&item["spend"]);
    }
    assert_eq!(per_site, expected_sites);
    let distribution = cluster
        .query(
            &format!("/api/v1/analytics/player-distribution?{period}"),
            &analyst,
        )
        .await
        .ok();
    for item in distribution["items"].as_array().unwrap() {
        let app = item["app_id"].as_str().unwrap();
        let mut buckets = [0i64; 4];
        for game in games.iter().filter(|g| g.app == app) {
            let bucket = match game.players {
                ..=2 => 0,
                3..=4 => 1,
                5..=8 => 2,
                _ => 3,
            };
            buckets[bucket] += 1;
        }
        let got = [&item["upto_2"], &item["3_4"], &item["5_8"], &item["9_plus"]]
            .map(|v| v.as_i64().unwrap());
        assert_eq!(got, buckets, "{app}");
    }
    assert_eq!(distribution["total"]["sessions"], games.len() as i64);
    let export = cluster
        .call(
            "GET",
            &format!(
                "{}/api/v1/analytics/site-time/export?period=month&{period}",
                cluster.query
            ),
            Some(&analyst),
            None,
        )
        .await;
    assert_eq!(export.status, 200);
    let mut reader = csv::Reader::from_reader(export.bytes.as_slice());
    let records = reader.records().count();
    assert_eq!(records, sites["items"].as_array().unwrap().len());
}

#[tokio::test]
async fn the_projector_binary_refuses_another_zone_until_a_rebuild_takes_it() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    // Anything projected records the default zone.
    new_app(&cluster, &admin, "Zone Probe", "1.00").await;
    cluster
        .query_until("/api/v1/admin/apps", &admin, |d| {
            d["items"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let dashboard = cluster
        .query("/api/v1/finance/dashboard", &finance)
        .await
        .ok();
    assert_eq!(dashboard["time_zone"], "Asia/Shanghai");

    // MR_* variables win over the file, and the cluster sets none for the zone.
    let config = std::env::temp_dir().join(format!("{}-utc.toml", cluster.db.name));
    std::fs::write(&config, "stats_time_zone = \"UTC\"\n").unwrap();
    let config = config.to_str().unwrap();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        cluster.run_projector(&["--config", config, "run"]),
    )
    .await
    .expect("run stops at once");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Asia/Shanghai") && stderr.contains("projector rebuild"),
        "{stderr}"
    );

    let rebuilt = cluster
        .run_projector(&["--config", config, "rebuild"])
        .await;
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let dashboard = cluster
        .query("/api/v1/finance/dashboard", &finance)
        .await
        .ok();
    assert_eq!(dashboard["time_zone"], "UTC");
    let _ = std::fs::remove_file(config);
}
