//! Statistics routes over daily rows written directly (standing in for the projector): the
//! operator's trend, apps, sites and summary; finance's dashboard and top customers; the
//! analysts' views and their CSV files; period checks.

use ledger_core::metadata::ActorRole;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;

/// One day of games of an operator at a site for an app.
struct UsageDay {
    operator: Uuid,
    day: &'static str,
    site: Uuid,
    app: Uuid,
    sessions: i64,
    player_times: i64,
    spend: &'static str,
    /// Games with up to 2, 3–4, 5–8, 9+ players.
    buckets: [i64; 4],
}

async fn insert_usage_day(sql: &tokio_postgres::Client, u: &UsageDay) {
    assert_eq!(u.buckets.iter().sum::<i64>(), u.sessions);
    sql.execute(
        "INSERT INTO read.stats_usage_daily VALUES ($1, $2::text::date, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &u.operator,
            &u.day,
            &u.site,
            &u.app,
            &u.sessions,
            &u.player_times,
            &dec(u.spend),
            &u.buckets[0],
            &u.buckets[1],
            &u.buckets[2],
            &u.buckets[3],
        ],
    )
    .await
    .unwrap();
}

/// recharged, recharges, charged, charges, refunded, refunds of an operator's day.
async fn insert_money_day(
    sql: &tokio_postgres::Client,
    operator: Uuid,
    day: &str,
    figures: (&str, i64, &str, i64, &str, i64),
) {
    let (recharged, recharges, charged, charges, refunded, refunds) = figures;
    sql.execute(
        "INSERT INTO read.stats_money_daily VALUES ($1, $2::text::date, $3, $4, $5, $6, $7, $8)",
        &[
            &operator,
            &day,
            &dec(recharged),
            &recharges,
            &dec(charged),
            &charges,
            &dec(refunded),
            &refunds,
        ],
    )
    .await
    .unwrap();
}

fn money(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("money as a string: {value}"))
        .parse()
        .unwrap()
}

struct Fixture {
    app: TestApp,
    alpha: Uuid,
    beta: Uuid,
    beijing: Uuid,
    shanghai: Uuid,
    guangzhou: Uuid,
    arena: Uuid,
    zombies: Uuid,
    usage: Vec<UsageDay>,
}

/// Two operators (alpha: Beijing and Shanghai; beta, a vip: Guangzhou), two apps, games
/// and money on days of November 2025.
async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let sql = &app.sql;
    sql.execute(
        "INSERT INTO read.stats_settings (time_zone) VALUES ('Asia/Shanghai')",
        &[],
    )
    .await
    .unwrap();
    let alpha = insert_operator(sql, "alpha", "active", "100").await;
    let beta = Uuid::now_v7();
    insert_operator_full(
        sql,
        beta,
        "beta",
        "Beta Arcade",
        "active",
        "vip",
        "0",
        at("2025-01-01T00:00:00Z"),
    )
    .await;
    let beijing = insert_site(sql, alpha, "Beijing").await;
    let shanghai = insert_site(sql, alpha, "Shanghai").await;
    let guangzhou = insert_site(sql, beta, "Guangzhou").await;
    let arena = insert_app(sql, "VR Arena", "5.00", "active").await;
    let zombies = insert_app(sql, "Zombie Night", "8.50", "active").await;
    let usage = vec![
        // Monday 3 November and Wednesday 5 November: the same week.
        UsageDay {
            operator: alpha,
            day: "2025-11-03",
            site: beijing,
            app: arena,
            sessions: 3,
            player_times: 7,
            spend: "35.00",
            buckets: [2, 1, 0, 0],
        },
        UsageDay {
            operator: alpha,
            day: "2025-11-05",
            site: shanghai,
            app: zombies,
            sessions: 2,
            player_times: 12,
            spend: "102.00",
            buckets: [0, 0, 2, 0],
        },
        // Monday 10 November.
        UsageDay {
            operator: alpha,
            day: "2025-11-10",
            site: beijing,
            app: zombies,
            sessions: 1,
            player_times: 10,
            spend: "85.00",
            buckets: [0, 0, 0, 1],
        },
        UsageDay {
            operator: beta,
            day: "2025-11-05",
            site: guangzhou,
            app: arena,
            sessions: 4,
            player_times: 9,
            spend: "45.00",
            buckets: [3, 1, 0, 0],
        },
        // December: outside November's figures.
        UsageDay {
            operator: beta,
            day: "2025-12-01",
            site: guangzhou,
            app: arena,
            sessions: 1,
            player_times: 2,
            spend: "10.00",
            buckets: [1, 0, 0, 0],
        },
    ];
    for u in &usage {
        insert_usage_day(sql, u).await;
    }
    insert_money_day(sql, alpha, "2025-11-01", ("500.00", 1, "0", 0, "0", 0)).await;
    insert_money_day(sql, alpha, "2025-11-03", ("0", 0, "35.00", 3, "0", 0)).await;
    insert_money_day(
        sql,
        alpha,
        "2025-11-05",
        ("20.00", 2, "102.00", 2, "50.00", 1),
    )
    .await;
    insert_money_day(sql, beta, "2025-11-05", ("100.00", 1, "45.00", 4, "0", 0)).await;
    insert_money_day(sql, alpha, "2025-11-10", ("0", 0, "85.00", 1, "0", 0)).await;
    insert_money_day(sql, beta, "2025-12-01", ("0", 0, "10.00", 1, "0", 0)).await;
    Fixture {
        app,
        alpha,
        beta,
        beijing,
        shanghai,
        guangzhou,
        arena,
        zombies,
        usage,
    }
}

