//! Identity carried by access and refresh tokens, shared by the command and query APIs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::metadata::ActorRole;

/// Claims of an access or refresh token (JWT, HS256). A token is only good while the login
/// session `sid` is live in `auth_sessions`: both APIs check that on every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffClaims {
    /// Account id: the operator id for operators, the staff id for staff (hyphenated uuid).
    pub sub: String,
    pub role: ActorRole,
    /// The login session (`auth_sessions.id`) the token belongs to.
    pub sid: Uuid,
    /// `access` or `refresh`: a refresh token is never accepted as an access token.
    pub kind: String,
    /// Refresh generation of the session when this refresh token was issued (0 in access
    /// tokens): presenting an older one again means it was copied, and ends the session.
    #[serde(rename = "gen")]
    pub generation: i32,
    pub iat: i64,
    pub exp: i64,
}

pub const ACCESS: &str = "access";
pub const REFRESH: &str = "refresh";
