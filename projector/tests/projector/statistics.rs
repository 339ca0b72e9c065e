//! The statistics tables: daily figures per operator, local day, site and app, and money
//! per operator and local day, against a direct computation over the test's own events.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use ledger_core::ids::{OperatorId, RechargeOrderId, RefundId, SiteId};
use ledger_core::metadata::ActorRole;
use ledger_core::money::Money;
use ledger_core::operator::{OperatorEvent, PaymentChannel};
use projector::{Error, READ_SCHEMA};
use tests::db::TestDb;
use tokio_postgres::Client;

use crate::support::*;

/// Seconds from `at(0)` (2025-11-21 12:30 UTC, 20:30 in Shanghai) to 2025-11-30 16:30 UTC,
/// which is already 00:30 on 1 December in Shanghai: the month boundary, half an hour in.
const NEW_MONTH_IN_SHANGHAI: i64 = 9 * 86_400 + 4 * 3_600;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// Asia/Shanghai has kept UTC+8 without daylight saving since 1991.
fn shanghai_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&FixedOffset::east_opt(8 * 3_600).unwrap())
        .date_naive()
}

fn utc_day(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

/// (operator, day, site, app) → sessions, player times, spend, and the four player buckets.
type UsageFigures = BTreeMap<(String, String, String, String), (i64, i64, String, [i64; 4])>;
/// (operator, day) → recharged, recharges, charged, charges, refunded, refunds.
type MoneyFigures = BTreeMap<(String, String), (String, i64, String, i64, String, i64)>;

fn add(total: &mut Money, amount: Money) {
    *total = total.checked_add(amount).unwrap();
}

/// The figures straight from the events, with days cut by `day_of`.
fn expected(
    events: &[(OperatorId, OperatorEvent)],
    day_of: fn(DateTime<Utc>) -> NaiveDate,
) -> (UsageFigures, MoneyFigures) {
    let mut usage: BTreeMap<_, (i64, i64, Money, [i64; 4])> = BTreeMap::new();
    // recharged, recharges, charged, charges, refunded, refunds
    let mut money: BTreeMap<_, (Money, i64, Money, i64, Money, i64)> = BTreeMap::new();
    let zero = (Money::ZERO, 0, Money::ZERO, 0, Money::ZERO, 0);
    for (operator, event) in events {
        let operator = operator.to_string();
        match event {
            OperatorEvent::GameAuthorized {
                site_id,
                app_id,
                player_count,
                total_cost,
                authorized_at,
                ..
            } => {
                let day = day_of(*authorized_at).to_string();
                let key = (
                    operator.clone(),
                    day.clone(),
                    site_id.to_string(),
                    app_id.to_string(),
                );
                let row = usage.entry(key).or_insert((0, 0, Money::ZERO, [0; 4]));
                row.0 += 1;
                row.1 += i64::from(*player_count);
                add(&mut row.2, *total_cost);
                let bucket = match player_count {
                    0..=2 => 0,
                    3..=4 => 1,
                    5..=8 => 2,
                    _ => 3,
                };
                row.3[bucket] += 1;
                let m = money.entry((operator, day)).or_insert(zero);
                add(&mut m.2, *total_cost);
                m.3 += 1;
            }
            OperatorEvent::BalanceCredited {
                amount,
                credited_at: t,
                ..
            }
            | OperatorEvent::RechargeSucceeded {
                amount,
                succeeded_at: t,
                ..
            } => {
                let m = money
                    .entry((operator, day_of(*t).to_string()))
                    .or_insert(zero);
                add(&mut m.0, *amount);
                m.1 += 1;
            }
            OperatorEvent::RefundApproved {
                amount,
                approved_at,
                ..
            } => {
                let m = money
                    .entry((operator, day_of(*approved_at).to_string()))
                    .or_insert(zero);
                add(&mut m.4, *amount);
                m.5 += 1;
            }
            _ => {}
        }
    }
    let usage = usage
        .into_iter()
        .map(|(k, (s, p, spend, b))| (k, (s, p, spend.to_string(), b)))
        .collect();
    let money = money
        .into_iter()
        .map(|(k, (a, b, c, d, e, f))| (k, (a.to_string(), b, c.to_string(), d, e.to_string(), f)))
        .collect();
    (usage, money)
}

async fn usage_table(client: &Client, schema: &str) -> UsageFigures {
    client
        .query(
            &format!(
                "SELECT operator_id::text, day::text, site_id::text, app_id::text, sessions, \
                        player_times, spend::text, sessions_upto_2, sessions_3_4, sessions_5_8, \
                        sessions_9_plus \
                 FROM {schema}.stats_usage_daily"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get(0), r.get(1), r.get(2), r.get(3)),
                (
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    [r.get(7), r.get(8), r.get(9), r.get(10)],
                ),
            )
        })
        .collect()
}

