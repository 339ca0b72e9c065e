//! The analysts' views across every operator, as JSON and as CSV files (the same rows,
//! streamed through [`crate::export`]): overview, operator × app, operator category, site ×
//! time, and the player-count distribution per app.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;

use super::{PeriodParams, bucket};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::export::{self, Cell, Column, Export, Kind};
use crate::params::Query;
use crate::store::{Bucket, DayRange, StatsClock};
use crate::views::stats::{
    AppDistribution, CategoryFigures, OperatorAppFigures, OverviewView, PlayerDistribution,
    SiteTimeFigures,
};

/// The clock and the period of a request that takes `from` and `to` (and, when
/// `with_bucket`, `period`).
async fn decode(
    state: &AppState,
    req: &HttpRequest,
    with_bucket: bool,
) -> Result<(StatsClock, DayRange, Bucket), ApiError> {
    let allowed: &[&str] = if with_bucket {
        &["from", "to", "period"]
    } else {
        &["from", "to"]
    };
    let mut q = Query::parse(req.query_string(), allowed);
    let bucket = bucket(&mut q, Bucket::Day);
    let period = PeriodParams::decode(&mut q);
    let (bucket, period) = q.finish((bucket, period))?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok((clock, range, bucket))
}

/// `analytics-{name}-{from}-{to}`.
fn file_stem(name: &str, range: DayRange) -> String {
    format!("analytics-{name}-{}-{}", range.from, range.to)
}

/// A CSV download of rows already summed (their number is bounded by the groups, not the
/// history).
fn csv<T: Send + 'static>(
    name: &str,
    range: DayRange,
    columns: &'static [Column],
    cells: fn(T) -> Vec<Cell>,
    rows: Vec<T>,
) -> HttpResponse {
    let export = Export {
        file_stem: file_stem(name, range),
        columns,
        cells,
    };
    export::csv(export, stream::iter(rows.into_iter().map(Ok)))
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

pub async fn overview(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    Ok(envelope::ok(
        state.store.analytics_overview(range, &clock).await?,
    ))
}

const OVERVIEW_COLUMNS: &[Column] = &[
    column("time_zone", Kind::Text),
    column("from", Kind::Text),
    column("to", Kind::Text),
    column("operators_total", Kind::Integer),
    column("operators_active", Kind::Integer),
    column("sessions", Kind::Integer),
    column("player_times", Kind::Integer),
    column("average_players", Kind::Text),
    column("revenue", Kind::Money),
    column("recharged", Kind::Money),
    column("refunded", Kind::Money),
];

fn overview_cells(o: OverviewView) -> Vec<Cell> {
    vec![
        Cell::Text(o.time_zone),
        Cell::Text(o.range.from.0.to_string()),
        Cell::Text(o.range.to.0.to_string()),
        Cell::Integer(o.operators_total),
        Cell::Integer(o.operators_active),
        Cell::Integer(o.sessions),
        Cell::Integer(o.player_times),
        Cell::Text(o.average_players),
        Cell::Money(o.revenue),
        Cell::Money(o.recharged),
        Cell::Money(o.refunded),
    ]
}

pub async fn overview_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    let row = state.store.analytics_overview(range, &clock).await?;
    Ok(csv(
        "overview",
        range,
        OVERVIEW_COLUMNS,
        overview_cells,
        vec![row],
    ))
}

pub async fn operator_app(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    Ok(envelope::ok(
        state.store.analytics_operator_app(range, &clock).await?,
    ))
}

const OPERATOR_APP_COLUMNS: &[Column] = &[
    column("operator_id", Kind::Text),
    column("username", Kind::Text),
    column("operator_name", Kind::Text),
    column("app_id", Kind::Text),
    column("app_name", Kind::Text),
    column("sessions", Kind::Integer),
    column("player_times", Kind::Integer),
    column("average_players", Kind::Text),
    column("spend", Kind::Money),
];

fn operator_app_cells(r: OperatorAppFigures) -> Vec<Cell> {
    vec![
        Cell::Text(r.operator_id.to_string()),
        Cell::Text(r.username),
        Cell::Text(r.operator_name),
        Cell::Text(r.app_id.to_string()),
        Cell::Text(r.app_name),
        Cell::Integer(r.figures.sessions),
        Cell::Integer(r.figures.player_times),
        Cell::Text(r.figures.average_players),
        Cell::Money(r.figures.spend),
    ]
}