/// Sessions, player times and spend of the fixture's usage rows that pass `keep`, in November.
fn november(f: &Fixture, keep: impl Fn(&UsageDay) -> bool) -> (i64, i64, Decimal) {
    f.usage
        .iter()
        .filter(|u| u.day.starts_with("2025-11") && keep(u))
        .fold((0, 0, Decimal::ZERO), |(s, p, m), u| {
            (s + u.sessions, p + u.player_times, m + dec(u.spend))
        })
}

const NOVEMBER: &str = "from=2025-11-01&to=2025-11-30";

#[tokio::test]
async fn the_operator_trend_has_every_bucket_of_the_period_with_zeros() {
    let f = fixture().await;
    let login = f.app.login_operator(f.alpha).await;
    let reply = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/trend?period=day&{NOVEMBER}"),
        )
        .await;
    let data = reply.data();
    assert_eq!(data["time_zone"], "Asia/Shanghai");
    let points = data["points"].as_array().unwrap();
    assert_eq!(points.len(), 30);
    assert_eq!(points[0]["bucket"], "2025-11-01");
    assert_eq!(points[29]["bucket"], "2025-11-30");
    let fifth = &points[4];
    assert_eq!(fifth["bucket"], "2025-11-05");
    assert_eq!(fifth["sessions"], 2);
    assert_eq!(fifth["player_times"], 12);
    assert_eq!(fifth["average_players"], "6.00");
    assert_eq!(fifth["spend"], "102.00");
    assert_eq!(points[1]["sessions"], 0);
    assert_eq!(points[1]["average_players"], "0.00");
    assert_eq!(points[1]["spend"], "0.00");
    let total: i64 = points.iter().map(|p| p["sessions"].as_i64().unwrap()).sum();
    assert_eq!(total, november(&f, |u| u.operator == f.alpha).0);

    // Weeks start on Monday; the first bucket is the Monday before 1 November.
    let weeks = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/trend?period=week&{NOVEMBER}"),
        )
        .await;
    let points = weeks.data()["points"].as_array().unwrap().clone();
    let buckets: Vec<&str> = points
        .iter()
        .map(|p| p["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(
        buckets,
        [
            "2025-10-27",
            "2025-11-03",
            "2025-11-10",
            "2025-11-17",
            "2025-11-24"
        ]
    );
    assert_eq!(points[0]["sessions"], 0);
    assert_eq!(points[1]["sessions"], 5);
    assert_eq!(points[1]["player_times"], 19);
    assert_eq!(points[1]["average_players"], "3.80");
    assert_eq!(points[1]["spend"], "137.00");
    assert_eq!(points[2]["spend"], "85.00");

    let months = f
        .app
        .get_as(
            &login,
            "/api/v1/operator/statistics/trend?period=month&from=2025-10-15&to=2025-12-31",
        )
        .await;
    let points = months.data()["points"].as_array().unwrap().clone();
    let buckets: Vec<&str> = points
        .iter()
        .map(|p| p["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, ["2025-10-01", "2025-11-01", "2025-12-01"]);
    assert_eq!(
        money(&points[1]["spend"]),
        november(&f, |u| u.operator == f.alpha).2
    );
    // Beta's December game is not alpha's.
    assert_eq!(points[2]["sessions"], 0);
}

#[tokio::test]
async fn the_operator_sees_its_apps_and_sites_by_spend_and_its_summary() {
    let f = fixture().await;
    let login = f.app.login_operator(f.alpha).await;
    let by_app = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/by-app?{NOVEMBER}"),
        )
        .await;
    let items = by_app.data()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["app_id"], f.zombies.to_string());
    assert_eq!(items[0]["app_name"], "Zombie Night");
    let (s, p, m) = november(&f, |u| u.operator == f.alpha && u.app == f.zombies);
    assert_eq!(
        (
            items[0]["sessions"].as_i64().unwrap(),
            items[0]["player_times"].as_i64().unwrap()
        ),
        (s, p)
    );
    assert_eq!(money(&items[0]["spend"]), m);
    assert_eq!(items[0]["average_players"], "7.33");
    assert_eq!(items[1]["app_id"], f.arena.to_string());

    let by_site = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/by-site?{NOVEMBER}"),
        )
        .await;
    let items = by_site.data()["items"].as_array().unwrap().clone();
    let sites: Vec<(&str, Decimal)> = items
        .iter()
        .map(|i| (i["site_name"].as_str().unwrap(), money(&i["spend"])))
        .collect();
    assert_eq!(
        sites,
        [
            ("Beijing", november(&f, |u| u.site == f.beijing).2),
            ("Shanghai", november(&f, |u| u.site == f.shanghai).2),
        ]
    );
    assert!(
        !items
            .iter()
            .any(|i| i["site_id"] == f.guangzhou.to_string())
    );

    let summary = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/summary?{NOVEMBER}"),
        )
        .await;
    let data = summary.data();
    let (s, p, m) = november(&f, |u| u.operator == f.alpha);
    assert_eq!(data["sessions"], s);
    assert_eq!(data["player_times"], p);
    assert_eq!(money(&data["spend"]), m);
    assert_eq!(data["recharged"], "520.00");
    assert_eq!(data["refunded"], "50.00");
    // Nothing was played today or this month (the fixture is in 2025).
    assert_eq!(data["today_spend"], "0.00");
    assert_eq!(data["month_spend"], "0.00");
}

