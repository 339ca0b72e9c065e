//! Who is calling: HS256 access / refresh tokens bound to login sessions, and the check of
//! every staff and operator route against what [`super::endpoints::ENDPOINTS`] says it needs.

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ledger_core::access::{Access, Scope, find_endpoint};
use ledger_core::ids::OperatorId;
use ledger_core::metadata::ActorRole;
use ledger_core::staff::{ACCESS, REFRESH, StaffClaims};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::sessions::Session;
use crate::accounts::{AccountId, AccountKind, Accounts};
use crate::api_error::{ApiError, ErrorCode};
use crate::ledger::admin::Staff;
use crate::settings::Settings;

/// Longest `Authorization` header looked at; anything longer is not one of our tokens.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Who is calling: the account behind a live session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Operator id for operators, staff id for staff.
    pub account_id: String,
    pub role: ActorRole,
    /// The login session the token belongs to.
    pub session_id: Uuid,
}

impl Caller {
    /// The caller's own operator id; only operators have one.
    pub fn operator_id(&self) -> Result<OperatorId, ApiError> {
        if self.role != ActorRole::Operator {
            return Err(ApiError::with(
                ErrorCode::Forbidden,
                json!({ "missing_scope": Scope::OwnRead.as_str() }),
            ));
        }
        self.account_id
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized))
    }

    /// The caller as the actor of a command.
    pub fn staff(&self) -> Staff {
        Staff {
            id: self.account_id.clone(),
            role: self.role,
        }
    }

    /// The caller's login account.
    pub fn account(&self) -> Result<AccountId, ApiError> {
        self.account_id
            .parse()
            .map(AccountId)
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized))
    }
}

/// A login's answer: a fresh token pair.
#[derive(Debug, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub role: ActorRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_seconds: i64,
    refresh_seconds: i64,
    pub accounts: Accounts,
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized)
}

impl Auth {
    pub fn new(settings: &Settings, accounts: Accounts) -> Auth {
        let secret = settings.jwt_secret.expose().as_bytes();
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_seconds: settings.access_token_seconds,
            refresh_seconds: settings.refresh_token_seconds,
            accounts,
        }
    }

    fn token(&self, session: &Session, kind: &str, generation: i32, seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = StaffClaims {
            sub: session.account_id.to_string(),
            role: session.role,
            sid: session.id,
            kind: kind.to_owned(),
            generation,
            iat: now,
            exp: now + seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn tokens(&self, session: &Session) -> Tokens {
        Tokens {
            access_token: self.token(session, ACCESS, 0, self.access_seconds),
            refresh_token: self.token(session, REFRESH, session.generation, self.refresh_seconds),
            token_type: "Bearer",
            expires_in: self.access_seconds,
            role: session.role,
            operator_id: (session.role == ActorRole::Operator)
                .then(|| session.account_id.to_string()),
        }
    }

    /// A new session for a staff member or an operator (`kind` picks the door).
    pub async fn login(
        &self,
        kind: AccountKind,
        username: &str,
        password: &str,
        source_ip: &str,
    ) -> Result<Tokens, ApiError> {
        let session = self
            .accounts
            .login(kind, username, password, source_ip)
            .await?;
        Ok(self.tokens(&session))
    }

    /// The next token pair of a session, for its current refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let claims = self.decode(refresh_token, REFRESH)?;
        let account = account_of(&claims)?;
        let session = self
            .accounts
            .refresh(claims.sid, account, claims.generation)
            .await?;
        Ok(self.tokens(&session))
    }

    /// Ends the caller's session: its tokens stop working at once.
    pub async fn logout(&self, caller: &Caller) -> Result<(), ApiError> {
        self.accounts.logout(caller.session_id).await
    }

    fn decode(&self, token: &str, kind: &str) -> Result<StaffClaims, ApiError> {
        let data = jsonwebtoken::decode::<StaffClaims>(token, &self.decoding, &validation())
            .map_err(|_| unauthorized())?;
        if data.claims.kind != kind {
            return Err(unauthorized());
        }
        Ok(data.claims)
    }

    /// The person behind `Authorization: Bearer …`, checked against what the request's route
    /// requires in [`super::endpoints::ENDPOINTS`]: 401 without a valid token of a live
    /// session, 403 naming the missing scope when the role lacks it.
    pub async fn caller(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let endpoint = req
            .match_pattern()
            .and_then(|pattern| {
                find_endpoint(super::endpoints::ENDPOINTS, req.method().as_str(), &pattern)
            })
            .ok_or_else(|| {
                tracing::error!(path = %req.path(), "route not declared in ENDPOINTS");
                ApiError::new(ErrorCode::InternalError)
            })?;
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_AUTHORIZATION_LEN)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(unauthorized)?;
        let claims = self.decode(token, ACCESS)?;
        let account = account_of(&claims)?;
        // Logout, password and role changes and disabling end sessions at once: every
        // request asks the database, not just the token.
        let live = self.accounts.live_role(claims.sid, account).await?;
        if live != Some(claims.role) {
            return Err(unauthorized());
        }
        if !endpoint.access.allows(claims.role) {
            let missing = match endpoint.access {
                Access::Scope(scope) => scope.as_str(),
                other => other.as_str(),
            };
            return Err(ApiError::with(
                ErrorCode::Forbidden,
                json!({ "missing_scope": missing }),
            ));
        }
        let caller = Caller {
            account_id: claims.sub,
            role: claims.role,
            session_id: claims.sid,
        };
        if let Ok(operator) = caller.operator_id() {
            telemetry::record_operator(operator);
        }
        Ok(caller)
    }
}

fn account_of(claims: &StaffClaims) -> Result<AccountId, ApiError> {
    claims
        .sub
        .parse()
        .map(AccountId)
        .map_err(|_| unauthorized())
}

/// Clock skew tolerated on `exp`, the same as the query API's.
const EXPIRY_LEEWAY_SECONDS: u64 = 30;

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = EXPIRY_LEEWAY_SECONDS;
    validation
}
