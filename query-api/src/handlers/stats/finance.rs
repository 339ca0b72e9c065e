//! Finance's statistics: the day's money with its month, and the top customers.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;

use super::PeriodParams;
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::Query;

/// Customers listed when `limit` is not given.
pub const TOP_CUSTOMERS_DEFAULT: i64 = 10;
/// Most customers one answer lists.
pub const TOP_CUSTOMERS_MAX: i64 = 100;

/// `date` (a local day, today by default): its recharges, consumption, refunds and net, and
/// one point per day of its month up to it.
pub async fn dashboard(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["date"]);
    let date: Option<NaiveDate> = q.parsed("date");
    let date = q.finish(date)?;
    let clock = state.store.stats_clock().await?;
    let date = date.unwrap_or(clock.today);
    Ok(envelope::ok(
        state.store.finance_dashboard(date, &clock).await?,
    ))
}

/// `from`, `to`, `limit`: the operators who spent most, with their share of the revenue.
pub async fn top_customers(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["from", "to", "limit"]);
    let period = PeriodParams::decode(&mut q);
    let limit = q.limit(TOP_CUSTOMERS_DEFAULT, TOP_CUSTOMERS_MAX);
    let (period, limit) = q.finish((period, limit))?;
    let clock = state.store.stats_clock().await?;
    let range = period.resolve(clock.today)?;
    Ok(envelope::ok(
        state.store.top_customers(range, limit, &clock).await?,
    ))
}
