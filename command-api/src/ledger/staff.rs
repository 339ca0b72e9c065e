//! Staff accounts (`StaffMember` streams) and passwords: creation by a super admin, role
//! changes, disabling, password resets, everyone's own password change, and the bootstrap
//! super admin from configuration. Each command's login change (the `accounts` row, the
//! sessions it ends) is written in the transaction of its event.

use chrono::{DateTime, Utc};
use ledger_core::ids::{OperatorId, StaffId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::operator::OperatorCommand;
use ledger_core::staff_account::{StaffCommand, StaffMember};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::admin::Staff;
use super::{Executed, Ledger, Refused, SideWrite};
use crate::accounts::{self, AccountId, AccountKind, NewAccount};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::{Lang, RequestContext};
use crate::store::StoreError;

/// Who created the bootstrap super admin (metadata `actor_id`, role `system`).
pub const BOOTSTRAP_ACTOR: &str = "bootstrap";

/// The unique index that makes usernames unique per kind, case-insensitively.
const USERNAME_INDEX: &str = "accounts_username";
/// The older claim of operator usernames (exact case).
const OPERATOR_USERNAME_KEY: &str = "operator_usernames_pkey";

#[derive(Debug, Clone)]
pub struct NewStaff {
    pub username: String,
    pub name: String,
    pub role: ActorRole,
    pub password: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    pub id: StaffId,
    pub username: String,
    pub name: String,
    pub role: Option<ActorRole>,
    pub status: &'static str,
}

fn staff_view(id: StaffId, member: &StaffMember) -> StaffView {
    StaffView {
        id,
        username: member.username.clone(),
        name: member.name.clone(),
        role: member.role,
        status: if member.disabled {
            "disabled"
        } else {
            "active"
        },
    }
}

fn metadata(actor: &Staff, ctx: &RequestContext, now: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        actor_id: actor.id.clone(),
        actor_role: actor.role,
        source_ip: ctx.source_ip.clone(),
        request_id: ctx.request_id.clone(),
        trace_id: ctx.trace_id.clone(),
        occurred_at: now,
    }
}

/// 409 `USERNAME_TAKEN` naming the field.
pub fn username_taken() -> ApiError {
    ApiError::with(ErrorCode::UsernameTaken, json!({ "fields": ["username"] }))
}

/// A refusal, with a username claimed by a concurrent registration told as such.
pub fn refusal_with_username<E: Into<ApiError>>(refused: Refused<E>) -> ApiError {
    match refused {
        Refused::Store(StoreError::Taken(constraint))
            if constraint == USERNAME_INDEX || constraint == OPERATOR_USERNAME_KEY =>
        {
            username_taken()
        }
        other => other.into(),
    }
}

/// Staff may not demote or disable themselves: the last super admin would lock everyone out.
fn not_self(actor: &Staff, staff_id: StaffId) -> Result<(), ApiError> {
    if actor.id == staff_id.to_string() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            json!({ "reason": "staff cannot change the role or status of their own account" }),
        ));
    }
    Ok(())
}

fn account_of(actor: &Staff) -> Result<AccountId, ApiError> {
    actor
        .id
        .parse()
        .map(AccountId)
        .map_err(|_| ApiError::new(ErrorCode::Unauthorized))
}

impl Ledger {
    async fn run_staff(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        staff_id: StaffId,
        command: StaffCommand,
        side: Option<SideWrite>,
    ) -> Result<Executed<StaffMember>, Refused<ledger_core::staff_account::StaffError>> {
        let metadata = metadata(actor, ctx, self.now());
        self.execute(
            &self.staff,
            &staff_id.to_string(),
            &metadata,
            vec![command],
            side,
        )
        .await
    }

    /// A new staff account with its login; the password follows the account rules (checked
    /// by the caller).
    pub async fn create_staff(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        new: NewStaff,
    ) -> Result<StaffView, ApiError> {
        {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            if accounts::store::username_taken(&client, AccountKind::Staff, &new.username).await? {
                return Err(username_taken());
            }
        }
        let staff_id = StaffId::new();
        let hash = self.passwords.hash(&new.password).await?;
        let account = NewAccount {
            id: staff_id.into(),
            kind: AccountKind::Staff,
            username: new.username.clone(),
            role: new.role,
            password_hash: Some(hash),
        };
        let command = StaffCommand::CreateStaff {
            staff_id,
            username: new.username,
            name: new.name,
            role: new.role,
            now: self.now(),
        };
        let done = self
            .run_staff(
                actor,
                ctx,
                staff_id,
                command,
                Some(SideWrite::Account(account)),
            )
            .await
            .map_err(refusal_with_username)?;
        Ok(staff_view(staff_id, &done.state))
    }

    /// A new role; the staff member's sessions end.
    pub async fn change_staff_role(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        staff_id: StaffId,
        role: ActorRole,
    ) -> Result<StaffView, ApiError> {
        not_self(actor, staff_id)?;
        let command = StaffCommand::ChangeRole {
            role,
            now: self.now(),
        };
        let side = SideWrite::SetRole(staff_id.into(), role);
        let done = self
            .run_staff(actor, ctx, staff_id, command, Some(side))
            .await?;
        Ok(staff_view(staff_id, &done.state))
    }

