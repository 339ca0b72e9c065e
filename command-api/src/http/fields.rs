//! JSON bodies as the HTTP edge sees them: [`ledger_core::body_fields`] does the decoding
//! (strict JSON, one typed getter per field, every bad field named); this module turns its
//! refusals into `INVALID_PARAMS`.
//!
//! Unknown fields: staff and operator commands refuse them ([`Fields::finish`]); the headset
//! protocol ignores them ([`Fields::finish_ignoring_unknown`]).

use std::ops::{Deref, DerefMut};

use ledger_core::body_fields::{BodyError, BodyFields};
use serde_json::json;

use crate::api_error::{ApiError, ErrorCode};

/// A body being decoded: the typed getters are [`BodyFields`]' (through `Deref`), only the
/// two ends (parse, finish) answer in [`ApiError`].
pub struct Fields(BodyFields);

impl Fields {
    /// The body must be a JSON object (an empty body counts as `{}` when `empty_ok`).
    pub fn parse(body: &[u8], empty_ok: bool) -> Result<Fields, ApiError> {
        Ok(Fields(BodyFields::parse(body, empty_ok)?))
    }

    /// Ok when every field decoded and none is unknown; otherwise `INVALID_PARAMS` naming
    /// each bad or unknown one.
    pub fn finish(self) -> Result<(), ApiError> {
        Ok(self.0.finish()?)
    }

    /// Like [`Fields::finish`] for bodies whose contract ignores unknown fields.
    pub fn finish_ignoring_unknown(self) -> Result<(), ApiError> {
        Ok(self.0.finish_ignoring_unknown()?)
    }
}

impl Deref for Fields {
    type Target = BodyFields;

    fn deref(&self) -> &BodyFields {
        &self.0
    }
}

impl DerefMut for Fields {
    fn deref_mut(&mut self) -> &mut BodyFields {
        &mut self.0
    }
}

/// `INVALID_PARAMS` naming the fields (or `body`), with a `reason` when the body as a whole
/// was refused (`malformed_json`, `nesting_too_deep`, `duplicate_key`, `not_an_object` with
/// the JSON type `found`).
impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> ApiError {
        let mut details = json!({ "fields": error.field_names() });
        if let Some(reason) = error.reason() {
            details["reason"] = json!(reason);
        }
        if let BodyError::NotAnObject { found } = error {
            details["found"] = json!(found);
        }
        ApiError::with(ErrorCode::InvalidParams, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_body_is_invalid_params_naming_its_shape() {
        let error = Fields::parse(b"[1]", false).err().unwrap();
        assert_eq!(error.code, ErrorCode::InvalidParams);
        assert_eq!(
            error.details,
            json!({ "fields": ["body"], "reason": "not_an_object", "found": "array" })
        );
        let error = Fields::parse(br#"{"a": 1, "a": 2}"#, false).err().unwrap();
        assert_eq!(
            error.details,
            json!({ "fields": ["a"], "reason": "duplicate_key" })
        );
        let error = Fields::parse("[".repeat(10_000).as_bytes(), false)
            .err()
            .unwrap();
        assert_eq!(error.details["reason"], "nesting_too_deep");
    }

    #[test]
    fn bad_fields_are_invalid_params_naming_each() {
        let mut f = Fields::parse(br#"{"n": "5", "extra": 1}"#, false).unwrap();
        assert_eq!(f.int("n"), None);
        let error = f.finish().err().unwrap();
        assert_eq!(error.details, json!({ "fields": ["n", "extra"] }));
    }
}
