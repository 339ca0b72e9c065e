//! Logins of operators and staff: accounts with argon2id password hashes, failure counting
//! and lockout, and the sessions their tokens belong to.
//!
//! Layout:
//! - this file: [`Accounts`], the login service (log in, refresh, log out, live check), and
//!   [`verify_password`] for commands that ask for the password again.
//! - [`password`]: hashing and checking passwords off the async runtime.
//! - [`store`]: the `accounts` table.
//! - [`sessions`]: the `auth_sessions` table.
//!
//! What people did to an account (created, role changed, password changed, disabled) is an
//! event on the owner's stream; the rows here change in the transaction of that event
//! (see `ledger::SideWrite`). Failure counts and sessions are security state, not history,
//! and change on their own.

pub mod password;
pub mod sessions;
pub mod store;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ledger_core::ids::{OperatorId, StaffId};
use ledger_core::metadata::ActorRole;
use serde_json::json;
use uuid::Uuid;

use self::password::{HashError, PasswordHash, Passwords};
use self::sessions::{Rotation, Session};
use self::store::Admission;
use crate::api_error::{ApiError, ErrorCode};
use crate::settings::Settings;
use crate::store::{StoreError, classify};

/// An account's id: the operator id of an operator, the staff id of a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountId(pub Uuid);

impl From<OperatorId> for AccountId {
    fn from(id: OperatorId) -> Self {
        AccountId(id.0)
    }
}

impl From<StaffId> for AccountId {
    fn from(id: StaffId) -> Self {
        AccountId(id.0)
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Operators and staff log in at different doors; usernames are unique per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Operator,
    Staff,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Operator => "operator",
            AccountKind::Staff => "staff",
        }
    }

    pub fn parse(text: &str) -> Option<AccountKind> {
        match text {
            "operator" => Some(AccountKind::Operator),
            "staff" => Some(AccountKind::Staff),
            _ => None,
        }
    }
}

/// The roles a login can hold, as stored in `accounts.role`.
pub fn parse_role(text: &str) -> Option<ActorRole> {
    if text == ActorRole::Operator.as_str() {
        Some(ActorRole::Operator)
    } else {
        ActorRole::parse_staff(text)
    }
}

/// The login created with an operator or staff member.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    pub kind: AccountKind,
    pub username: String,
    pub role: ActorRole,
    /// `None`: no password yet, so no login (an operator created by staff without one).
    pub password_hash: Option<password::PasswordHash>,
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        tracing::error!(%error, "password hashing");
        ApiError::new(ErrorCode::InternalError)
    }
}

/// The answer to a wrong username or password: the same for both.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials)
}

/// `LOGIN_LOCKED` with the seconds left (the HTTP layer copies them to `Retry-After`).
fn login_locked(until: DateTime<Utc>) -> ApiError {
    let left = (until - Utc::now()).num_milliseconds();
    let seconds = (left + 999).div_euclid(1000).max(1);
    ApiError::with(
        ErrorCode::LoginLocked,
        json!({ "retry_after_seconds": seconds }),
    )
}

/// Whether `password` is the account's current one. An account without a password (or
/// none at all) never matches, after the same work as a real check.
pub async fn verify_password(
    pool: &Pool,
    passwords: &Passwords,
    account: AccountId,
    password: &str,
) -> Result<bool, StoreError> {
    let hash = {
        let client = pool.get().await?;
        store::find(&client, account)
            .await?
            .and_then(|row| row.password_hash)
    };
    Ok(passwords
        .verify(password, hash.as_ref().map(PasswordHash::as_str))
        .await)
}

/// Logging in and out, and whether a session is live.
pub struct Accounts {
    pool: Pool,
    pub passwords: Passwords,
    max_failures: i32,
    lockout_seconds: i64,
    /// A session lives as long as its newest refresh token.
    session_seconds: i64,
}

impl Accounts {
    pub fn new(settings: &Settings, pool: Pool, passwords: Passwords) -> Accounts {
        Accounts {
            pool,
            passwords,
            max_failures: settings.login_max_failures,
            lockout_seconds: settings.login_lockout_seconds,
            session_seconds: settings.refresh_token_seconds,
        }
    }

    /// Opens a session for `username` of `kind` if `password` is right, the login is not
    /// locked and the account is active. Wrong username and wrong password answer the same
    /// (after the same work); each wrong password counts towards the lockout.
    pub async fn login(
        &self,
        kind: AccountKind,
        username: &str,
        password: &str,
        source_ip: &str,
    ) -> Result<Session, ApiError> {
        // No connection is held while hashing: a burst of logins must not drain the pool.
        let account = {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            store::find_by_username(&client, kind, username).await?
        };
        let Some(account) = account else {
            self.passwords.verify(password, None).await;
            return Err(invalid_credentials());
        };
        if let Some(until) = account.locked_until.filter(|until| *until > Utc::now()) {
            return Err(login_locked(until));
        }
        if !self
            .passwords
            .verify(
                password,
                account.password_hash.as_ref().map(PasswordHash::as_str),
            )
            .await
        {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            let lock =
                store::record_failure(&client, account.id, self.max_failures, self.lockout_seconds)
                    .await?;
            // The attempt that reaches the limit is still just a wrong password; the lock
            // answers from the next one on.
            return Err(lock.map_or_else(invalid_credentials, login_locked));
        }
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(classify)?;
        match store::admit(&tx, account.id).await? {
            Admission::Admitted => {}
            Admission::Locked(until) => return Err(login_locked(until)),
            Admission::Disabled => return Err(ApiError::new(ErrorCode::AccountDeactivated)),
        }
        let session = sessions::open(
            &tx,
            account.id,
            account.role,
            source_ip,
            self.session_seconds,
        )
        .await?;
        tx.commit().await.map_err(classify)?;
        Ok(session)
    }

    /// The next generation of a session whose current refresh token this is; an older one
    /// ends the session. Anything but a rotation is 401.
    pub async fn refresh(
        &self,
        session: Uuid,
        account: AccountId,
        generation: i32,
    ) -> Result<Session, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        match sessions::rotate(&client, session, account, generation, self.session_seconds).await? {
            Rotation::Rotated(session) => Ok(session),
            Rotation::Reused => {
                tracing::warn!(%session, %account, "an old refresh token was presented: session revoked");
                Err(ApiError::new(ErrorCode::Unauthorized))
            }
            Rotation::Ended => Err(ApiError::new(ErrorCode::Unauthorized)),
        }
    }

    pub async fn logout(&self, session: Uuid) -> Result<(), ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        sessions::revoke(&client, session, sessions::reason::LOGOUT).await?;
        Ok(())
    }

    /// The account's current role if `session` is live (see [`sessions::live_role`]).
    pub async fn live_role(
        &self,
        session: Uuid,
        account: AccountId,
    ) -> Result<Option<ActorRole>, StoreError> {
        let client = self.pool.get().await?;
        sessions::live_role(&client, session, account).await
    }
}