async fn money_table(client: &Client, schema: &str) -> MoneyFigures {
    client
        .query(
            &format!(
                "SELECT operator_id::text, day::text, recharged::text, recharges, charged::text, \
                        charges, refunded::text, refunds \
                 FROM {schema}.stats_money_daily"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                (r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7)),
            )
        })
        .collect()
}

async fn recorded_zone(client: &Client) -> String {
    client
        .query_one("SELECT time_zone FROM read.stats_settings", &[])
        .await
        .unwrap()
        .get(0)
}

/// Appends `events` of `operator` (as the operator, or as finance for a refund approval)
/// and keeps them for the expected figures.
async fn append(
    client: &Client,
    history: &mut Vec<(OperatorId, OperatorEvent)>,
    operator: OperatorId,
    events: Vec<OperatorEvent>,
) {
    let approval = events
        .iter()
        .any(|e| matches!(e, OperatorEvent::RefundApproved { .. }));
    let metadata = if approval {
        by_staff("fin-1", ActorRole::FinanceManager, 0)
    } else {
        by_operator(operator, 0)
    };
    append_operator_as(client, operator, &events, &metadata).await;
    history.extend(events.into_iter().map(|e| (operator, e)));
}

/// A refund of the whole balance: the request, then its approval.
async fn refund_all(
    client: &Client,
    history: &mut Vec<(OperatorId, OperatorEvent)>,
    op: &mut OperatorScript,
    seconds: i64,
) {
    let refund_id = RefundId::new();
    let request = OperatorEvent::RefundRequested {
        refund_id,
        requested_amount: op.balance,
        reason: "closing a site".to_owned(),
        requested_at: at(seconds - 60),
    };
    append(client, history, op.id, vec![request]).await;
    let approval = op.refund(refund_id, seconds);
    append(client, history, op.id, vec![approval]).await;
}

/// Two operators, three sites, three apps, games on both sides of local midnight and of the
/// month boundary, staff credits, an online recharge and refunds.
async fn seed(client: &Client) -> Vec<(OperatorId, OperatorEvent)> {
    let arena = AppFixture::new("VR Arena", "5.00");
    let zombies = AppFixture::new("Zombie Night", "8.50");
    let racing = AppFixture::new("Racing", "3.20");
    for app in [&arena, &zombies, &racing] {
        append_app(client, app.id, &[app.created(0)]).await;
    }
    let mut history = Vec::new();

    let mut beijing = OperatorScript::new();
    let hall = beijing.site;
    let second_site = SiteId::new();
    let mut setup = beijing.register(0);
    setup.push(OperatorEvent::SiteOpened {
        site_id: second_site,
        name: "Second hall".to_owned(),
        address: "2 Arcade Road".to_owned(),
        opened_at: at(0),
    });
    for app in [&arena, &zombies, &racing] {
        setup.push(beijing.grant(app, 0));
    }
    setup.push(beijing.credit("1000", 10));
    let order = RechargeOrderId::new();
    setup.push(beijing.recharge_ordered(order, PaymentChannel::Wechat, "300", 20));
    setup.push(beijing.recharge_succeeded(order, PaymentChannel::Wechat, "300", 30));
    append(client, &mut history, beijing.id, setup).await;

    // (site, app, players, seconds): 20:30, 23:30 and (next day) 00:30 in Shanghai, then
    // both sides of midnight into December, and later in December.
    let games = [
        (hall, &arena, 2, 60),
        (hall, &arena, 4, 3 * HOUR),
        (second_site, &zombies, 6, 4 * HOUR),
        (second_site, &racing, 10, NEW_MONTH_IN_SHANGHAI - HOUR),
        (hall, &zombies, 3, NEW_MONTH_IN_SHANGHAI),
        (hall, &zombies, 3, NEW_MONTH_IN_SHANGHAI + 60),
        (hall, &arena, 1, NEW_MONTH_IN_SHANGHAI + 2 * DAY),
    ];
    for (site, app, players, seconds) in games {
        beijing.site = site;
        let (session, charge) = beijing.authorize(app, players, seconds);
        let end = beijing.end(&session, 600, seconds + 600);
        append(client, &mut history, beijing.id, vec![charge, end]).await;
    }
    refund_all(
        client,
        &mut history,
        &mut beijing,
        NEW_MONTH_IN_SHANGHAI + 3 * DAY,
    )
    .await;

    let mut shanghai = OperatorScript::new();
    let mut setup = shanghai.register(5);
    setup.push(shanghai.grant(&arena, 5));
    setup.push(shanghai.grant(&zombies, 5));
    setup.push(shanghai.credit("500", 100));
    let (_, game) = shanghai.authorize(&arena, 9, 200);
    setup.push(game);
    let (_, game) = shanghai.authorize(&zombies, 2, 5 * DAY);
    setup.push(game);
    // A credit at 23:59 local on 30 November, another just after midnight.
    setup.push(shanghai.credit("50", NEW_MONTH_IN_SHANGHAI - 31 * 60 - 60));
    setup.push(shanghai.credit("70", NEW_MONTH_IN_SHANGHAI - 30 * 60 + 1));
    append(client, &mut history, shanghai.id, setup).await;
    refund_all(
        client,
        &mut history,
        &mut shanghai,
        NEW_MONTH_IN_SHANGHAI + DAY,
    )
    .await;
    let credit = shanghai.credit("40", NEW_MONTH_IN_SHANGHAI + DAY + HOUR);
    let (_, game) = shanghai.authorize(&arena, 5, NEW_MONTH_IN_SHANGHAI + DAY + 2 * HOUR);
    append(client, &mut history, shanghai.id, vec![credit, game]).await;
    history
}

