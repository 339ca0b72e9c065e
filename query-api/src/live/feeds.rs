//! The two SSE routes. Each connection is a stream over the instance's hub: it takes its
//! operator's part of every update (or finance's figures), a heartbeat comment every
//! [`sse::HEARTBEAT`], and a `resync` event when it fell so far behind that updates were
//! dropped for it (it should refetch what it shows). Authentication is the usual [`Caller`].

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::Stream;
use ledger_core::ids::OperatorId;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::sse::{self, BALANCE, Frames, MESSAGES, RESYNC, TODAY, USAGE};
use super::{Live, LiveChanges, LiveHub, TodayView};
use crate::AppState;
use crate::auth::Caller;
use crate::errors::ApiError;
use crate::params::Query;
use crate::store::Store;
use crate::views::{BalanceView, UnreadCountView};

/// `GET /api/v1/operator/live`: `balance` at once, then `balance`, `usage` and `messages`
/// events of the caller's own operator.
pub async fn operator_live(
    caller: Caller,
    state: web::Data<AppState>,
    hub: web::Data<LiveHub>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    check_request(&req)?;
    // Subscribed before reading, so an update committed after the read is not missed (one
    // committed before may come again; `as_of_position` orders them).
    let updates = hub.subscribe();
    let balance = state
        .store
        .balance(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    let mut first = Frames::opening();
    first.event(BALANCE, &balance);
    let feed = OperatorFeed {
        operator_id,
        store: state.store.clone(),
        updates,
        heartbeat: heartbeat(),
    };
    Ok(sse::response(stream(first, feed)))
}

/// `GET /api/v1/finance/live`: `today` at once (once computed), then whenever it changes.
pub async fn finance_live(
    _caller: Caller,
    hub: web::Data<LiveHub>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_request(&req)?;
    let mut today = hub.today();
    let mut first = Frames::opening();
    if let Some(view) = today.borrow_and_update().clone() {
        first.event(TODAY, &*view);
    }
    let feed = FinanceFeed {
        today,
        heartbeat: heartbeat(),
    };
    Ok(sse::response(stream(first, feed)))
}

/// No query parameters, and a client that asks for an event stream.
fn check_request(req: &HttpRequest) -> Result<(), ApiError> {
    Query::parse(req.query_string(), &[]).finish(())?;
    if !sse::accepts_event_stream(req.headers().get(header::ACCEPT)) {
        return Err(ApiError::invalid(&["Accept: text/event-stream"]));
    }
    Ok(())
}

fn heartbeat() -> Interval {
    let mut interval = tokio::time::interval_at(Instant::now() + sse::HEARTBEAT, sse::HEARTBEAT);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// One connection's source of frames; `None` ends the stream.
trait Feed {
    async fn next(&mut self) -> Option<Frames>;
}

/// The opening frames, then the feed's, as response body chunks.
fn stream<F: Feed + 'static>(
    first: Frames,
    feed: F,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold((Some(first), feed), |(first, mut feed)| async move {
        let frames = match first {
            Some(first) => first,
            None => feed.next().await?,
        };
        Some((Ok(frames.into_bytes()), (None, feed)))
    })
}

/// What woke a connection up.
enum Wake<T> {
    Heartbeat,
    Update(T),
}

struct OperatorFeed {
    operator_id: OperatorId,
    store: Store,
    updates: broadcast::Receiver<Live>,
    heartbeat: Interval,
}

impl Feed for OperatorFeed {
    async fn next(&mut self) -> Option<Frames> {
        loop {
            let wake = tokio::select! {
                _ = self.heartbeat.tick() => Wake::Heartbeat,
                update = self.updates.recv() => Wake::Update(update),
            };
            let frames = match wake {
                Wake::Heartbeat => Frames::heartbeat(),
                Wake::Update(Ok(Live::Changes(changes))) => self.frames_for(&changes).await,
                Wake::Update(Ok(Live::Resync)) => resync("reconnected"),
                Wake::Update(Err(broadcast::error::RecvError::Lagged(_))) => resync("lagged"),
                Wake::Update(Err(broadcast::error::RecvError::Closed)) => return None,
            };
            if !frames.is_empty() {
                return Some(frames);
            }
        }
    }
}

impl OperatorFeed {
    /// This operator's part of a batch: nothing for most batches.
    async fn frames_for(&self, changes: &LiveChanges) -> Frames {
        let mut frames = Frames::default();
        let change = changes.operators.get(&self.operator_id);
        if let Some(change) = change {
            if let Some(at) = &change.balance {
                frames.event(
                    BALANCE,
                    &BalanceView {
                        operator_id: self.operator_id,
                        balance: at.balance,
                        as_of_position: at.position,
                    },
                );
            }
            for usage in &change.usage {
                frames.event(USAGE, usage);
            }
        }
        if changes.all_operators_messages || change.is_some_and(|c| c.messages) {
            match self.store.unread_count(self.operator_id).await {
                Ok(unread_count) => frames.event(MESSAGES, &UnreadCountView { unread_count }),
                Err(e) => {
                    tracing::warn!(error = %e, "live push: unread count unavailable");
                    frames.event(RESYNC, &json!({ "reason": "unavailable" }));
                }
            }
        }
        frames
    }
}

struct FinanceFeed {
    today: watch::Receiver<Option<Arc<TodayView>>>,
    heartbeat: Interval,
}

impl Feed for FinanceFeed {
    async fn next(&mut self) -> Option<Frames> {
        loop {
            let wake = tokio::select! {
                _ = self.heartbeat.tick() => Wake::Heartbeat,
                changed = self.today.changed() => Wake::Update(changed),
            };
            match wake {
                Wake::Heartbeat => return Some(Frames::heartbeat()),
                Wake::Update(Err(_)) => return None,
                Wake::Update(Ok(())) => {
                    // Only the latest value counts: a slow client skips to it, never lags.
                    if let Some(view) = self.today.borrow_and_update().clone() {
                        let mut frames = Frames::default();
                        frames.event(TODAY, &*view);
                        return Some(frames);
                    }
                }
            }
        }
    }
}

fn resync(reason: &str) -> Frames {
    let mut frames = Frames::default();
    frames.event(RESYNC, &json!({ "reason": reason }));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Secret, Settings};

    const MINE: &str = "0190a0b0-0000-7000-8000-000000000001";
    const OTHER: &str = "0190a0b0-0000-7000-8000-000000000009";

    /// A store that is never reached (connections open lazily).
    fn unreachable_store() -> Store {
        let settings = Settings::new(
            "postgres://nobody@127.0.0.1:1/none",
            Secret::new("a-secret-long-enough-for-hs256-0123456789"),
        );
        Store::new(&settings).ok().unwrap()
    }

    fn changes_of(operator: &str, balance: &str, position: i64) -> LiveChanges {
        LiveChanges::parse(
            format!(
                r#"{{"v":1,"finance":true,"operators":{{"{operator}":{{
                "balance":{{"balance":"{balance}","position":{position}}},
                "usage":[{{"session_id":"s{position}","site_id":"{operator}","app_id":"{operator}",
                "app_name":"A","player_count":2,"unit_price":"5.00","total_cost":"10.00",
                "balance_after":"{balance}","authorized_at":"2026-12-06T04:00:00Z",
                "position":{position}}}]}}}}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn feed(updates: broadcast::Receiver<Live>) -> OperatorFeed {
        OperatorFeed {
            operator_id: OperatorId(MINE.parse().unwrap()),
            store: unreachable_store(),
            updates,
            heartbeat: heartbeat(),
        }
    }

    fn text(frames: Frames) -> String {
        String::from_utf8(frames.into_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn an_operator_gets_its_own_balance_then_its_games_and_nothing_of_others() {
        let (_hub, updates) = broadcast::channel(4);
        let feed = feed(updates);
        let mine = text(feed.frames_for(&changes_of(MINE, "90.00", 7)).await);
        assert_eq!(
            mine,
            format!(
                "event: balance\ndata: {{\"operator_id\":\"{MINE}\",\"balance\":\"90.00\",\
                 \"as_of_position\":7}}\n\nevent: usage\ndata: {{\"session_id\":\"s7\",\
                 \"site_id\":\"{MINE}\",\"app_id\":\"{MINE}\",\"app_name\":\"A\",\
                 \"player_count\":2,\"unit_price\":\"5.00\",\"total_cost\":\"10.00\",\
                 \"balance_after\":\"90.00\",\"authorized_at\":\"2026-12-06T04:00:00Z\",\
                 \"position\":7}}\n\n"
            )
        );
        assert!(
            feed.frames_for(&changes_of(OTHER, "10.00", 8))
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_connection_that_fell_behind_is_told_to_resync() {
        let (hub, updates) = broadcast::channel(2);
        let mut feed = feed(updates);
        for position in 0..5 {
            hub.send(Live::Changes(Arc::new(changes_of(OTHER, "1.00", position))))
                .unwrap();
        }
        // Its own update comes last: it is still in the buffer after the lag.
        hub.send(Live::Changes(Arc::new(changes_of(MINE, "3.00", 9))))
            .unwrap();
        let frames = feed.next().await.unwrap();
        assert_eq!(
            text(frames),
            "event: resync\ndata: {\"reason\":\"lagged\"}\n\n"
        );
        // What is left of the backlog for another operator is skipped; then its own update.
        let frames = text(feed.next().await.unwrap());
        assert!(frames.starts_with("event: balance\n"), "{frames}");
        assert!(frames.contains("\"as_of_position\":9"), "{frames}");
    }
}
