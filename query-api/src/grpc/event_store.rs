//! `EventStore.StreamEvents` and `EventStore.GlobalEvents`: events streamed from keyset pages.
//!
//! Memory stays bounded: one page of [`PAGE_SIZE`] events is read at a time, and the next
//! page only when the client has taken the last one (tonic polls the stream as HTTP/2 flow
//! control lets it send, so a slow client slows the reads down). A page query is one short
//! statement on a pooled connection, so a long call holds no connection between pages.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{Stream, stream};
use ledger_core::access::{Access, Scope};
use proto::audit::v1::event_store_server::EventStore;
use proto::audit::v1::{Event, GlobalEventsRequest, StreamEventsRequest};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::GrpcState;
use super::auth::authorize;
use crate::errors::ApiError;
use crate::store::{LinkedEvent, StoreError};

/// Events read per database round trip: the HTTP pages' maximum.
pub const PAGE_SIZE: i64 = 500;
/// How often a following call looks for newly committed events once caught up.
pub const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// What both calls need: the same scope as the HTTP event pages.
const ACCESS: Access = Access::Scope(Scope::EventsRead);
/// Longest aggregate type name, as on the HTTP pages (`Operator`, `Application`, …).
const AGGREGATE_TYPE_MAX: usize = 64;
/// Longest aggregate id, as on the HTTP pages (our ids are 36-character UUIDs).
const AGGREGATE_ID_MAX: usize = 128;

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

/// The service.
pub struct EventStoreService {
    state: Arc<GrpcState>,
    /// Turns true when the server stops: following calls end then.
    stopping: watch::Receiver<bool>,
}

impl EventStoreService {
    pub fn new(state: Arc<GrpcState>, stopping: watch::Receiver<bool>) -> EventStoreService {
        EventStoreService { state, stopping }
    }
}

#[tonic::async_trait]
impl EventStore for EventStoreService {
    type StreamEventsStream = EventStream;
    type GlobalEventsStream = EventStream;

    async fn stream_events(
        &self,
        request: Request<StreamEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        authorize(&self.state, request.metadata(), ACCESS).await?;
        let request = request.into_inner();
        check_stream_request(&request)?;
        let store = &self.state.store;
        if !store
            .stream_exists(&request.aggregate_type, &request.aggregate_id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(ApiError::NotFound("stream").into());
        }
        let (aggregate_type, aggregate_id) = (request.aggregate_type, request.aggregate_id);
        let store = store.clone();
        let fetch: Fetch = Box::new(move |after_sequence, limit| {
            let (store, aggregate_type, aggregate_id) =
                (store.clone(), aggregate_type.clone(), aggregate_id.clone());
            Box::pin(async move {
                store
                    .linked_stream_page(&aggregate_type, &aggregate_id, after_sequence, limit)
                    .await
            })
        });
        let pages = Pages {
            fetch,
            cursor_of: |event| event.sequence,
            cursor: request.after_sequence,
            remaining: None,
            follow: None,
            stopping: self.stopping.clone(),
        };
        Ok(Response::new(Box::pin(pages.into_stream())))
    }

    async fn global_events(
        &self,
        request: Request<GlobalEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        authorize(&self.state, request.metadata(), ACCESS).await?;
        let request = request.into_inner();
        let mut bad = Vec::new();
        if request.after_position < 0 {
            bad.push("after_position");
        }
        if request.limit == Some(0) {
            bad.push("limit");
        }
        if !bad.is_empty() {
            return Err(ApiError::invalid(&bad).into());
        }
        let store = &self.state.store;
        // A position that is no event's cannot be placed in the commit order.
        if request.after_position > 0
            && !store
                .position_exists(request.after_position)
                .await
                .map_err(ApiError::from)?
        {
            return Err(ApiError::invalid(&["after_position"]).into());
        }
        let store = store.clone();
        let fetch: Fetch = Box::new(move |after_position, limit| {
            let store = store.clone();
            Box::pin(async move { store.linked_global_page(after_position, limit).await })
        });
        let pages = Pages {
            fetch,
            cursor_of: |event| event.position,
            cursor: request.after_position,
            remaining: request.limit,
            follow: request.follow.then_some(FOLLOW_POLL_INTERVAL),
            stopping: self.stopping.clone(),
        };
        Ok(Response::new(Box::pin(pages.into_stream())))
    }
}

fn check_stream_request(request: &StreamEventsRequest) -> Result<(), ApiError> {
    let mut bad = Vec::new();
    let t = &request.aggregate_type;
    if !(t.len() <= AGGREGATE_TYPE_MAX
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        bad.push("aggregate_type");
    }
    let id = &request.aggregate_id;
    if id.is_empty() || id.chars().count() > AGGREGATE_ID_MAX || id.chars().any(char::is_control) {
        bad.push("aggregate_id");
    }
    if request.after_sequence < 0 {
        bad.push("after_sequence");
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&bad))
    }
}

/// Reads the page after a cursor: `(cursor, limit)` → events.
type Fetch =
    Box<dyn Fn(i64, i64) -> BoxFuture<'static, Result<Vec<LinkedEvent>, StoreError>> + Send>;

/// A call's walk through the pages.
struct Pages {
    fetch: Fetch,
    /// The cursor an event leaves behind (its sequence, or its position).
    cursor_of: fn(&LinkedEvent) -> i64,
    cursor: i64,
    /// Events still to send when the call has a limit.
    remaining: Option<u64>,
    /// When caught up: wait this long and look again, rather than end.
    follow: Option<Duration>,
    /// The server is stopping: a following call ends rather than wait for more.
    stopping: watch::Receiver<bool>,
}

/// What the stream carries from one event to the next.
struct Walk {
    pages: Pages,
    buffered: VecDeque<LinkedEvent>,
    /// The last page was short: nothing more to read (unless following).
    caught_up: bool,
    ended: bool,
}

