//! Staff commands: the catalog, operators, credentials, sites, grants and manual credits.

use chrono::{DateTime, TimeDelta, Utc};
use ledger_core::application::{AppCommand, AppStatus, Application};
use ledger_core::ids::{AppId, CreditId, KeyId, OperatorId, SiteId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::money::Money;
use ledger_core::operator::{AccountStatus, Category, Operator, OperatorCommand, OperatorEvent};
use ledger_core::signing;
use serde::Serialize;

use super::{Ledger, SideWrite};
use crate::accounts::{self, AccountKind, NewAccount};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::crypto;
use crate::store::credentials::SealedCredential;
use crate::wire;

/// The authenticated staff member behind a command.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: String,
    pub role: ActorRole,
}

fn staff_metadata(staff: &Staff, ctx: &RequestContext, now: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        actor_id: staff.id.clone(),
        actor_role: staff.role,
        source_ip: ctx.source_ip.clone(),
        request_id: ctx.request_id.clone(),
        trace_id: ctx.trace_id.clone(),
        occurred_at: now,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub id: AppId,
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub min_players: u32,
    pub max_players: u32,
    pub status: &'static str,
}

fn app_view(id: AppId, app: &Application) -> AppView {
    AppView {
        id,
        name: app.name.clone(),
        description: app.description.clone(),
        unit_price: app.unit_price,
        min_players: app.min_players,
        max_players: app.max_players,
        status: app.status.as_str(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OperatorView {
    pub id: OperatorId,
    pub username: String,
    pub name: String,
    pub category: &'static str,
    pub status: &'static str,
    pub locked_at: Option<String>,
    pub lock_reason: Option<String>,
    pub balance: Money,
}

fn operator_view(id: OperatorId, op: &Operator) -> OperatorView {
    let (locked_at, lock_reason) = match &op.status {
        AccountStatus::Locked { locked_at, reason } => {
            (Some(wire::time(*locked_at)), Some(reason.clone()))
        }
        _ => (None, None),
    };
    OperatorView {
        id,
        username: op.username.clone(),
        name: op.name.clone(),
        category: op.category.as_str(),
        status: op.status.as_str(),
        locked_at,
        lock_reason,
        balance: op.balance,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub id: SiteId,
    pub operator_id: OperatorId,
    pub name: String,
    pub address: String,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub operator_id: OperatorId,
    pub app_id: AppId,
    pub expires_at: Option<String>,
    pub expired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreditView {
    pub credit_id: CreditId,
    pub operator_id: OperatorId,
    pub amount: Money,
    pub reason: String,
    pub balance_after: Money,
    pub credited_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedCredential {
    pub key_id: KeyId,
    /// Shown once, never stored in clear.
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub min_players: u32,
    pub max_players: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub unit_price: Option<Money>,
    pub min_players: Option<u32>,
    pub max_players: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct NewOperator {
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: Category,
    /// The login password (already checked against the account rules); `None`: the
    /// operator cannot log in until one is set.
    pub password: Option<String>,
}

impl Ledger {
    fn seal_new_credential(
        &self,
        operator_id: OperatorId,
    ) -> (IssuedCredential, String, SideWrite) {
        let (key_id, secret) = crypto::new_credential();
        let sealed = SealedCredential {
            operator_id,
            secret_ciphertext: self.master_key.seal(&key_id, secret.as_bytes()),
            master_key_id: self.master_key.id().to_owned(),
        };
        let fingerprint = signing::fingerprint(secret.as_bytes());
        let side = SideWrite::Credential(key_id.clone(), sealed);
        (IssuedCredential { key_id, secret }, fingerprint, side)
    }

    async fn run_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        app_id: AppId,
        commands: Vec<AppCommand>,
    ) -> Result<AppView, ApiError> {
        let metadata = staff_metadata(staff, ctx, self.now());
        let done = self
            .execute(&self.apps, &app_id.to_string(), &metadata, commands, None)
            .await?;
        Ok(app_view(app_id, &done.state))
    }

    async fn run_operator(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        commands: Vec<OperatorCommand>,
        side: Option<SideWrite>,
    ) -> Result<super::Executed<Operator>, ApiError> {
        let metadata = staff_metadata(staff, ctx, self.now());
        Ok(self
            .execute(
                &self.operators,
                &operator_id.to_string(),
                &metadata,
                commands,
                side,
            )
            .await?)
    }

    pub async fn create_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        app: NewApp,
    ) -> Result<AppView, ApiError> {
        let app_id = AppId::new();
        let command = AppCommand::CreateApp {
            app_id,
            name: app.name,
            description: app.description,
            unit_price: app.unit_price,
            min_players: app.min_players,
            max_players: app.max_players,
            now: self.now(),
        };
        self.run_app(staff, ctx, app_id, vec![command]).await
    }

    /// Applies every field of the patch in one append: all of it or nothing.
    pub async fn update_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        app_id: AppId,
        patch: AppPatch,
    ) -> Result<AppView, ApiError> {
        let now = self.now();
        let current = {
            let client = self
                .pool
                .get()
                .await
                .map_err(crate::store::StoreError::from)?;
            let mut slot = self.apps.lock(&app_id.to_string()).await;
            slot.refresh(&client, &app_id.to_string()).await?;
            slot.loaded(&client, &app_id.to_string())
                .await?
                .state
                .clone()
        };
        if current.id.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound));
        }
        let mut commands = Vec::new();
        if patch.name.is_some() || patch.description.is_some() {
            commands.push(AppCommand::UpdateAppDetails {
                name: patch.name.unwrap_or(current.name),
                description: patch.description.unwrap_or(current.description),
                now,
            });
        }
        if let Some(unit_price) = patch.unit_price {
            commands.push(AppCommand::ChangePrice { unit_price, now });
        }
        if patch.min_players.is_some() || patch.max_players.is_some() {
            commands.push(AppCommand::ChangePlayerRange {
                min_players: patch.min_players.unwrap_or(current.min_players),
                max_players: patch.max_players.unwrap_or(current.max_players),
                now,
            });
        }
        self.run_app(staff, ctx, app_id, commands).await
    }

    pub async fn retire_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        app_id: AppId,
    ) -> Result<AppView, ApiError> {
        self.run_app(
            staff,
            ctx,
            app_id,
            vec![AppCommand::RetireApp { now: self.now() }],
        )
        .await
    }

    /// Registers an operator with its first credential; the secret is returned once.
    pub async fn create_operator(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        new: NewOperator,
    ) -> Result<(OperatorView, NewOperator, IssuedCredential), ApiError> {
        self.open_operator(staff, ctx, OperatorId::new(), new).await
    }

    /// O1: an operator registers itself (the actor of its own registration).
    pub async fn register_operator(
        &self,
        ctx: &RequestContext,
        new: NewOperator,
    ) -> Result<(OperatorView, NewOperator, IssuedCredential), ApiError> {
        let operator_id = OperatorId::new();
        let actor = super::staff::operator_actor(operator_id);
        self.open_operator(&actor, ctx, operator_id, new).await
    }

    /// The one way an operator comes to exist: `OperatorRegistered` and its first credential,
    /// appended with the username claim, the sealed secret and the login account in one
    /// transaction.
    async fn open_operator(
        &self,
        actor: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        new: NewOperator,
    ) -> Result<(OperatorView, NewOperator, IssuedCredential), ApiError> {
        {
            let client = self
                .pool
                .get()
                .await
                .map_err(crate::store::StoreError::from)?;
            if accounts::store::username_taken(&client, AccountKind::Operator, &new.username)
                .await?
            {
                return Err(super::staff::username_taken());
            }
        }
        let password_hash = match &new.password {
            Some(password) => Some(self.passwords.hash(password).await?),
            None => None,
        };
        let (issued, fingerprint, credential) = self.seal_new_credential(operator_id);
        let register = OperatorCommand::RegisterOperator {
            operator_id,
            username: new.username.clone(),
            name: new.name.clone(),
            phone: new.phone.clone(),
            email: new.email.clone(),
            category: new.category,
            low_balance_threshold: self.policy.thresholds.of(new.category),
            key_id: issued.key_id.clone(),
            fingerprint,
            now: self.now(),
        };
        let account = NewAccount {
            id: operator_id.into(),
            kind: AccountKind::Operator,
            username: new.username.clone(),
            role: ActorRole::Operator,
            password_hash,
        };
        let metadata = staff_metadata(actor, ctx, self.now());
        let side = SideWrite::Many(vec![
            SideWrite::Username(new.username.clone(), operator_id),
            credential,
            SideWrite::Account(account),
        ]);
        let done = self
            .execute(
                &self.operators,
                &operator_id.to_string(),
                &metadata,
                vec![register],
                Some(side),
            )
            .await
            .map_err(super::staff::refusal_with_username)?;
        Ok((operator_view(operator_id, &done.state), new, issued))
    }

    /// O11/A1: a new credential; every live key ends at now + overlap.
    pub async fn rotate_credentials(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        overlap_seconds: i64,
    ) -> Result<IssuedCredential, ApiError> {
        let (issued, fingerprint, side) = self.seal_new_credential(operator_id);
        let command = OperatorCommand::RotateCredentials {
            key_id: issued.key_id.clone(),
            fingerprint,
            overlap: TimeDelta::seconds(overlap_seconds),
            now: self.now(),
        };
        self.run_operator(staff, ctx, operator_id, vec![command], Some(side))
            .await?;
        Ok(issued)
    }

    pub async fn open_site(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        name: String,
        address: String,
    ) -> Result<SiteView, ApiError> {
        let site_id = SiteId::new();
        let command = OperatorCommand::OpenSite {
            site_id,
            name,
            address,
            now: self.now(),
        };
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        Ok(site_view(operator_id, site_id, &done.state))
    }

    pub async fn update_site(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        site_id: SiteId,
        name: Option<String>,
        address: Option<String>,
    ) -> Result<SiteView, ApiError> {
        let current = self.operator_state(operator_id).await?;
        let site = current
            .sites
            .get(&site_id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
        let command = OperatorCommand::UpdateSite {
            site_id,
            name: name.unwrap_or_else(|| site.name.clone()),
            address: address.unwrap_or_else(|| site.address.clone()),
            now: self.now(),
        };
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        Ok(site_view(operator_id, site_id, &done.state))
    }

    pub async fn close_site(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        site_id: SiteId,
    ) -> Result<SiteView, ApiError> {
        let command = OperatorCommand::CloseSite {
            site_id,
            now: self.now(),
        };
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        Ok(site_view(operator_id, site_id, &done.state))
    }

    /// Grants an app (permanent or until `expires_at`); `true` when it is a new grant.
    pub async fn grant_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        app_id: AppId,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(GrantView, bool), ApiError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(crate::store::StoreError::from)?;
        let app = self.app_terms_public(&client, app_id).await?;
        drop(client);
        if app.is_none() {
            return Err(ApiError::with(
                ErrorCode::NotFound,
                serde_json::json!({ "fields": ["app_id"] }),
            ));
        }
        let now = self.now();
        let command = OperatorCommand::GrantApp {
            app_id,
            expires_at,
            now,
        };
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        let created = !done.before.grants.contains_key(&app_id);
        let view = GrantView {
            operator_id,
            app_id,
            expires_at: wire::opt_time(expires_at),
            expired: expires_at.is_some_and(|e| e <= now),
        };
        Ok((view, created))
    }

    pub async fn revoke_app(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        app_id: AppId,
    ) -> Result<(), ApiError> {
        let command = OperatorCommand::RevokeApp {
            app_id,
            now: self.now(),
        };
        self.run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        Ok(())
    }

    pub async fn set_account_state(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        command: OperatorCommand,
    ) -> Result<OperatorView, ApiError> {
        // A deactivated operator cannot log in any more, from the moment it is recorded.
        let side = matches!(command, OperatorCommand::DeactivateAccount { .. })
            .then(|| SideWrite::DisableLogin(operator_id.into()));
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], side)
            .await?;
        Ok(operator_view(operator_id, &done.state))
    }

    /// A manual credit (bank transfer recorded by finance).
    pub async fn credit_balance(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        operator_id: OperatorId,
        amount: Money,
        reason: String,
    ) -> Result<CreditView, ApiError> {
        let credit_id = CreditId::new();
        let command = OperatorCommand::CreditBalance {
            credit_id,
            amount,
            reason,
            now: self.now(),
        };
        let done = self
            .run_operator(staff, ctx, operator_id, vec![command], None)
            .await?;
        let Some(OperatorEvent::BalanceCredited {
            amount,
            reason,
            balance_after,
            credited_at,
            ..
        }) = done.events.into_iter().next()
        else {
            unreachable!("a credit decides BalanceCredited")
        };
        Ok(CreditView {
            credit_id,
            operator_id,
            amount,
            reason,
            balance_after,
            credited_at: wire::time(credited_at),
        })
    }

    /// Current state of an operator as stored (refreshing the cache).
    pub async fn operator_state(&self, operator_id: OperatorId) -> Result<Operator, ApiError> {
        let id = operator_id.to_string();
        let client = self
            .pool
            .get()
            .await
            .map_err(crate::store::StoreError::from)?;
        let mut slot = self.operators.lock(&id).await;
        slot.refresh(&client, &id).await?;
        let state = slot.loaded(&client, &id).await?.state.clone();
        if !state.is_registered() {
            return Err(ApiError::new(ErrorCode::NotFound));
        }
        Ok(state)
    }

    async fn app_terms_public(
        &self,
        client: &deadpool_postgres::Client,
        app_id: AppId,
    ) -> Result<Option<AppStatus>, ApiError> {
        let id = app_id.to_string();
        let mut slot = self.apps.lock(&id).await;
        slot.refresh(client, &id).await?;
        let stream = slot.loaded(client, &id).await?;
        Ok(stream.state.id.map(|_| stream.state.status))
    }
}

fn site_view(operator_id: OperatorId, site_id: SiteId, op: &Operator) -> SiteView {
    let site = op
        .sites
        .get(&site_id)
        .expect("site exists after a site command");
    SiteView {
        id: site_id,
        operator_id,
        name: site.name.clone(),
        address: site.address.clone(),
        status: if site.open { "open" } else { "closed" },
    }
}
