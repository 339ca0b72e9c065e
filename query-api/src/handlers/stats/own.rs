//! The operator's own statistics (the operator from the token): trend, by app, by site,
//! and the dashboard summary.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{PeriodParams, bucket};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::Query;
use crate::store::Bucket;

/// `period` (day, week or month; day by default), `from`, `to`: one point per bucket,
/// empty buckets included.
pub async fn trend(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["period", "from", "to"]);
    let bucket = bucket(&mut q, Bucket::Day);
    let period = PeriodParams::decode(&mut q);
    let (bucket, period) = q.finish((bucket, period))?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok(envelope::ok(
        state
            .store
            .operator_trend(operator_id, range, bucket, &clock)
            .await?,
    ))
}

/// Figures per app over `from`..`to`, most spend first.
pub async fn by_app(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["from", "to"]);
    let period = PeriodParams::decode(&mut q);
    let period = q.finish(period)?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok(envelope::ok(
        state
            .store
            .operator_by_app(operator_id, range, &clock)
            .await?,
    ))
}

/// Figures per site over `from`..`to`, most spend first.
pub async fn by_site(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["from", "to"]);
    let period = PeriodParams::decode(&mut q);
    let period = q.finish(period)?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok(envelope::ok(
        state
            .store
            .operator_by_site(operator_id, range, &clock)
            .await?,
    ))
}

/// The period's games and money, plus today's and this month's spend.
pub async fn summary(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["from", "to"]);
    let period = PeriodParams::decode(&mut q);
    let period = q.finish(period)?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok(envelope::ok(
        state
            .store
            .operator_summary(operator_id, range, &clock)
            .await?,
    ))
}
