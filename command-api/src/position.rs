//! The read-your-writes token: every answer whose request appended events says which
//! transaction appended them, in `X-Ledger-Position` (the `xid8` of `events.tx_id`, in
//! decimal). A reader hands it back to query-api as `X-Ledger-Min-Position` and is served
//! only from a copy of the read models that has applied that transaction.
//!
//! The id comes back from the insert itself (`RETURNING tx_id`), so it costs no round trip.
//! Appends record it in a cell that [`middleware`] (HTTP) or [`scoped`] (a gRPC call, whose
//! answer carries it as `x-ledger-position` metadata) opens for each request; an append
//! outside a request (jobs) records nowhere. A request that appended several times answers the
//! highest id, which the projector applies last.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The response header carrying the token.
pub const HEADER: &str = "x-ledger-position";

tokio::task_local! {
    /// The highest transaction id this request appended with (0: none; PostgreSQL never
    /// hands out transaction ids below 3).
    static APPENDED: Arc<AtomicU64>;
}

/// Notes that the current request's events were committed by transaction `tx_id`.
pub fn record(tx_id: u64) {
    let _ = APPENDED.try_with(|appended| appended.fetch_max(tx_id, Ordering::Relaxed));
}

/// Runs `future` (one request or call) with a fresh cell; returns its output and the highest
/// transaction id it appended with, if any.
pub async fn scoped<F: Future>(future: F) -> (F::Output, Option<u64>) {
    let appended = Arc::new(AtomicU64::new(0));
    let output = APPENDED.scope(appended.clone(), future).await;
    let tx_id = appended.load(Ordering::Relaxed);
    (output, (tx_id != 0).then_some(tx_id))
}

/// Runs the request with a fresh cell and answers its highest appended transaction id.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (response, tx_id) = scoped(next.call(req)).await;
    let mut response = response?;
    if let Some(tx_id) = tx_id {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), HeaderValue::from(tx_id));
    }
    Ok(response)
}

/// The `tx_id` column as the insert returns it (`tx_id::text`).
pub fn parse(text: &str) -> u64 {
    text.parse()
        .expect("PostgreSQL renders an xid8 as a decimal u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_highest_transaction_of_a_request_is_kept() {
        let cell = Arc::new(AtomicU64::new(0));
        APPENDED
            .scope(cell.clone(), async {
                record(17);
                record(12);
            })
            .await;
        assert_eq!(cell.load(Ordering::Relaxed), 17);
        // Outside a request nothing is recorded, and nothing fails.
        record(99);
        assert_eq!(cell.load(Ordering::Relaxed), 17);
    }
}
