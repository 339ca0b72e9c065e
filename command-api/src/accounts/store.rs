//! The `accounts` table: who can log in, with which password hash, and the mutable security
//! state of each login (failure count, lockout, disabled). Events say what people did; this
//! table is what a login checks.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use ledger_core::metadata::ActorRole;

use super::password::PasswordHash;
use super::{AccountId, AccountKind, NewAccount};
use crate::store::{StoreError, classify};

/// One account as a login sees it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: AccountId,
    pub kind: AccountKind,
    pub username: String,
    pub role: ActorRole,
    /// `None`: no password set, login refused.
    pub password_hash: Option<PasswordHash>,
    pub active: bool,
    pub locked_until: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, username, role, password_hash, status, locked_until";

fn row_of(row: &tokio_postgres::Row) -> Result<AccountRow, StoreError> {
    let role: &str = row.get(3);
    let kind: &str = row.get(1);
    Ok(AccountRow {
        id: AccountId(row.get(0)),
        kind: AccountKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind}")))?,
        username: row.get(2),
        role: super::parse_role(role)
            .ok_or_else(|| StoreError::Corrupt(format!("account role {role}")))?,
        password_hash: row.get::<_, Option<String>>(4).map(PasswordHash),
        active: row.get::<_, &str>(5) == "active",
        locked_until: row.get(6),
    })
}

/// The account of `kind` named `username`, whatever the case.
pub async fn find_by_username(
    client: &impl GenericClient,
    kind: AccountKind,
    username: &str,
) -> Result<Option<AccountRow>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE kind = $1 AND lower(username) = lower($2)"
        ))
        .await?;
    client
        .query_opt(&statement, &[&kind.as_str(), &username])
        .await?
        .as_ref()
        .map(row_of)
        .transpose()
}

pub async fn find(
    client: &impl GenericClient,
    id: AccountId,
) -> Result<Option<AccountRow>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
        .await?;
    client
        .query_opt(&statement, &[&id.0])
        .await?
        .as_ref()
        .map(row_of)
        .transpose()
}

/// Whether `username` is taken for `kind`, whatever the case. Operators registered before
/// logins existed only have their `operator_usernames` claim, so it is asked too.
pub async fn username_taken(
    client: &impl GenericClient,
    kind: AccountKind,
    username: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE kind = $1 AND lower(username) = lower($2)) \
             OR ($1 = 'operator' AND EXISTS \
                 (SELECT 1 FROM operator_usernames WHERE lower(username) = lower($2)))",
        )
        .await?;
    Ok(client
        .query_one(&statement, &[&kind.as_str(), &username])
        .await?
        .get(0))
}

/// Creates the login of a new operator or staff member (in the transaction of its first
/// event). A username taken meanwhile is `StoreError::Taken("accounts_username")`.
pub async fn insert(client: &impl GenericClient, new: &NewAccount) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO accounts (id, kind, username, role, password_hash, created_at, \
                                   password_changed_at) \
             VALUES ($1, $2, $3, $4, $5, now(), CASE WHEN $5::text IS NULL THEN NULL ELSE now() END)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &new.id.0,
                &new.kind.as_str(),
                &new.username,
                &new.role.as_str(),
                &new.password_hash.as_ref().map(|h| h.as_str()),
            ],
        )
        .await
        .map_err(classify)?;
    Ok(())
}

/// Counts one wrong password, in one statement so concurrent attempts each count exactly
/// once: the `max_failures`-th consecutive failure locks the login for `lockout_seconds`.
/// A lock that ran out starts a new count. An attempt that arrives while the login is
/// locked counts nothing and gets the lock back (`Some`); `None`: counted.
pub async fn record_failure(
    client: &impl GenericClient,
    id: AccountId,
    max_failures: i32,
    lockout_seconds: i64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let count = client
        .prepare_cached(
            "UPDATE accounts SET \
                 failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END, \
                 locked_until = CASE \
                     WHEN (CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END) >= $2 \
                     THEN now() + $3::int8 * interval '1 second' END \
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= now()) \
             RETURNING locked_until",
        )
        .await?;
    if client
        .query_opt(&count, &[&id.0, &max_failures, &lockout_seconds])
        .await?
        .is_some()
    {
        return Ok(None);
    }
    // Locked by a concurrent attempt: this statement sees what it committed.
    let lock = client
        .prepare_cached("SELECT locked_until FROM accounts WHERE id = $1 AND locked_until > now()")
        .await?;
    Ok(client
        .query_opt(&lock, &[&id.0])
        .await?
        .map(|row| row.get(0)))
}

/// Outcome of starting a login on an account whose password matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Locked(DateTime<Utc>),
    Disabled,
}

/// Resets the failure count of a login whose password matched, unless the account got
/// locked or disabled meanwhile (checked under the row lock, in the caller's transaction).
pub async fn admit(client: &impl GenericClient, id: AccountId) -> Result<Admission, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT status, CASE WHEN locked_until > now() THEN locked_until END \
             FROM accounts WHERE id = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&id.0]).await? else {
        return Ok(Admission::Disabled);
    };
    if let Some(until) = row.get::<_, Option<DateTime<Utc>>>(1) {
        return Ok(Admission::Locked(until));
    }
    if row.get::<_, &str>(0) != "active" {
        return Ok(Admission::Disabled);
    }
    let reset = client
        .prepare_cached(
            "UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = $1 \
               AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
        )
        .await?;
    client.execute(&reset, &[&id.0]).await?;
    Ok(Admission::Admitted)
}

/// Turns a login off (`active = false`: refused from now on) or back on (with a clean
/// failure count). An operator registered before logins existed has no row: nothing to do.
pub async fn set_active(
    client: &impl GenericClient,
    id: AccountId,
    active: bool,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE accounts SET status = CASE WHEN $2 THEN 'active' ELSE 'disabled' END, \
                 failed_logins = CASE WHEN $2 THEN 0 ELSE failed_logins END, \
                 locked_until = CASE WHEN $2 THEN NULL ELSE locked_until END \
             WHERE id = $1",
        )
        .await?;
    client.execute(&statement, &[&id.0, &active]).await?;
    Ok(())
}

pub async fn set_role(
    client: &impl GenericClient,
    id: AccountId,
    role: ActorRole,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("UPDATE accounts SET role = $2 WHERE id = $1")
        .await?;
    expect_one(
        client.execute(&statement, &[&id.0, &role.as_str()]).await?,
        id,
    )
}

/// A new password hash; a lockout in force ends with it (someone who knows the new password
/// set it).
pub async fn set_password(
    client: &impl GenericClient,
    id: AccountId,
    hash: &PasswordHash,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE accounts SET password_hash = $2, password_changed_at = now(), \
                 failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .await?;
    expect_one(
        client.execute(&statement, &[&id.0, &hash.as_str()]).await?,
        id,
    )
}

/// A write aimed at one account that found none is a bug in the caller (every account is
/// created with its owner's first event): refuse to commit it.
fn expect_one(updated: u64, id: AccountId) -> Result<(), StoreError> {
    if updated == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!("account {} not found", id.0)))
    }
}