#[tokio::test]
async fn today_and_this_month_count_in_the_recorded_zone() {
    let f = fixture().await;
    let sql = &f.app.sql;
    let today: String = sql
        .query_one(
            "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let first: String = sql
        .query_one(
            "SELECT date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai'))::date::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut days = vec![(today.clone(), "12.50")];
    if first != today {
        days.push((first.clone(), "7.00"));
    }
    for (day, spend) in days {
        sql.execute(
            "INSERT INTO read.stats_usage_daily VALUES ($1, $2::text::date, $3, $4, 1, 2, $5, 1, 0, 0, 0)",
            &[&f.alpha, &day, &f.beijing, &f.arena, &dec(spend)],
        )
        .await
        .unwrap();
    }
    let login = f.app.login_operator(f.alpha).await;
    let reply = f
        .app
        .get_as(&login, "/api/v1/operator/statistics/summary")
        .await;
    let data = reply.data();
    assert_eq!(data["today"], today);
    assert_eq!(data["from"], first);
    assert_eq!(data["today_spend"], "12.50");
    let month = if first == today { "12.50" } else { "19.50" };
    assert_eq!(data["month_spend"], month);
    assert_eq!(data["spend"], month);
}

#[tokio::test]
async fn periods_are_checked() {
    let f = fixture().await;
    let login = f.app.login_operator(f.alpha).await;
    for (query, fields) in [
        ("from=2025-01-01&to=2026-01-03", vec!["from", "to"]),
        ("from=2025-11-02&to=2025-11-01", vec!["from", "to"]),
        ("from=2025-11-31", vec!["from"]),
        ("period=year", vec!["period"]),
        ("limit=5", vec!["limit"]),
    ] {
        let reply = f
            .app
            .get_as(
                &login,
                &format!("/api/v1/operator/statistics/trend?{query}"),
            )
            .await;
        assert_eq!(reply.invalid_fields(), fields, "{query}");
    }
    // A leap year's 366 days are fine.
    let reply = f
        .app
        .get_as(
            &login,
            "/api/v1/operator/statistics/by-app?from=2024-01-01&to=2025-01-01",
        )
        .await;
    assert_eq!(reply.status, 200);
    let analyst = f.app.login(ActorRole::Analyst).await;
    let reply = f
        .app
        .get_as(
            &analyst,
            "/api/v1/analytics/overview?from=2024-01-01&to=2025-01-02",
        )
        .await;
    assert_eq!(reply.invalid_fields(), ["from", "to"]);
    let finance = f.app.login(ActorRole::FinanceManager).await;
    let reply = f
        .app
        .get_as(&finance, "/api/v1/finance/top-customers?limit=101")
        .await;
    assert_eq!(reply.invalid_fields(), ["limit"]);
    let reply = f
        .app
        .get_as(&finance, "/api/v1/finance/dashboard?date=yesterday")
        .await;
    assert_eq!(reply.invalid_fields(), ["date"]);
}

#[tokio::test]
async fn the_finance_dashboard_has_the_day_and_every_day_of_its_month_so_far() {
    let f = fixture().await;
    let finance = f.app.login(ActorRole::FinanceSpecialist).await;
    let reply = f
        .app
        .get_as(&finance, "/api/v1/finance/dashboard?date=2025-11-05")
        .await;
    let data = reply.data();
    assert_eq!(data["time_zone"], "Asia/Shanghai");
    assert_eq!(data["day"], "2025-11-05");
    assert_eq!(data["recharged"], "120.00");
    assert_eq!(data["recharges"], 3);
    assert_eq!(data["consumed"], "147.00");
    assert_eq!(data["charges"], 6);
    assert_eq!(data["refunded"], "50.00");
    assert_eq!(data["refunds"], 1);
    assert_eq!(data["net"], "70.00");
    let trend = data["month_trend"].as_array().unwrap();
    let days: Vec<&str> = trend.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(
        days,
        [
            "2025-11-01",
            "2025-11-02",
            "2025-11-03",
            "2025-11-04",
            "2025-11-05"
        ]
    );
    assert_eq!(trend[0]["recharged"], "500.00");
    assert_eq!(trend[1]["consumed"], "0.00");
    assert_eq!(trend[1]["net"], "0.00");
    assert_eq!(trend[2]["consumed"], "35.00");
    assert_eq!(trend[4], {
        let mut day = data.clone();
        day.as_object_mut().unwrap().remove("month_trend");
        day.as_object_mut().unwrap().remove("time_zone");
        day
    });

    // A day of refunds only: net is negative.
    f.app
        .sql
        .execute(
            "INSERT INTO read.stats_money_daily VALUES ($1, '2025-11-20', 0, 0, 0, 0, 30, 1)",
            &[&f.beta],
        )
        .await
        .unwrap();
    let reply = f
        .app
        .get_as(&finance, "/api/v1/finance/dashboard?date=2025-11-20")
        .await;
    assert_eq!(reply.data()["net"], "-30.00");
    assert_eq!(reply.data()["month_trend"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn top_customers_are_ranked_by_spend_with_their_share_of_revenue() {
    let f = fixture().await;
    let finance = f.app.login(ActorRole::FinanceAuditor).await;
    let reply = f
        .app
        .get_as(
            &finance,
            &format!("/api/v1/finance/top-customers?{NOVEMBER}"),
        )
        .await;
    let data = reply.data();
    let revenue = november(&f, |_| true).2;
    assert_eq!(money(&data["revenue"]), revenue);
    let items = data["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["operator_id"], f.alpha.to_string());
    assert_eq!(items[0]["username"], "alpha");
    assert_eq!(items[0]["vip"], false);
    assert_eq!(items[1]["operator_id"], f.beta.to_string());
    assert_eq!(items[1]["category"], "vip");
    assert_eq!(items[1]["vip"], true);
    // 222 / 267 and 45 / 267.
    assert_eq!(items[0]["share_of_revenue"], "0.8315");
    assert_eq!(items[1]["share_of_revenue"], "0.1685");
    let one = f
        .app
        .get_as(
            &finance,
            &format!("/api/v1/finance/top-customers?{NOVEMBER}&limit=1"),
        )
        .await;
    assert_eq!(one.data()["items"].as_array().unwrap().len(), 1);
    assert_eq!(money(&one.data()["revenue"]), revenue);
}

/// The CSV's records as header → value maps.
fn csv_records(body: &[u8]) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn analysts_see_every_operator_and_the_csv_files_carry_the_same_rows() {
    let f = fixture().await;
    let analyst = f.app.login(ActorRole::Analyst).await;
    let overview = f
        .app
        .get_as(&analyst, &format!("/api/v1/analytics/overview?{NOVEMBER}"))
        .await;
    let data = overview.data();
    let (s, p, m) = november(&f, |_| true);
    assert_eq!(data["operators_total"], 2);
    assert_eq!(data["operators_active"], 2);
    assert_eq!(data["sessions"], s);
    assert_eq!(data["player_times"], p);
    assert_eq!(money(&data["revenue"]), m);
    assert_eq!(data["recharged"], "620.00");
    assert_eq!(data["refunded"], "50.00");
    let file = f
        .app
        .get_raw(
            &analyst,
            &format!("/api/v1/analytics/overview/export?{NOVEMBER}"),
        )
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(
        file.content_type.as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        file.content_disposition.as_deref(),
        Some("attachment; filename=\"analytics-overview-2025-11-01-2025-11-30.csv\"")
    );
    let records = csv_records(&file.body);
    assert_eq!(records.len(), 1);
    for (column, value) in &records[0] {
        assert_eq!(*value, text(&data[column.as_str()]), "{column}");
    }

    let pairs = f
        .app
        .get_as(
            &analyst,
            &format!("/api/v1/analytics/operator-app?{NOVEMBER}"),
        )
        .await;
    let items = pairs.data()["items"].as_array().unwrap().clone();
    let pairs: std::collections::BTreeSet<(Uuid, Uuid)> = f
        .usage
        .iter()
        .filter(|u| u.day.starts_with("2025-11"))
        .map(|u| (u.operator, u.app))
        .collect();
    assert_eq!(items.len(), pairs.len());
    let spends: Vec<Decimal> = items.iter().map(|i| money(&i["spend"])).collect();
    assert!(spends.windows(2).all(|w| w[0] >= w[1]), "{spends:?}");
    let file = f
        .app
        .get_raw(
            &analyst,
            &format!("/api/v1/analytics/operator-app/export?{NOVEMBER}"),
        )
        .await;
    let records = csv_records(&file.body);
    assert_eq!(records.len(), items.len());
    for (record, item) in records.iter().zip(&items) {
        for (column, value) in record {
            assert_eq!(*value, text(&item[column.as_str()]), "{column}");
        }
    }

    // Per operator category: alpha is standard, beta vip; each row sums its operators' games.
    let categories = f
        .app
        .get_as(
            &analyst,
            &format!("/api/v1/analytics/by-category?{NOVEMBER}"),
        )
        .await;
    let items = categories.data()["items"].as_array().unwrap().clone();
    let mut expected: Vec<(String, i64, i64, i64, Decimal)> =
        [("standard", f.alpha), ("vip", f.beta)]
            .into_iter()
            .map(|(category, operator)| {
                let (s, p, m) = november(&f, |u| u.operator == operator);
                (category.to_owned(), 1, s, p, m)
            })
            .collect();
    expected.sort_by(|a, b| b.4.cmp(&a.4).then(a.0.cmp(&b.0)));
    let got: Vec<(String, i64, i64, i64, Decimal)> = items
        .iter()
        .map(|i| {
            (
                text(&i["category"]),
                i["operators"].as_i64().unwrap(),
                i["sessions"].as_i64().unwrap(),
                i["player_times"].as_i64().unwrap(),
                money(&i["spend"]),
            )
        })
        .collect();
    assert_eq!(got, expected, "most spend first");
    let file = f
        .app
        .get_raw(
            &analyst,
            &format!("/api/v1/analytics/by-category/export?{NOVEMBER}"),
        )
        .await;
    let records = csv_records(&file.body);
    assert_eq!(records.len(), items.len());
    for (record, item) in records.iter().zip(&items) {
        for (column, value) in record {
            assert_eq!(*value, text(&item[column.as_str()]), "{column}");
        }
    }

    let sites = f
        .app
        .get_as(
            &analyst,
            &format!("/api/v1/analytics/site-time?period=week&{NOVEMBER}"),
        )
        .await;
    let items = sites.data()["items"].as_array().unwrap().clone();
    let rows: Vec<(String, String, i64)> = items
        .iter()
        .map(|i| {
            (
                text(&i["bucket"]),
                text(&i["site_name"]),
                i["sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        ("2025-11-03".to_owned(), "Beijing".to_owned(), 3),
        ("2025-11-03".to_owned(), "Shanghai".to_owned(), 2),
        ("2025-11-03".to_owned(), "Guangzhou".to_owned(), 4),
        ("2025-11-10".to_owned(), "Beijing".to_owned(), 1),
    ];
    let mut sorted = rows.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    let file = f
        .app
        .get_raw(
            &analyst,
            &format!("/api/v1/analytics/site-time/export?period=week&{NOVEMBER}"),
        )
        .await;
    let records = csv_records(&file.body);
    assert_eq!(records.len(), items.len());
    for (record, item) in records.iter().zip(&items) {
        for (column, value) in record {
            assert_eq!(*value, text(&item[column.as_str()]), "{column}");
        }
    }

    let distribution = f
        .app
        .get_as(
            &analyst,
            &format!("/api/v1/analytics/player-distribution?{NOVEMBER}"),
        )
        .await;
    let data = distribution.data();
    let items = data["items"].as_array().unwrap().clone();
    for (app, name) in [(f.arena, "VR Arena"), (f.zombies, "Zombie Night")] {
        let item = items
            .iter()
            .find(|i| i["app_id"] == app.to_string())
            .unwrap();
        assert_eq!(item["app_name"], name);
        let mut buckets = [0i64; 4];
        for u in f
            .usage
            .iter()
            .filter(|u| u.app == app && u.day.starts_with("2025-11"))
        {
            for (b, n) in buckets.iter_mut().zip(u.buckets) {
                *b += n;
            }
        }
        let got = [&item["upto_2"], &item["3_4"], &item["5_8"], &item["9_plus"]]
            .map(|v| v.as_i64().unwrap());
        assert_eq!(got, buckets, "{name}");
    }
    assert_eq!(data["total"]["sessions"], november(&f, |_| true).0);
    assert_eq!(data["total"]["upto_2"], 5);
    assert_eq!(data["total"]["9_plus"], 1);
    let file = f
        .app
        .get_raw(
            &analyst,
            &format!("/api/v1/analytics/player-distribution/export?{NOVEMBER}"),
        )
        .await;
    let records = csv_records(&file.body);
    assert_eq!(records.len(), items.len() + 1);
    let total = records.last().unwrap();
    assert_eq!(total["app_name"], "total");
    assert_eq!(total["app_id"], "");
    assert_eq!(total["sessions"], text(&data["total"]["sessions"]));
}

#[tokio::test]
async fn an_operator_cannot_read_another_operators_or_everyones_statistics() {
    let f = fixture().await;
    let login = f.app.login_operator(f.beta).await;
    let reply = f
        .app
        .get_as(
            &login,
            &format!("/api/v1/operator/statistics/by-site?{NOVEMBER}"),
        )
        .await;
    let items = reply.data()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["site_id"], f.guangzhou.to_string());
    let reply = f.app.get_as(&login, "/api/v1/analytics/overview").await;
    reply.assert_error(403, "FORBIDDEN");
    let reply = f.app.get_as(&login, "/api/v1/finance/dashboard").await;
    reply.assert_error(403, "FORBIDDEN");
    let analyst = f.app.login(ActorRole::Analyst).await;
    let reply = f
        .app
        .get_as(&analyst, "/api/v1/operator/statistics/summary")
        .await;
    reply.assert_error(403, "FORBIDDEN");
}
