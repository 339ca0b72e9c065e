//! The event store for auditors: one stream, or everything in global order.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{Stream, StreamExt, stream};
use ledger_core::chain::{CHECKPOINT_EVERY, Checkpoint, ExportLine, ExportedEvent};

use crate::auth::Caller;
use crate::errors::ApiError;
use crate::params::Query;
use crate::store::StoreError;
use crate::{AppState, envelope, export};

/// Events per page when not asked for.
pub const AUDIT_LIMIT_DEFAULT: i64 = 100;
/// Most events per page: events are small, and auditors page through millions.
pub const AUDIT_LIMIT_MAX: i64 = 500;
/// Longest aggregate type name (`Operator`, `Application`, …).
const AGGREGATE_TYPE_MAX: usize = 64;
/// Longest aggregate id (our ids are 36-character UUIDs).
const AGGREGATE_ID_MAX: usize = 128;

pub(super) fn valid_aggregate_type(text: &str) -> bool {
    text.len() <= AGGREGATE_TYPE_MAX
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn valid_aggregate_id(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= AGGREGATE_ID_MAX
        && !text.chars().any(char::is_control)
}

struct StreamRequest {
    aggregate_type: String,
    aggregate_id: String,
    from_sequence: i64,
    limit: i64,
}

fn stream_request(
    aggregate_type: String,
    aggregate_id: String,
    query_string: &str,
) -> Result<StreamRequest, ApiError> {
    let mut bad = Vec::new();
    if !valid_aggregate_type(&aggregate_type) {
        bad.push("aggregate_type");
    }
    if !valid_aggregate_id(&aggregate_id) {
        bad.push("aggregate_id");
    }
    if !bad.is_empty() {
        return Err(ApiError::invalid(&bad));
    }
    let mut q = Query::parse(query_string, &["from_sequence", "limit"]);
    let request = StreamRequest {
        aggregate_type,
        aggregate_id,
        from_sequence: q.int("from_sequence", 1..=i64::MAX, 1),
        limit: q.limit(AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX),
    };
    q.finish(request)
}

/// The stream of an export: the same checks as the stream page, and no parameters.
fn export_request(
    aggregate_type: String,
    aggregate_id: String,
    query_string: &str,
) -> Result<(String, String), ApiError> {
    let mut bad = Vec::new();
    if !valid_aggregate_type(&aggregate_type) {
        bad.push("aggregate_type");
    }
    if !valid_aggregate_id(&aggregate_id) {
        bad.push("aggregate_id");
    }
    if !bad.is_empty() {
        return Err(ApiError::invalid(&bad));
    }
    Query::parse(query_string, &[]).finish((aggregate_type, aggregate_id))
}

/// `(after_position, limit)` of the global feed.
fn feed_request(query_string: &str) -> Result<(i64, i64), ApiError> {
    let mut q = Query::parse(query_string, &["after_position", "limit"]);
    let request = (
        q.int("after_position", 0..=i64::MAX, 0),
        q.limit(AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX),
    );
    q.finish(request)
}

pub async fn stream(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (aggregate_type, aggregate_id) = path.into_inner();
    let r = stream_request(aggregate_type, aggregate_id, req.query_string())?;
    let page = state
        .store
        .stream_events(&r.aggregate_type, &r.aggregate_id, r.from_sequence, r.limit)
        .await?
        .ok_or(ApiError::NotFound("stream"))?;
    Ok(envelope::ok(page))
}

pub async fn feed(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (after_position, limit) = feed_request(req.query_string())?;
    // An `after_position` that is no event's position cannot be placed in the commit order.
    let page = state
        .store
        .events_after(after_position, limit)
        .await?
        .ok_or(ApiError::invalid(&["after_position"]))?;
    Ok(envelope::ok(page))
}

/// The whole stream as a JSON Lines download (`ledger_core::chain::verify_jsonl` checks it
/// offline): one line per event in sequence order, a checkpoint every [`CHECKPOINT_EVERY`]
/// events and at the end.
pub async fn export(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (aggregate_type, aggregate_id) = path.into_inner();
    let (aggregate_type, aggregate_id) =
        export_request(aggregate_type, aggregate_id, req.query_string())?;
    let events = state
        .store
        .stream_export(&aggregate_type, &aggregate_id)
        .await?
        .ok_or(ApiError::NotFound("stream"))?;
    let file_stem = file_stem(&aggregate_type, &aggregate_id);
    Ok(export::ndjson(&file_stem, with_checkpoints(events)))
}

/// `{aggregate_type}-{aggregate_id}`, with any character a file name should not carry (ids
/// are checked only for control characters) replaced by `_`.
fn file_stem(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("{aggregate_type}-{aggregate_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What [`with_checkpoints`] carries between lines.
struct Checkpointing<S> {
    events: S,
    count: u64,
    /// Sequence and hash of the last event sent.
    last: Option<(i64, String)>,
    /// A checkpoint to send before reading on.
    queued: Option<Checkpoint>,
    /// The events ended or failed.
    done: bool,
}

impl<S> Checkpointing<S> {
    fn checkpoint(&self) -> Option<Checkpoint> {
        self.last.as_ref().map(|(sequence, hash)| Checkpoint {
            sequence: *sequence,
            hash: hash.clone(),
            events: self.count,
        })
    }
}

/// The export's lines: each event, then a checkpoint after every [`CHECKPOINT_EVERY`]th and
/// after the last (once, if the last was also a multiple). A failed read ends the lines
/// without the final checkpoint, so a cut-off file never verifies.
fn with_checkpoints(
    events: impl Stream<Item = Result<ExportedEvent, StoreError>> + Send + 'static,
) -> impl Stream<Item = Result<ExportLine, StoreError>> + Send + 'static {
    let state = Checkpointing {
        events: Box::pin(events),
        count: 0,
        last: None,
        queued: None,
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if let Some(checkpoint) = state.queued.take() {
            return Some((Ok(ExportLine::Checkpoint { checkpoint }), state));
        }
        if state.done {
            return None;
        }
        match state.events.next().await {
            Some(Ok(event)) => {
                state.count += 1;
                state.last = Some((event.sequence, event.hash.clone()));
                if state.count.is_multiple_of(CHECKPOINT_EVERY) {
                    state.queued = state.checkpoint();
                }
                Some((Ok(ExportLine::Event(event)), state))
            }
            Some(Err(e)) => {
                state.done = true;
                Some((Err(e), state))
            }
            None => {
                state.done = true;
                if state.count.is_multiple_of(CHECKPOINT_EVERY) {
                    return None;
                }
                let checkpoint = state.checkpoint()?;
                Some((Ok(ExportLine::Checkpoint { checkpoint }), state))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_names_are_checked() {
        assert!(valid_aggregate_type("Operator"));
        assert!(!valid_aggregate_type("1x"));
        assert!(!valid_aggregate_type("a b"));
        assert!(valid_aggregate_id("0190f5a4-7b1c-7d3e-8f00-123456789abc"));
        assert!(!valid_aggregate_id(""));
        assert!(!valid_aggregate_id(&"x".repeat(129)));
    }

    fn event(sequence: i64) -> ExportedEvent {
        ExportedEvent {
            aggregate_type: "Operator".into(),
            aggregate_id: "a".into(),
            sequence,
            position: sequence,
            event_type: "X".into(),
            event_version: "1".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
            hash: format!("h{sequence}"),
            recorded_at: "2026-11-22T09:00:00Z".into(),
        }
    }

    async fn checkpoints(n: i64) -> Vec<Checkpoint> {
        let events = stream::iter((1..=n).map(|s| Ok(event(s))));
        let lines: Vec<_> = with_checkpoints(events).collect().await;
        assert_eq!(lines.len() as i64, n + (n + 999) / 1000);
        lines
            .into_iter()
            .filter_map(|line| match line.unwrap() {
                ExportLine::Checkpoint { checkpoint } => Some(checkpoint),
                ExportLine::Event(_) => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_checkpoint_follows_every_thousandth_event_and_the_last_once() {
        let at = |n: i64| Checkpoint {
            sequence: n,
            hash: format!("h{n}"),
            events: n as u64,
        };
        assert_eq!(checkpoints(3).await, vec![at(3)]);
        assert_eq!(checkpoints(2_000).await, vec![at(1_000), at(2_000)]);
        assert_eq!(
            checkpoints(2_001).await,
            vec![at(1_000), at(2_000), at(2_001)]
        );
    }

    #[test]
    fn export_file_names_are_plain() {
        assert_eq!(file_stem("Operator", "a\"b/c é"), "Operator-a_b_c__");
    }
}
