//! The `auth_sessions` table: one row per login. Tokens name their session; a token is good
//! only while its session is live, so logout, password changes, role changes and disabling
//! take effect at once, on every instance of both APIs.

use deadpool_postgres::GenericClient;
use ledger_core::metadata::ActorRole;
use uuid::Uuid;

use super::AccountId;
use crate::store::StoreError;

/// Why sessions end (`auth_sessions.revoked_reason`).
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const REFRESH_REUSED: &str = "refresh token reused";
    pub const PASSWORD_CHANGED: &str = "password changed";
    pub const ROLE_CHANGED: &str = "role changed";
    pub const DISABLED: &str = "login disabled";
}

/// A live login as its tokens describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub account_id: AccountId,
    pub role: ActorRole,
    /// Refresh generation: the refresh token of generation `n` is the only one accepted.
    pub generation: i32,
}

/// Opens a session for `account` lasting `ttl_seconds` (the refresh token's lifetime).
pub async fn open(
    client: &impl GenericClient,
    account: AccountId,
    role: ActorRole,
    source_ip: &str,
    ttl_seconds: i64,
) -> Result<Session, StoreError> {
    let id = Uuid::new_v4();
    let statement = client
        .prepare_cached(
            "INSERT INTO auth_sessions (id, account_id, source_ip, created_at, refreshed_at, \
                                        expires_at) \
             VALUES ($1, $2, $3, now(), now(), now() + $4::int8 * interval '1 second')",
        )
        .await?;
    client
        .execute(&statement, &[&id, &account.0, &source_ip, &ttl_seconds])
        .await?;
    Ok(Session {
        id,
        account_id: account,
        role,
        generation: 0,
    })
}

/// The role of `account` if `session` is live: not revoked, not expired, account active.
pub async fn live_role(
    client: &impl GenericClient,
    session: Uuid,
    account: AccountId,
) -> Result<Option<ActorRole>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT a.role FROM auth_sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.id = $1 AND a.id = $2 AND s.revoked_at IS NULL AND s.expires_at > now() \
               AND a.status = 'active'",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&session, &account.0])
        .await?
        .and_then(|row| super::parse_role(row.get(0))))
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current one: the session moved to the next generation.
    Rotated(Session),
    /// An older one: someone kept a copy, so the session is ended for everyone.
    Reused,
    /// The session is over (logged out, expired, account disabled).
    Ended,
}

/// Moves `session` to its next refresh generation if `generation` is its current one, and
/// extends it by `ttl_seconds`. One statement: of two concurrent uses of one refresh token,
/// exactly one wins and the other counts as reuse.
pub async fn rotate(
    client: &impl GenericClient,
    session: Uuid,
    account: AccountId,
    generation: i32,
    ttl_seconds: i64,
) -> Result<Rotation, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE auth_sessions s SET refresh_generation = s.refresh_generation + 1, \
                 refreshed_at = now(), expires_at = now() + $4::int8 * interval '1 second' \
             FROM accounts a \
             WHERE s.id = $1 AND s.account_id = $2 AND a.id = s.account_id \
               AND s.refresh_generation = $3 AND s.revoked_at IS NULL AND s.expires_at > now() \
               AND a.status = 'active' \
             RETURNING s.refresh_generation, a.role",
        )
        .await?;
    let rotated = client
        .query_opt(
            &statement,
            &[&session, &account.0, &generation, &ttl_seconds],
        )
        .await?;
    if let Some(row) = rotated {
        let role = super::parse_role(row.get(1))
            .ok_or_else(|| StoreError::Corrupt("account role".to_owned()))?;
        return Ok(Rotation::Rotated(Session {
            id: session,
            account_id: account,
            role,
            generation: row.get(0),
        }));
    }
    let reuse = client
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $4 \
             WHERE id = $1 AND account_id = $2 AND refresh_generation > $3 \
               AND revoked_at IS NULL",
        )
        .await?;
    let revoked = client
        .execute(
            &reuse,
            &[&session, &account.0, &generation, &reason::REFRESH_REUSED],
        )
        .await?;
    Ok(if revoked > 0 {
        Rotation::Reused
    } else {
        Rotation::Ended
    })
}

/// Ends one session.
pub async fn revoke(
    client: &impl GenericClient,
    session: Uuid,
    why: &str,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    client.execute(&statement, &[&session, &why]).await?;
    Ok(())
}

/// Ends every live session of `account` but `keep` (the caller's own, after its password
/// change).
pub async fn revoke_all(
    client: &impl GenericClient,
    account: AccountId,
    keep: Option<Uuid>,
    why: &str,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $3 \
             WHERE account_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        )
        .await?;
    client
        .execute(&statement, &[&account.0, &keep, &why])
        .await?;
    Ok(())
}
