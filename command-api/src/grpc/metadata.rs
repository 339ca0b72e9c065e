//! What a headset call carries besides its message: the signing credentials (`x-api-key`,
//! `x-timestamp`, `x-signature`, `x-session-id`) and the request facts events record.
//!
//! Missing or malformed credentials are `INVALID_PARAMS` naming them, as the HTTP headers
//! are (same names, lower-cased as gRPC metadata keys are).

use ledger_core::headset_request::Header;
use prost::Message;
use tonic::Request;
use tonic::metadata::MetadataMap;

use crate::context::{RequestContext, negotiate};
use crate::ledger::headset::SignedRequest;

/// Longest accepted client-supplied request id (as over HTTP); longer ones are replaced.
const REQUEST_ID_MAX: usize = 64;

/// The signing credentials, checked for presence and shape (not yet for validity).
pub struct Credentials {
    key_id: Option<String>,
    timestamp: Option<(i64, String)>,
    signature: Option<String>,
    pub session_id: Option<String>,
}

fn text(metadata: &MetadataMap, key: &str) -> Option<String> {
    metadata
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Credentials {
    /// Reads the credentials; the names of missing or malformed ones go to `bad`.
    pub fn read(metadata: &MetadataMap, needs_session: bool, bad: &mut Vec<String>) -> Self {
        // The same length limits as the HTTP headers: an over-long value is malformed.
        let text = |header: Header| {
            text(metadata, header.grpc_name()).filter(|v| v.len() <= header.len_max())
        };
        let key_id = text(Header::ApiKey);
        let timestamp =
            text(Header::Timestamp).and_then(|raw| raw.parse::<i64>().ok().map(|ts| (ts, raw)));
        let signature = text(Header::Signature);
        let session_id = text(Header::SessionId);
        for (name, present) in [
            ("x-api-key", key_id.is_some()),
            ("x-timestamp", timestamp.is_some()),
            ("x-signature", signature.is_some()),
            ("x-session-id", session_id.is_some() || !needs_session),
        ] {
            if !present {
                bad.push(name.to_owned());
            }
        }
        Credentials {
            key_id,
            timestamp,
            signature,
            session_id,
        }
    }

    /// The key id of a call whose credentials passed [`Credentials::read`].
    pub fn key_id(&self) -> &str {
        self.key_id.as_deref().expect("checked")
    }

    /// The signed request of a call whose credentials passed [`Credentials::read`]: the
    /// canonical string is built over the call's full method path and the message's bytes.
    ///
    /// The bytes are the message as decoded and encoded again (fields in number order,
    /// default values left out, unknown fields dropped): what every standard protobuf
    /// encoder sends for these messages.
    pub fn signed(self, path: &str, message: &impl Message) -> SignedRequest {
        let (timestamp, timestamp_raw) = self.timestamp.expect("checked");
        SignedRequest {
            key_id: self.key_id.expect("checked"),
            timestamp,
            timestamp_raw,
            signature: self.signature.expect("checked"),
            method: "POST",
            path: path.to_owned(),
            body: message.encode_to_vec(),
        }
    }
}

/// The request facts of a call: `x-request-id` (or a new one), the trace id of a W3C
/// `traceparent`, the peer's IP, and the language of `accept-language`.
pub fn context<T>(request: &Request<T>) -> RequestContext {
    let metadata = request.metadata();
    let header = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    let request_id = header("x-request-id")
        .filter(|id| {
            !id.is_empty() && id.len() <= REQUEST_ID_MAX && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // The call's span (opened by the server, see `call_span`) carries the same ids.
    telemetry::record_request_id(&request_id);
    let trace_id = telemetry::current_trace_id()
        .or_else(|| {
            header("traceparent")
                .and_then(|traceparent| traceparent.split('-').nth(1))
                .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    telemetry::record_trace_id(&trace_id);
    RequestContext {
        request_id,
        trace_id,
        source_ip: request
            .remote_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        lang: negotiate(header("accept-language").unwrap_or("")),
    }
}
