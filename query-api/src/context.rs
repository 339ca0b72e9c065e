//! Per-request context: request id, message language, and the access log line.
//!
//! The outermost middleware takes the caller's `X-Request-ID` (or makes one), picks the
//! language of error messages from `Accept-Language`, runs the request with both in a
//! task-local so every error body can carry them, echoes `X-Request-ID`, and logs one line.

use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use telemetry::{self, RequestFacts};
use tracing::Instrument;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest caller-supplied request id kept; a longer or odd one is replaced by our own.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Language of error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// zh-CN, the default.
    Zh,
    En,
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub lang: Lang,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being served. Outside a request (never in practice) a fresh
/// id and the default language.
pub fn current() -> RequestContext {
    CONTEXT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| RequestContext {
            request_id: new_request_id(),
            lang: Lang::Zh,
        })
}

fn new_request_id() -> String {
    Uuid::now_v7().hyphenated().to_string()
}

/// Keeps a caller's request id when it is short and plainly printable.
fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= MAX_REQUEST_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| text.to_owned())
}

/// English when `Accept-Language` ranks `en`/`en-*` above `zh`/`zh-*`; zh-CN otherwise.
pub fn negotiate(accept_language: Option<&str>) -> Lang {
    let Some(header) = accept_language else {
        return Lang::Zh;
    };
    let (mut en, mut zh, mut any) = (None::<u16>, None::<u16>, 0u16);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(quality_thousandths))
            .unwrap_or(Some(1000));
        let Some(q) = quality else { continue };
        let primary = tag.split('-').next().unwrap_or("");
        match primary {
            "en" => en = Some(en.unwrap_or(0).max(q)),
            "zh" => zh = Some(zh.unwrap_or(0).max(q)),
            "*" => any = any.max(q),
            _ => {}
        }
    }
    // A language not named explicitly gets the wildcard's weight; a tie goes to zh-CN.
    if en.unwrap_or(any) > zh.unwrap_or(any) {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn quality_thousandths(text: &str) -> Option<u16> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    let q = whole + frac_value;
    (q <= 1000).then_some(q)
}

/// The outermost middleware (see the module documentation).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id =
        accept_request_id(req.headers().get(REQUEST_ID_HEADER)).unwrap_or_else(new_request_id);
    let lang = negotiate(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (span, trace_id) = telemetry::request_span(&RequestFacts {
        protocol: "http",
        method: req.method().as_str(),
        path: req.path(),
        request_id: Some(&request_id),
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    });
    if !span.is_none()
        && let Some(route) = req.match_pattern()
    {
        telemetry::record_route(&span, req.method().as_str(), &route);
    }
    // Method and path are kept only when the access line will be written.
    let access = tracing::enabled!(target: "access", tracing::Level::DEBUG)
        .then(|| (req.method().to_string(), req.path().to_owned()));
    let context = RequestContext {
        request_id: request_id.clone(),
        lang,
    };

    let outcome = CONTEXT
        .scope(context, async move {
            // An error that reaches here is rendered now, inside the scope, so its body carries
            // the request id and language (actix would render it later, outside).
            next.call(req).await.map_err(|error| {
                let response = error.error_response();
                (error, response)
            })
        })
        .instrument(span.clone());
    // The access line is written inside the request's scope, so it carries its ids.
    let outcome = telemetry::in_request(request_id.clone(), trace_id, async {
        let outcome = outcome.await;
        let status = match &outcome {
            Ok(response) => response.status().as_u16(),
            Err((_, response)) => response.status().as_u16(),
        };
        telemetry::record_status(&span, status);
        if let Some((method, path)) = &access {
            tracing::debug!(
                target: "access",
                method = %method,
                path = %path,
                status,
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        }
        outcome
    })
    .await;

    let request_id_value = HeaderValue::from_str(&request_id).ok();
    match outcome {
        Ok(mut response) => {
            if let Some(value) = request_id_value {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            Ok(response)
        }
        Err((error, mut response)) => {
            if let Some(value) = request_id_value {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            Err(InternalError::from_response(error.to_string(), response).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_only_when_ranked_above_chinese() {
        assert_eq!(negotiate(None), Lang::Zh);
        assert_eq!(negotiate(Some("en")), Lang::En);
        assert_eq!(negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(negotiate(Some("en;q=0.8,zh;q=0.9")), Lang::Zh);
        assert_eq!(negotiate(Some("en;q=0.9,zh;q=0.8")), Lang::En);
        assert_eq!(negotiate(Some("en,zh")), Lang::Zh);
        assert_eq!(negotiate(Some("fr")), Lang::Zh);
        assert_eq!(negotiate(Some("*;q=0.5,en")), Lang::En);
        assert_eq!(negotiate(Some("*,en;q=0.5")), Lang::Zh);
        assert_eq!(negotiate(Some("en;q=bogus")), Lang::Zh);
    }

    #[test]
    fn odd_request_ids_are_replaced() {
        let ok = HeaderValue::from_static("req-123_abc.9:x");
        assert_eq!(
            accept_request_id(Some(&ok)).as_deref(),
            Some("req-123_abc.9:x")
        );
        assert_eq!(
            accept_request_id(Some(&HeaderValue::from_static("has space"))),
            None
        );
        assert_eq!(
            accept_request_id(Some(&HeaderValue::from_str(&"a".repeat(129)).unwrap())),
            None
        );
        assert_eq!(accept_request_id(None), None);
    }
}
