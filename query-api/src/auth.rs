//! Staff access tokens and what each role may read.
//!
//! Every `/api` endpoint takes `Authorization: Bearer <jwt>`: HS256, signed with the secret
//! shared with the command API, claims = [`StaffClaims`] with `kind == "access"` (a refresh
//! token is refused). Handlers state the scope they need in their signature with
//! [`Authorized<R>`], so a handler cannot be reached without both checks having passed.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ledger_core::metadata::ActorRole;
use ledger_core::staff::{self, StaffClaims};

use crate::AppState;
use crate::errors::ApiError;
use crate::settings::Secret;

/// Clock skew tolerated on `exp` between the command API (issuer) and us.
pub const EXPIRY_LEEWAY_SECONDS: u64 = 30;

/// Longest `Authorization` header looked at; anything longer is not one of our tokens.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// What a caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Operators and their sites, grants, credentials (public parts) and headset servers.
    OperatorsRead,
    /// The app catalog.
    AppsRead,
    /// Balances, usage records and transactions.
    LedgerRead,
    /// The raw event store.
    AuditRead,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::OperatorsRead => "operators:read",
            Scope::AppsRead => "apps:read",
            Scope::LedgerRead => "ledger:read",
            Scope::AuditRead => "audit:read",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const ALL_READS: &[Scope] = &[
    Scope::OperatorsRead,
    Scope::AppsRead,
    Scope::LedgerRead,
    Scope::AuditRead,
];

/// The role matrix: the scopes each staff role holds. A role missing here holds none. For now
/// the three staff roles read everything; analyst and auditor roles will narrow this.
const ROLE_SCOPES: &[(ActorRole, &[Scope])] = &[
    (ActorRole::SuperAdmin, ALL_READS),
    (ActorRole::Admin, ALL_READS),
    (ActorRole::Finance, ALL_READS),
];

pub fn role_has_scope(role: ActorRole, scope: Scope) -> bool {
    ROLE_SCOPES
        .iter()
        .any(|(r, scopes)| *r == role && scopes.contains(&scope))
}

/// Checks staff tokens against the shared secret.
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

/// A scope an endpoint requires, as a type: `Authorized<LedgerRead>`.
pub trait Requirement {
    const SCOPE: Scope;
}

macro_rules! requirement {
    ($($name:ident => $scope:expr),* $(,)?) => {$(
        #[doc = concat!("Requires `", stringify!($name), "`.")]
        pub struct $name;
        impl Requirement for $name {
            const SCOPE: Scope = $scope;
        }
    )*};
}

requirement! {
    OperatorsRead => Scope::OperatorsRead,
    AppsRead => Scope::AppsRead,
    LedgerRead => Scope::LedgerRead,
    AuditRead => Scope::AuditRead,
}

/// Extractor: the caller holds a valid access token (else 401) whose role has `R::SCOPE`
/// (else 403 naming the missing scope).
pub struct Authorized<R: Requirement> {
    pub claims: StaffClaims,
    _requirement: PhantomData<R>,
}

impl<R: Requirement> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authorize::<R>(req))
    }
}

fn authorize<R: Requirement>(req: &HttpRequest) -> Result<Authorized<R>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered by build()");
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = state.verifier.verify(header)?;
    if !role_has_scope(claims.role, R::SCOPE) {
        return Err(ApiError::Forbidden {
            missing_scope: R::SCOPE,
        });
    }
    Ok(Authorized {
        claims,
        _requirement: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_staff_roles_hold_read_scopes() {
        for role in [ActorRole::SuperAdmin, ActorRole::Admin, ActorRole::Finance] {
            assert!(
                ALL_READS.iter().all(|s| role_has_scope(role, *s)),
                "{role:?}"
            );
        }
        for role in [
            ActorRole::Operator,
            ActorRole::HeadsetServer,
            ActorRole::System,
        ] {
            assert!(
                ALL_READS.iter().all(|s| !role_has_scope(role, *s)),
                "{role:?}"
            );
        }
    }
}