impl Pages {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Status>> + Send + 'static {
        let walk = Walk {
            pages: self,
            buffered: VecDeque::new(),
            caught_up: false,
            ended: false,
        };
        stream::unfold(walk, |mut walk| async move {
            loop {
                if walk.ended || walk.pages.remaining == Some(0) {
                    return None;
                }
                if let Some(event) = walk.buffered.pop_front() {
                    if let Some(remaining) = walk.pages.remaining.as_mut() {
                        *remaining -= 1;
                    }
                    return Some((Ok(event_message(event)), walk));
                }
                if walk.caught_up {
                    let interval = walk.pages.follow?;
                    // Until the client goes away (tonic then drops this stream) or the
                    // server stops.
                    let stopping = &mut walk.pages.stopping;
                    if *stopping.borrow_and_update() {
                        return None;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        _ = stopping.changed() => return None,
                    }
                }
                let limit = match walk.pages.remaining {
                    Some(remaining) => PAGE_SIZE.min(i64::try_from(remaining).unwrap_or(i64::MAX)),
                    None => PAGE_SIZE,
                };
                match (walk.pages.fetch)(walk.pages.cursor, limit).await {
                    Ok(page) => {
                        walk.caught_up = (page.len() as i64) < limit;
                        if let Some(last) = page.last() {
                            walk.pages.cursor = (walk.pages.cursor_of)(last);
                        }
                        walk.buffered.extend(page);
                    }
                    Err(e) => {
                        walk.ended = true;
                        return Some((Err(Status::from(ApiError::from(e))), walk));
                    }
                }
            }
        })
    }
}

fn event_message(event: LinkedEvent) -> Event {
    Event {
        position: event.position,
        aggregate_type: event.aggregate_type,
        aggregate_id: event.aggregate_id,
        sequence: event.sequence,
        event_type: event.event_type,
        event_version: event.event_version,
        payload: event.payload,
        metadata: event.metadata,
        recorded_at: event.recorded_at,
        hash: event.hash,
        previous_hash: event.previous_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
    ) -> StreamEventsRequest {
        StreamEventsRequest {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            after_sequence,
        }
    }

    fn bad_fields(request: &StreamEventsRequest) -> Vec<String> {
        match check_stream_request(request) {
            Ok(()) => Vec::new(),
            Err(ApiError::InvalidParams { fields }) => fields,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn stream_requests_name_every_bad_field() {
        assert!(
            bad_fields(&request(
                "Operator",
                "0190f5a4-7b1c-7d3e-8f00-123456789abc",
                0
            ))
            .is_empty()
        );
        assert_eq!(
            bad_fields(&request("1x", "", -1)),
            ["aggregate_type", "aggregate_id", "after_sequence"]
        );
        assert_eq!(
            bad_fields(&request("a b", &"x".repeat(129), 3)),
            ["aggregate_type", "aggregate_id"]
        );
    }

    fn event(n: i64) -> LinkedEvent {
        LinkedEvent {
            position: n,
            aggregate_type: "Operator".into(),
            aggregate_id: "a".into(),
            sequence: n,
            event_type: "X".into(),
            event_version: "1".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
            recorded_at: "2026-11-22T09:00:00Z".into(),
            hash: format!("h{n}"),
            previous_hash: format!("h{}", n - 1),
        }
    }

    /// Pages over events 1..=total, recording each (cursor, limit) asked for.
    fn pages_over(
        total: i64,
        remaining: Option<u64>,
        asked: Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    ) -> Pages {
        Pages {
            fetch: Box::new(move |cursor, limit| {
                asked.lock().unwrap().push((cursor, limit));
                let page: Vec<_> = (cursor + 1..=total.min(cursor + limit))
                    .map(event)
                    .collect();
                Box::pin(async move { Ok(page) })
            }),
            cursor_of: |event| event.position,
            cursor: 0,
            remaining,
            follow: None,
            stopping: watch::channel(false).1,
        }
    }

    async fn positions(pages: Pages) -> Vec<i64> {
        use futures_util::StreamExt;
        pages
            .into_stream()
            .map(|event| event.unwrap().position)
            .collect()
            .await
    }

    #[tokio::test]
    async fn pages_are_read_one_after_another_until_a_short_one() {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sent = positions(pages_over(1_200, None, asked.clone())).await;
        assert_eq!(sent, (1..=1_200).collect::<Vec<_>>());
        assert_eq!(*asked.lock().unwrap(), [(0, 500), (500, 500), (1_000, 500)]);
    }

    #[tokio::test]
    async fn a_limit_stops_the_call_and_shrinks_the_last_read() {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sent = positions(pages_over(1_200, Some(600), asked.clone())).await;
        assert_eq!(sent, (1..=600).collect::<Vec<_>>());
        assert_eq!(*asked.lock().unwrap(), [(0, 500), (500, 100)]);
    }

    #[tokio::test]
    async fn a_following_call_waits_for_new_events_and_ends_when_the_server_stops() {
        use futures_util::StreamExt;
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop, stopping) = watch::channel(false);
        let pages = Pages {
            follow: Some(Duration::from_millis(10)),
            stopping,
            ..pages_over(3, None, asked.clone())
        };
        let mut events = Box::pin(pages.into_stream());
        for position in 1..=3 {
            assert_eq!(events.next().await.unwrap().unwrap().position, position);
        }
        // Caught up: it keeps looking, and sends nothing.
        let waiting = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
        assert!(waiting.is_err(), "{waiting:?}");
        assert!(asked.lock().unwrap().len() > 2, "it polled while caught up");
        stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
        assert!(matches!(ended, Ok(None)), "{ended:?}");
    }
}
