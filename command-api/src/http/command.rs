//! The shape every authenticated command handler shares: the caller is checked first, then
//! the handler parses its path, decodes its body and calls the ledger in its own order, and
//! its value is answered in the success envelope (any error in the standard error body).

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev};
use futures_util::TryFutureExt;
use futures_util::future::MapOk;
use serde::Serialize;

use super::auth::Caller;
use super::body::read_limited;
use super::fields::Fields;
use super::{AppState, respond};
use crate::api_error::ApiError;
use crate::context::RequestContext;
use crate::wire::success;

/// What an authenticated command handler takes from the request, extracted together.
pub struct Command {
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
}

/// The parts as actix's own extractors give them (their errors unchanged).
type Parts = (HttpRequest, web::Data<AppState>, Payload);

impl FromRequest for Command {
    type Error = actix_web::Error;
    type Future = MapOk<<Parts as FromRequest>::Future, fn(Parts) -> Command>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        Parts::from_request(req, payload).map_ok(|(req, state, payload)| Command {
            req,
            payload,
            state,
        })
    }
}

impl Command {
    /// Runs `act` for the authenticated caller and answers its value with `status`.
    pub async fn run<T: Serialize>(
        self,
        status: StatusCode,
        act: impl AsyncFnOnce(Caller, Body, &AppState, &RequestContext) -> Result<T, ApiError>,
    ) -> HttpResponse {
        self.run_with_status(async |caller, body, state, ctx| {
            Ok((status, act(caller, body, state, ctx).await?))
        })
        .await
    }

    /// Like [`Command::run`] for a command whose outcome decides the status.
    pub async fn run_with_status<T: Serialize>(
        self,
        act: impl AsyncFnOnce(
            Caller,
            Body,
            &AppState,
            &RequestContext,
        ) -> Result<(StatusCode, T), ApiError>,
    ) -> HttpResponse {
        let Command {
            req,
            payload,
            state,
        } = self;
        let ctx = RequestContext::of(&req);
        let result = async {
            let caller = state.auth.caller(&req).await?;
            let body = Body {
                req: req.clone(),
                payload,
            };
            let (status, value) = act(caller, body, &state, &ctx).await?;
            Ok(success(status, &ctx.request_id, &value))
        }
        .await;
        respond(&ctx, result)
    }
}

/// The request body, read only when the handler asks for it: after the caller and the path's
/// ids are checked, so their errors come before any about the body (413 included).
pub struct Body {
    req: HttpRequest,
    payload: Payload,
}

impl Body {
    /// The body as a JSON object; anything else is `INVALID_PARAMS` naming `body`.
    pub async fn fields(self) -> Result<Fields, ApiError> {
        Fields::parse(&read_limited(&self.req, self.payload).await?, false)
    }

    /// Like [`Body::fields`], an empty body counting as `{}` (every field is optional).
    pub async fn fields_or_empty(self) -> Result<Fields, ApiError> {
        Fields::parse(&read_limited(&self.req, self.payload).await?, true)
    }

    /// A body that carries no fields: empty or `{}`.
    pub async fn nothing(self) -> Result<(), ApiError> {
        self.fields_or_empty().await?.finish()
    }
}

/// Parses a path segment as an id; a malformed one is `INVALID_PARAMS` naming it.
pub fn path_id<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_fields(&[name]))
}