    /// Disables (`enabled = false`) or re-enables a staff login; disabling ends its sessions.
    pub async fn set_staff_enabled(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        staff_id: StaffId,
        enabled: bool,
    ) -> Result<StaffView, ApiError> {
        not_self(actor, staff_id)?;
        let now = self.now();
        let (command, side) = if enabled {
            (
                StaffCommand::Enable { now },
                SideWrite::EnableLogin(staff_id.into()),
            )
        } else {
            (
                StaffCommand::Disable { now },
                SideWrite::DisableLogin(staff_id.into()),
            )
        };
        let done = self
            .run_staff(actor, ctx, staff_id, command, Some(side))
            .await?;
        Ok(staff_view(staff_id, &done.state))
    }

    /// A super admin sets a new password for someone who lost theirs; their sessions end.
    pub async fn reset_staff_password(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        staff_id: StaffId,
        password: &str,
    ) -> Result<StaffView, ApiError> {
        let side = SideWrite::SetPassword {
            account: staff_id.into(),
            hash: self.passwords.hash(password).await?,
            keep: None,
        };
        let command = StaffCommand::ResetPassword { now: self.now() };
        let done = self
            .run_staff(actor, ctx, staff_id, command, Some(side))
            .await?;
        Ok(staff_view(staff_id, &done.state))
    }

    /// `Ok` when `password` is the account's current one, else 401 `INVALID_CREDENTIALS`
    /// (for commands that ask for the password again, e.g. deactivating one's account).
    pub async fn verify_password(
        &self,
        account: AccountId,
        password: &str,
    ) -> Result<(), ApiError> {
        if accounts::verify_password(&self.pool, &self.passwords, account, password).await? {
            Ok(())
        } else {
            Err(accounts::invalid_credentials())
        }
    }

    /// The caller's own password change: recorded on their stream (`PasswordChanged` for an
    /// operator, `StaffPasswordChanged` for staff); every other session of theirs ends.
    pub async fn change_own_password(
        &self,
        actor: &Staff,
        session: Uuid,
        ctx: &RequestContext,
        current: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let account = account_of(actor)?;
        self.verify_password(account, current).await?;
        let side = SideWrite::SetPassword {
            account,
            hash: self.passwords.hash(new).await?,
            keep: Some(session),
        };
        let metadata = metadata(actor, ctx, self.now());
        let id = account.to_string();
        if actor.role == ActorRole::Operator {
            let command = OperatorCommand::ChangePassword { now: self.now() };
            self.execute(&self.operators, &id, &metadata, vec![command], Some(side))
                .await?;
        } else {
            let command = StaffCommand::ChangePassword { now: self.now() };
            self.execute(&self.staff, &id, &metadata, vec![command], Some(side))
                .await?;
        }
        Ok(())
    }

    /// Sets the login password of an operator that has none (registered by staff without
    /// one, or before logins existed: then its login account is created too). Recorded as
    /// `PasswordChanged` by `actor`.
    pub async fn set_operator_password(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        password: &str,
    ) -> Result<(), ApiError> {
        let operator = self.operator_state(operator_id).await?;
        let exists = {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            accounts::store::find(&client, operator_id.into())
                .await?
                .is_some()
        };
        let hash = self.passwords.hash(password).await?;
        let side = if exists {
            SideWrite::SetPassword {
                account: operator_id.into(),
                hash,
                keep: None,
            }
        } else {
            SideWrite::Account(NewAccount {
                id: operator_id.into(),
                kind: AccountKind::Operator,
                username: operator.username,
                role: ActorRole::Operator,
                password_hash: Some(hash),
            })
        };
        let metadata = metadata(actor, ctx, self.now());
        let command = OperatorCommand::ChangePassword { now: self.now() };
        self.execute(
            &self.operators,
            &operator_id.to_string(),
            &metadata,
            vec![command],
            Some(side),
        )
        .await?;
        Ok(())
    }

    /// Creates the first super admin from configuration unless a staff account has that
    /// username already. Instances starting together race harmlessly: the username index
    /// lets one transaction in, and the others find the account made.
    pub async fn ensure_bootstrap_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<StaffId>, ApiError> {
        {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            if accounts::store::username_taken(&client, AccountKind::Staff, username).await? {
                return Ok(None);
            }
        }
        let actor = Staff {
            id: BOOTSTRAP_ACTOR.to_owned(),
            role: ActorRole::System,
        };
        let ctx = RequestContext {
            request_id: Uuid::new_v4().to_string(),
            trace_id: Uuid::new_v4().simple().to_string(),
            source_ip: "127.0.0.1".to_owned(),
            lang: Lang::En,
        };
        let staff_id = StaffId::new();
        let account = NewAccount {
            id: staff_id.into(),
            kind: AccountKind::Staff,
            username: username.to_owned(),
            role: ActorRole::SuperAdmin,
            password_hash: Some(self.passwords.hash(password).await?),
        };
        let command = StaffCommand::CreateStaff {
            staff_id,
            username: username.to_owned(),
            name: username.to_owned(),
            role: ActorRole::SuperAdmin,
            now: self.now(),
        };
        match self
            .run_staff(
                &actor,
                &ctx,
                staff_id,
                command,
                Some(SideWrite::Account(account)),
            )
            .await
        {
            Ok(_) => Ok(Some(staff_id)),
            Err(Refused::Store(StoreError::Taken(constraint))) if constraint == USERNAME_INDEX => {
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The operator as the actor of its own registration.
pub fn operator_actor(operator_id: OperatorId) -> Staff {
    Staff {
        id: operator_id.to_string(),
        role: ActorRole::Operator,
    }
}
