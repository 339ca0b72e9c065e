//! Staff authentication: login with the bootstrap admin, HS256 access/refresh tokens, and
//! the role → scope table of the command API.

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ledger_core::metadata::ActorRole;
use ledger_core::staff::{ACCESS, REFRESH, StaffClaims};
use serde_json::json;

use crate::api_error::{ApiError, ErrorCode};
use crate::ledger::admin::Staff;
use crate::settings::Settings;

/// What a staff endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Apps: create, edit, price, range, retire.
    CatalogWrite,
    /// Operators: create, credentials, sites, grants, lock / unlock / deactivate.
    OperatorsWrite,
    /// Manual credits (bank transfers).
    CreditsWrite,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CatalogWrite => "catalog:write",
            Scope::OperatorsWrite => "operators:write",
            Scope::CreditsWrite => "credits:write",
        }
    }
}

/// The role → scope matrix of the command API, in one place.
pub fn role_scopes(role: ActorRole) -> &'static [Scope] {
    match role {
        ActorRole::SuperAdmin => &[
            Scope::CatalogWrite,
            Scope::OperatorsWrite,
            Scope::CreditsWrite,
        ],
        ActorRole::Admin => &[Scope::CatalogWrite, Scope::OperatorsWrite],
        ActorRole::Finance => &[Scope::CreditsWrite],
        ActorRole::HeadsetServer | ActorRole::Operator | ActorRole::System => &[],
    }
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    bootstrap_username: String,
    bootstrap_password_digest: [u8; 32],
    access_seconds: i64,
    refresh_seconds: i64,
}

fn digest(text: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Equal digests compared without an early exit.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub role: ActorRole,
}

impl Auth {
    pub fn new(settings: &Settings) -> Auth {
        let secret = settings.jwt_secret.expose().as_bytes();
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            bootstrap_username: settings.bootstrap_admin_username.clone(),
            bootstrap_password_digest: digest(settings.bootstrap_admin_password.expose()),
            access_seconds: settings.access_token_seconds,
            refresh_seconds: settings.refresh_token_seconds,
        }
    }

    fn token(&self, sub: &str, role: ActorRole, kind: &str, seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = StaffClaims {
            sub: sub.to_owned(),
            role,
            kind: kind.to_owned(),
            iat: now,
            exp: now + seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn tokens(&self, sub: &str, role: ActorRole) -> Tokens {
        Tokens {
            access_token: self.token(sub, role, ACCESS, self.access_seconds),
            refresh_token: self.token(sub, role, REFRESH, self.refresh_seconds),
            token_type: "Bearer",
            expires_in: self.access_seconds,
            role,
        }
    }

    /// The bootstrap super admin from configuration; full staff accounts come later.
    pub fn login(&self, username: &str, password: &str) -> Result<Tokens, ApiError> {
        let user_ok = same_digest(&digest(username), &digest(&self.bootstrap_username));
        let password_ok = same_digest(&digest(password), &self.bootstrap_password_digest);
        if user_ok && password_ok {
            Ok(self.tokens(username, ActorRole::SuperAdmin))
        } else {
            Err(ApiError::with(
                ErrorCode::Unauthorized,
                json!({ "reason": "invalid username or password" }),
            ))
        }
    }

    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let claims = self.decode(refresh_token, REFRESH)?;
        Ok(self.tokens(&claims.sub, claims.role))
    }

    fn decode(&self, token: &str, kind: &str) -> Result<StaffClaims, ApiError> {
        let unauthorized = || ApiError::new(ErrorCode::Unauthorized);
        let data = jsonwebtoken::decode::<StaffClaims>(
            token,
            &self.decoding,
            &Validation::new(Algorithm::HS256),
        )
        .map_err(|_| unauthorized())?;
        if data.claims.kind != kind {
            return Err(unauthorized());
        }
        Ok(data.claims)
    }

    /// The staff member behind `Authorization: Bearer …`, if their role holds `scope`.
    pub fn staff(&self, req: &HttpRequest, scope: Scope) -> Result<Staff, ApiError> {
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
        let claims = self.decode(token.trim(), ACCESS)?;
        if !role_scopes(claims.role).contains(&scope) {
            return Err(ApiError::with(
                ErrorCode::Forbidden,
                json!({ "missing_scope": scope.as_str() }),
            ));
        }
        Ok(Staff {
            id: claims.sub,
            role: claims.role,
        })
    }
}
