//! The staff audit log: who did what to which aggregate, from where, and when.

use actix_web::{HttpRequest, HttpResponse, web};

use super::audit::{valid_aggregate_id, valid_aggregate_type};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::StaffActionFilter;

/// Longest `actor_id` filter: staff ids are 36-character UUIDs.
const ACTOR_ID_MAX: usize = 128;

fn staff_action_filter(query_string: &str) -> Result<StaffActionFilter, ApiError> {
    let mut q = Query::parse(
        query_string,
        &[
            "actor_id",
            "action",
            "aggregate_type",
            "aggregate_id",
            "from",
            "to",
            "limit",
            "cursor",
        ],
    );
    let filter = StaffActionFilter {
        actor_id: q.text("actor_id", ACTOR_ID_MAX),
        // Actions are event types, named like aggregate types (`RefundApproved`).
        action: q.checked("action", valid_aggregate_type),
        aggregate_type: q.checked("aggregate_type", valid_aggregate_type),
        aggregate_id: q.checked("aggregate_id", valid_aggregate_id),
        from: q.time("from"),
        to: q.time("to"),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.time_range(filter.from, filter.to);
    q.finish(filter)
}

/// Newest first.
pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = staff_action_filter(req.query_string())?;
    Ok(envelope::ok(state.store.staff_actions(&filter).await?))
}
