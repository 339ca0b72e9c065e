//! Who is calling, and whether the route lets them in.
//!
//! Every route is declared in [`crate::endpoints::ENDPOINTS`] with the [`Access`] it needs
//! (the role → scope matrix itself is `ledger_core::access`, shared with the command API).
//! Handlers of protected routes take a [`Caller`]; extracting it:
//! 1. finds the request's `(method, route pattern)` in the table (a route missing there is a
//!    bug: 500, so an undeclared route can never be served unchecked);
//! 2. verifies `Authorization: Bearer <jwt>`: HS256 with the secret shared with the command
//!    API, claims = [`StaffClaims`] with `kind == "access"` (a refresh token is refused);
//! 3. checks the token's login session is live in `auth_sessions` (not revoked or expired,
//!    account active, same role), so logout, password changes and deactivation take effect
//!    at once, on every instance;
//! 4. checks the role holds the route's scope (403 naming it otherwise).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ledger_core::access::{Access, Endpoint, find_endpoint};
use ledger_core::ids::OperatorId;
use ledger_core::metadata::ActorRole;
use ledger_core::staff::{self, StaffClaims};
use uuid::Uuid;

use crate::AppState;
use crate::endpoints::ENDPOINTS;
use crate::errors::ApiError;
use crate::settings::Secret;

/// Clock skew tolerated on `exp` between the command API (issuer) and us.
pub const EXPIRY_LEEWAY_SECONDS: u64 = 30;

/// Longest `Authorization` header looked at; anything longer is not one of our tokens.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Checks access tokens against the shared secret.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(secret: &Secret) -> TokenVerifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = EXPIRY_LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenVerifier {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    /// The claims of a valid access token taken from an `Authorization` header value.
    pub fn verify(&self, authorization: Option<&str>) -> Result<StaffClaims, ApiError> {
        let value = authorization.ok_or(ApiError::Unauthorized("no Authorization header"))?;
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(ApiError::Unauthorized("Authorization header too long"));
        }
        let (scheme, token) = value
            .split_once(' ')
            .ok_or(ApiError::Unauthorized("not a bearer token"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized("not a bearer token"));
        }
        let claims = jsonwebtoken::decode::<StaffClaims>(token.trim(), &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::Unauthorized("token expired")
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    ApiError::Unauthorized("bad signature")
                }
                _ => ApiError::Unauthorized("malformed token"),
            })?
            .claims;
        if claims.kind != staff::ACCESS {
            return Err(ApiError::Unauthorized("not an access token"));
        }
        Ok(claims)
    }
}

/// The person behind a request: the account of a live login session whose role passed the
/// route's access check.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The operator's id for operators, the staff member's id for staff.
    pub account_id: Uuid,
    pub role: ActorRole,
}

impl Caller {
    /// The caller's own operator: `/api/v1/operator/*` routes take it from the token only,
    /// never from the request, so an operator cannot even name another operator's data.
    pub fn operator_id(&self) -> Result<OperatorId, ApiError> {
        if self.role != ActorRole::Operator {
            return Err(ApiError::Forbidden {
                access: Access::Scope(ledger_core::access::Scope::OwnRead),
            });
        }
        Ok(OperatorId(self.account_id))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// The entry of [`ENDPOINTS`] for the request's route; a route without one is a bug.
pub fn endpoint_of(req: &HttpRequest) -> Result<&'static Endpoint, ApiError> {
    req.match_pattern()
        .and_then(|pattern| find_endpoint(ENDPOINTS, req.method().as_str(), &pattern))
        .ok_or_else(|| {
            tracing::error!(method = %req.method(), path = %req.path(), "route not declared in ENDPOINTS");
            ApiError::RouteNotDeclared
        })
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let endpoint = endpoint_of(req)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered by build()");
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = state.verifier.verify(header)?;
    let account_id =
        Uuid::try_parse(&claims.sub).map_err(|_| ApiError::Unauthorized("subject is no id"))?;
    let role = state
        .store
        .live_session_role(claims.sid, account_id)
        .await?
        .ok_or(ApiError::Unauthorized("session not live"))?;
    // A role change revokes the account's sessions; a mismatch means a token we did not issue
    // for this account as it is now.
    if role != claims.role.as_str() {
        return Err(ApiError::Unauthorized("role differs from the account's"));
    }
    if !endpoint.access.allows(claims.role) {
        return Err(ApiError::Forbidden {
            access: endpoint.access,
        });
    }
    if claims.role == ActorRole::Operator {
        telemetry::record_operator(account_id);
    }
    Ok(Caller {
        account_id,
        role: claims.role,
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, ResponseError};

    use super::*;
    use crate::Settings;
    use crate::store::Store;

    const SECRET: &str = "unit-test-secret-0123456789abcdefghij";

    #[actix_web::test]
    async fn a_route_missing_from_the_table_is_refused_with_a_server_error() {
        let settings = Settings::new("postgres://nobody@127.0.0.1:1/none", Secret::new(SECRET));
        let state = web::Data::new(AppState {
            store: Store::new(&settings).unwrap(),
            verifier: TokenVerifier::new(&settings.jwt_secret),
        });
        let app = actix_test::init_service(App::new().app_data(state).route(
            "/api/v1/undeclared",
            web::get().to(|_caller: Caller| async { HttpResponse::Ok().finish() }),
        ))
        .await;
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/api/v1/undeclared")
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 500);
    }

    #[test]
    fn a_request_without_a_matched_route_has_no_endpoint() {
        let req = actix_test::TestRequest::get()
            .uri("/anything")
            .to_http_request();
        let error = endpoint_of(&req).unwrap_err();
        assert!(matches!(error, ApiError::RouteNotDeclared));
        assert_eq!(error.status_code(), 500);
    }

    #[test]
    fn only_operators_have_an_operator_id() {
        let id = Uuid::now_v7();
        let operator = Caller {
            account_id: id,
            role: ActorRole::Operator,
        };
        assert_eq!(operator.operator_id().unwrap(), OperatorId(id));
        let admin = Caller {
            account_id: id,
            role: ActorRole::SuperAdmin,
        };
        assert!(matches!(
            admin.operator_id(),
            Err(ApiError::Forbidden { .. })
        ));
    }
}
