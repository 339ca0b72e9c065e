//! Per-request facts every handler needs: request id, trace id, caller IP, language.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

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

impl RequestContext {
    pub fn of(req: &HttpRequest) -> RequestContext {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let request_id = header("X-Request-ID")
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= REQUEST_ID_MAX
                    && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        RequestContext {
            request_id,
            trace_id: header("traceparent")
                .and_then(trace_id_of)
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            source_ip: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
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
