//! Per-request facts every handler needs: request id, trace id, caller IP, language.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use telemetry::{self, RequestFacts};
use tracing::Instrument;

/// Language of user-facing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// Longest accepted client-supplied request id; longer ones are replaced.
const REQUEST_ID_MAX: usize = 64;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub trace_id: String,
    pub source_ip: String,
    pub lang: Lang,
}

impl FromRequest for RequestContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(RequestContext::of(req)))
    }
}

/// The ids [`trace_requests`] gave a request, kept in its extensions so every handler and
/// every event of the request carries the same ones as its log lines and span.
#[derive(Debug, Clone)]
struct RequestIds {
    request_id: String,
    trace_id: String,
}

/// The caller's `X-Request-ID` when short and printable, else a new one.
fn request_id_of(header: Option<&str>) -> String {
    header
        .filter(|id| {
            !id.is_empty() && id.len() <= REQUEST_ID_MAX && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The outermost middleware: opens the request's span (joined to the caller's trace), runs
/// the request in it, and writes the access log line with its status and duration.
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request_id = request_id_of(header("X-Request-ID"));
    let method = req.method().clone();
    let (span, trace_id) = telemetry::request_span(&RequestFacts {
        protocol: "http",
        method: method.as_str(),
        path: req.path(),
        request_id: Some(&request_id),
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    });
    if !span.is_none()
        && let Some(route) = req.match_pattern()
    {
        telemetry::record_route(&span, method.as_str(), &route);
    }
    // The path is kept only when the access line will be written.
    let access_path =
        tracing::enabled!(target: "access", tracing::Level::DEBUG).then(|| req.path().to_owned());
    req.extensions_mut().insert(RequestIds {
        request_id: request_id.clone(),
        trace_id: trace_id.clone(),
    });
    telemetry::in_request(request_id, trace_id, async move {
        let outcome = next.call(req).instrument(span.clone()).await;
        let status = match &outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        telemetry::record_status(&span, status.as_u16());
        if let Some(path) = access_path {
            tracing::debug!(
                target: "access",
                method = %method,
                path = %path,
                status = status.as_u16(),
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        }
        outcome
    })
    .await
}

impl RequestContext {
    pub fn of(req: &HttpRequest) -> RequestContext {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        // Without the middleware (handlers tested alone) the ids are made here.
        let ids = req.extensions().get::<RequestIds>().cloned();
        let (request_id, trace_id) = match ids {
            Some(ids) => (ids.request_id, ids.trace_id),
            None => (
                request_id_of(header("X-Request-ID")),
                header("traceparent")
                    .and_then(trace_id_of)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            ),
        };
        RequestContext {
            request_id,
            trace_id,
            // The peer, or `X-Forwarded-For` when the peer is a trusted proxy.
            source_ip: crate::anomaly::http::client_ip_of(req),
            lang: negotiate(header("Accept-Language").unwrap_or("")),
        }
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id_of(traceparent: &str) -> Option<String> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// zh-CN unless `Accept-Language` ranks `en`/`en-*` strictly above `zh`/`zh-*`.
pub fn negotiate(accept_language: &str) -> Lang {
    let mut best_en: f32 = 0.0;
    let mut best_zh: f32 = 0.0;
    for item in accept_language.split(',') {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        match primary {
            "en" => best_en = best_en.max(q),
            "zh" => best_zh = best_zh.max(q),
            _ => {}
        }
    }
    if best_en > best_zh {
        Lang::En
    } else {
        Lang::Zh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_is_chinese_unless_english_ranks_higher() {
        assert_eq!(negotiate(""), Lang::Zh);
        assert_eq!(negotiate("en"), Lang::En);
        assert_eq!(negotiate("en-US,en;q=0.9"), Lang::En);
        assert_eq!(negotiate("zh-CN,en;q=0.8"), Lang::Zh);
        assert_eq!(negotiate("en;q=0.5,zh;q=0.9"), Lang::Zh);
        assert_eq!(negotiate("fr,en;q=0.3"), Lang::En);
        assert_eq!(negotiate("en;q=0.8,zh;q=0.8"), Lang::Zh);
    }
}