#[tokio::test]
async fn daily_figures_equal_a_direct_computation_over_the_events() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let history = seed(&client).await;
    project_all_in_batches_of(&mut client, READ_SCHEMA, 3).await;

    let (usage, money) = expected(&history, shanghai_day);
    assert_eq!(usage_table(&client, READ_SCHEMA).await, usage);
    assert_eq!(money_table(&client, READ_SCHEMA).await, money);
    assert_eq!(recorded_zone(&client).await, "Asia/Shanghai");
    // The history does reach across local midnight and into the next month.
    let days: Vec<&str> = usage.keys().map(|k| k.1.as_str()).collect();
    for day in ["2025-11-21", "2025-11-22", "2025-11-30", "2025-12-01"] {
        assert!(days.contains(&day), "{day} in {days:?}");
    }
    assert_ne!(
        expected(&history, utc_day).0,
        usage,
        "the history has games whose local day is not their UTC day"
    );
}

#[tokio::test]
async fn small_batches_and_one_rebuild_give_identical_figures_and_verify_is_clean() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    seed(&client).await;
    project_all_in_batches_of(&mut client, READ_SCHEMA, 2).await;
    let usage = usage_table(&client, READ_SCHEMA).await;
    let money = money_table(&client, READ_SCHEMA).await;
    assert!(!usage.is_empty() && !money.is_empty());
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");

    projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert_eq!(usage_table(&client, READ_SCHEMA).await, usage);
    assert_eq!(money_table(&client, READ_SCHEMA).await, money);
    assert_eq!(recorded_zone(&client).await, "Asia/Shanghai");
}

#[tokio::test]
async fn verify_reports_a_figure_changed_behind_the_projectors_back() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    seed(&client).await;
    project_all(&mut client, READ_SCHEMA).await;
    client
        .batch_execute(
            "UPDATE read.stats_money_daily SET charged = charged + 1 \
             WHERE (operator_id, day) = (SELECT operator_id, day FROM read.stats_money_daily \
                                         ORDER BY 1, 2 LIMIT 1)",
        )
        .await
        .unwrap();
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    let tables: Vec<&str> = report.read.tables.iter().map(|t| t.table).collect();
    assert_eq!(tables, ["stats_money_daily"], "{report}");
}

#[tokio::test]
async fn run_refuses_a_schema_cut_in_another_zone_and_rebuild_switches_zones() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let history = seed(&client).await;
    project_all(&mut client, READ_SCHEMA).await;
    let config: tokio_postgres::Config = db.url.parse().unwrap();

    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        projector::run_in_zone(config.clone(), READ_SCHEMA, "UTC", std::future::pending()),
    )
    .await
    .expect("refuses at once");
    match refused {
        Err(
            ref e @ Error::TimeZoneChanged {
                ref recorded,
                ref configured,
                ..
            },
        ) => {
            assert_eq!(
                (recorded.as_str(), configured.as_str()),
                ("Asia/Shanghai", "UTC")
            );
            assert!(e.to_string().contains("projector rebuild"), "{e}");
        }
        other => panic!("expected a refused zone change, got {other:?}"),
    }
    let unknown = tokio::time::timeout(
        Duration::from_secs(10),
        projector::run_in_zone(config, READ_SCHEMA, "Mars/Olympus", std::future::pending()),
    )
    .await
    .expect("refuses at once");
    assert!(
        matches!(&unknown, Err(Error::UnknownTimeZone(zone)) if zone == "Mars/Olympus"),
        "{unknown:?}"
    );
    assert!(matches!(
        projector::rebuild_in_zone(&mut client, READ_SCHEMA, "Nowhere/Else").await,
        Err(Error::UnknownTimeZone(_))
    ));
    // Nothing was changed by the refusals.
    assert_eq!(recorded_zone(&client).await, "Asia/Shanghai");

    projector::rebuild_in_zone(&mut client, READ_SCHEMA, "UTC")
        .await
        .unwrap();
    assert_eq!(recorded_zone(&client).await, "UTC");
    let (usage, money) = expected(&history, utc_day);
    assert_eq!(usage_table(&client, READ_SCHEMA).await, usage);
    assert_eq!(money_table(&client, READ_SCHEMA).await, money);
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
}