pub async fn operator_app_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    let view = state.store.analytics_operator_app(range, &clock).await?;
    Ok(csv(
        "operator-app",
        range,
        OPERATOR_APP_COLUMNS,
        operator_app_cells,
        view.items,
    ))
}

pub async fn by_category(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    Ok(envelope::ok(
        state.store.analytics_by_category(range, &clock).await?,
    ))
}

const CATEGORY_COLUMNS: &[Column] = &[
    column("category", Kind::Text),
    column("operators", Kind::Integer),
    column("sessions", Kind::Integer),
    column("player_times", Kind::Integer),
    column("average_players", Kind::Text),
    column("spend", Kind::Money),
];

fn category_cells(r: CategoryFigures) -> Vec<Cell> {
    vec![
        Cell::Text(r.category),
        Cell::Integer(r.operators),
        Cell::Integer(r.figures.sessions),
        Cell::Integer(r.figures.player_times),
        Cell::Text(r.figures.average_players),
        Cell::Money(r.figures.spend),
    ]
}

pub async fn by_category_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    let view = state.store.analytics_by_category(range, &clock).await?;
    Ok(csv(
        "by-category",
        range,
        CATEGORY_COLUMNS,
        category_cells,
        view.items,
    ))
}

/// `period` (day, week or month; day by default): each site's figures per bucket.
pub async fn site_time(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, bucket) = decode(&state, &req, true).await?;
    Ok(envelope::ok(
        state
            .store
            .analytics_site_time(range, bucket, &clock)
            .await?,
    ))
}

const SITE_TIME_COLUMNS: &[Column] = &[
    column("bucket", Kind::Text),
    column("operator_id", Kind::Text),
    column("site_id", Kind::Text),
    column("site_name", Kind::Text),
    column("sessions", Kind::Integer),
    column("player_times", Kind::Integer),
    column("average_players", Kind::Text),
    column("spend", Kind::Money),
];

fn site_time_cells(r: SiteTimeFigures) -> Vec<Cell> {
    vec![
        Cell::Text(r.bucket.0.to_string()),
        Cell::Text(r.operator_id.to_string()),
        Cell::Text(r.site_id.to_string()),
        Cell::Text(r.site_name),
        Cell::Integer(r.figures.sessions),
        Cell::Integer(r.figures.player_times),
        Cell::Text(r.figures.average_players),
        Cell::Money(r.figures.spend),
    ]
}

pub async fn site_time_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, bucket) = decode(&state, &req, true).await?;
    let view = state
        .store
        .analytics_site_time(range, bucket, &clock)
        .await?;
    Ok(csv(
        &format!("site-time-{}", bucket.as_str()),
        range,
        SITE_TIME_COLUMNS,
        site_time_cells,
        view.items,
    ))
}

pub async fn player_distribution(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    Ok(envelope::ok(
        state
            .store
            .analytics_player_distribution(range, &clock)
            .await?,
    ))
}

const PLAYER_DISTRIBUTION_COLUMNS: &[Column] = &[
    column("app_id", Kind::Text),
    column("app_name", Kind::Text),
    column("sessions", Kind::Integer),
    column("upto_2", Kind::Integer),
    column("3_4", Kind::Integer),
    column("5_8", Kind::Integer),
    column("9_plus", Kind::Integer),
];

/// One app's row, or the total (no app id, name `total`).
fn player_distribution_cells(r: (Option<AppDistribution>, PlayerDistribution)) -> Vec<Cell> {
    let (app, d) = r;
    let (id, name) = match app {
        Some(app) => (Cell::Text(app.app_id.to_string()), Cell::Text(app.app_name)),
        None => (Cell::Empty, Cell::Text("total".to_owned())),
    };
    vec![
        id,
        name,
        Cell::Integer(d.sessions),
        Cell::Integer(d.upto_2),
        Cell::Integer(d.from_3_to_4),
        Cell::Integer(d.from_5_to_8),
        Cell::Integer(d.from_9),
    ]
}

pub async fn player_distribution_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (clock, range, _) = decode(&state, &req, false).await?;
    let view = state
        .store
        .analytics_player_distribution(range, &clock)
        .await?;
    let mut rows: Vec<_> = view
        .items
        .into_iter()
        .map(|app| {
            let d = app.distribution.clone();
            (Some(app), d)
        })
        .collect();
    rows.push((None, view.total));
    Ok(csv(
        "player-distribution",
        range,
        PLAYER_DISTRIBUTION_COLUMNS,
        player_distribution_cells,
        rows,
    ))
}
