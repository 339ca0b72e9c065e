//! Staff identity carried by access tokens, shared by the command and query APIs.

use serde::{Deserialize, Serialize};

use crate::metadata::ActorRole;

/// Claims of a staff access token (JWT, HS256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffClaims {
    /// Staff account id (the bootstrap admin's is its username).
    pub sub: String,
    pub role: ActorRole,
    /// `access` or `refresh`: a refresh token is never accepted as an access token.
    pub kind: String,
    pub iat: i64,
    pub exp: i64,
}

pub const ACCESS: &str = "access";
pub const REFRESH: &str = "refresh";
