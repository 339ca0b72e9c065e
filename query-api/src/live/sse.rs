//! The `text/event-stream` framing: named events with one-line JSON data, comment heartbeats
//! and the reconnection hint. Event names are part of the API (docs/openapi.yaml).

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use futures_util::Stream;
use serde::Serialize;

/// A comment line this often keeps proxies and the browser from timing an idle stream out.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// How long a browser waits before reconnecting a dropped stream (the `retry:` field).
pub const RETRY_MS: u64 = 3000;

/// Event names.
pub const BALANCE: &str = "balance";
pub const USAGE: &str = "usage";
pub const MESSAGES: &str = "messages";
pub const TODAY: &str = "today";
pub const RESYNC: &str = "resync";

/// Frames of one or more events, written out as one chunk.
#[derive(Debug, Default)]
pub struct Frames(String);

impl Frames {
    /// Starts a stream: the reconnection hint.
    pub fn opening() -> Frames {
        Frames(format!("retry: {RETRY_MS}\n\n"))
    }

    /// One event; `data` is serialized on one line (JSON never needs a raw newline).
    pub fn event(&mut self, name: &str, data: &impl Serialize) {
        let json = serde_json::to_string(data).expect("live views serialize");
        self.0.push_str("event: ");
        self.0.push_str(name);
        self.0.push_str("\ndata: ");
        self.0.push_str(&json);
        self.0.push_str("\n\n");
    }

    pub fn heartbeat() -> Frames {
        Frames(":\n\n".to_owned())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// Whether the client asked for an event stream (`EventSource` always does). Anything else
/// gets a JSON error instead of a response that never ends.
pub fn accepts_event_stream(accept: Option<&HeaderValue>) -> bool {
    accept.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().starts_with("text/event-stream"))
    })
}

/// The streaming response: not cached, not buffered by a proxy, not compressed.
pub fn response<S>(frames: S) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx would otherwise hold the events back in its buffer.
        .insert_header(("x-accel-buffering", "no"))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .streaming(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_with_name_and_one_line_of_data() {
        let mut frames = Frames::opening();
        frames.event(
            BALANCE,
            &serde_json::json!({"balance": "1.00", "text": "a\nb"}),
        );
        assert_eq!(
            String::from_utf8(frames.into_bytes().to_vec()).unwrap(),
            "retry: 3000\n\nevent: balance\ndata: {\"balance\":\"1.00\",\"text\":\"a\\nb\"}\n\n"
        );
    }

    #[test]
    fn only_clients_asking_for_an_event_stream_get_one() {
        let accept = |v: &'static str| accepts_event_stream(Some(&HeaderValue::from_static(v)));
        assert!(accept("text/event-stream"));
        assert!(accept("application/json, text/event-stream;q=0.9"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accepts_event_stream(None));
    }
}
