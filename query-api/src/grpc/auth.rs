//! The caller of a gRPC call: `authorization: Bearer <access token>` metadata, checked exactly
//! as the HTTP API checks its header (`crate::auth`): signature and kind of the token, live
//! login session with the same role, then the role's scope.

use ledger_core::access::Access;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

use super::GrpcState;
use crate::auth::Caller;
use crate::errors::ApiError;

/// The caller when its token and session are valid and its role passes `access`.
pub async fn authorize(
    state: &GrpcState,
    metadata: &MetadataMap,
    access: Access,
) -> Result<Caller, ApiError> {
    let header = match metadata.get("authorization") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::Unauthorized("authorization is not text"))?,
        ),
        None => None,
    };
    let claims = state.verifier.verify(header)?;
    let account_id =
        Uuid::try_parse(&claims.sub).map_err(|_| ApiError::Unauthorized("subject is no id"))?;
    let role = state
        .store
        .live_session_role(claims.sid, account_id)
        .await?
        .ok_or(ApiError::Unauthorized("session not live"))?;
    if role != claims.role.as_str() {
        return Err(ApiError::Unauthorized("role differs from the account's"));
    }
    if !access.allows(claims.role) {
        return Err(ApiError::Forbidden { access });
    }
    Ok(Caller {
        account_id,
        role: claims.role,
    })
}
