//! The command side's service: decides commands on cached aggregate state and appends their
//! events, one stream at a time.
//!
//! Layout:
//! - this file: [`Ledger`], the generic [`Ledger::execute`] (load → decide → append, retried
//!   on conflict) and the API key cache.
//! - [`authorize`]: H1/H2, deciding each operator's queued authorizations in one go.
//! - [`committer`]: group commit of those batches across operators.
//! - [`headset`]: authentication and the other headset calls, in the protocol's check order.
//! - [`admin`]: staff commands (apps, operators, credentials, sites, grants, credits).
//! - [`staff`]: staff accounts, passwords, and the bootstrap super admin.
//! - [`workflows`]: the operator's own account, app applications, refunds, invoices,
//!   messages and grant reminders, and their staff reviews.
//! - [`announcements`]: notices to every operator.
//! - [`recharges`]: online recharge orders and the gateways' results.

pub mod admin;
pub mod alerts;
pub mod announcements;
pub mod authorize;
pub mod committer;
pub mod headset;
pub mod recharges;
pub mod reconciliation;
pub mod staff;
pub mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use deadpool_postgres::Pool;
use ledger_core::announcement::Announcement;
use ledger_core::application::Application;
use ledger_core::headset_server::HeadsetServer;
use ledger_core::ids::{KeyId, OperatorId};
use ledger_core::metadata::EventMetadata;
use ledger_core::money::Money;
use ledger_core::operator::{Category, IssuedBy, Operator};
use ledger_core::reconciliation::Reconciliation;
use ledger_core::staff_account::StaffMember;

use crate::accounts::password::Passwords;
use crate::accounts::{self, AccountId, NewAccount};
use crate::crypto::MasterKeys;
use crate::notify::Notifier;
use crate::store::credentials::{self, SealedCredential};
use crate::store::events::{self, EventRow};
use crate::store::streams::{RecentSessions, Streams};
use crate::store::{StoreError, classify};

/// How often a command is decided again after another instance appended first.
pub const MAX_CONFLICT_RETRIES: usize = 8;

/// A source of the current time, injected so tests can move it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// A command was refused by the domain, or could not be recorded.
#[derive(Debug)]
pub enum Refused<E> {
    Domain(E),
    Store(StoreError),
}

impl<E> From<StoreError> for Refused<E> {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

impl<E> From<deadpool_postgres::PoolError> for Refused<E> {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Refused::Store(e.into())
    }
}

impl<E> From<tokio_postgres::Error> for Refused<E> {
    fn from(e: tokio_postgres::Error) -> Self {
        Refused::Store(classify(e))
    }
}

impl<E: Into<crate::api_error::ApiError>> From<Refused<E>> for crate::api_error::ApiError {
    fn from(refused: Refused<E>) -> Self {
        match refused {
            Refused::Domain(e) => e.into(),
            Refused::Store(StoreError::Taken(what)) => crate::api_error::ApiError::with(
                crate::api_error::ErrorCode::Conflict,
                serde_json::json!({ "reason": "already taken", "constraint": what }),
            ),
            Refused::Store(e) => e.into(),
        }
    }
}

/// Rows written in the same transaction as a command's events.
#[derive(Debug, Clone)]
pub enum SideWrite {
    /// A new API credential's sealed secret.
    Credential(KeyId, SealedCredential),
    /// An operator registration's username claim.
    Username(String, OperatorId),
    /// A new login (`accounts` row), with its operator's or staff member's first event.
    Account(NewAccount),
    /// The login is refused from now on and its live sessions end (operator deactivated,
    /// staff member disabled).
    DisableLogin(AccountId),
    /// A disabled login works again (with a clean failure count).
    EnableLogin(AccountId),
    /// A new role; the account's sessions end (their tokens carry the old one).
    SetRole(AccountId, ledger_core::metadata::ActorRole),
    /// A new password hash; every session of the account but `keep` ends.
    SetPassword {
        account: AccountId,
        hash: accounts::password::PasswordHash,
        keep: Option<uuid::Uuid>,
    },
    /// A recharge order's `out_trade_no` → order and operator, with `RechargeOrdered`.
    PaymentOrder(recharges::PaymentOrder),
    /// A gateway payment applied, with `RechargeSucceeded`: a second one for the same
    /// transaction (or order) is a unique violation, so a payment is credited once.
    PaymentTransaction(recharges::AppliedPayment),
    /// A reconciliation's summary and items, with `ReconciliationRecorded`.
    ReconciliationRun(Box<reconciliation::StoredRun>),
    Many(Vec<SideWrite>),
}

impl SideWrite {
    async fn write(
        &self,
        client: &impl deadpool_postgres::GenericClient,
    ) -> Result<(), StoreError> {
        match self {
            SideWrite::Many(all) => {
                for one in all {
                    Box::pin(one.write(client)).await?;
                }
                Ok(())
            }
            SideWrite::Credential(key_id, sealed) => {
                credentials::insert(client, key_id, sealed).await
            }
            SideWrite::Username(username, operator) => {
                client
                    .execute(
                        "INSERT INTO operator_usernames (username, operator_id) VALUES ($1, $2)",
                        &[username, &operator.as_uuid()],
                    )
                    .await
                    .map_err(classify)?;
                Ok(())
            }
            SideWrite::Account(new) => accounts::store::insert(client, new).await,
            SideWrite::PaymentOrder(order) => order.insert(client).await,
            SideWrite::PaymentTransaction(applied) => applied.insert(client).await,
            SideWrite::ReconciliationRun(run) => run.insert(client).await,
            SideWrite::DisableLogin(account) => {
                accounts::store::set_active(client, *account, false).await?;
                accounts::sessions::revoke_all(
                    client,
                    *account,
                    None,
                    accounts::sessions::reason::DISABLED,
                )
                .await
            }
            SideWrite::EnableLogin(account) => {
                accounts::store::set_active(client, *account, true).await
            }
            SideWrite::SetRole(account, role) => {
                accounts::store::set_role(client, *account, *role).await?;
                accounts::sessions::revoke_all(
                    client,
                    *account,
                    None,
                    accounts::sessions::reason::ROLE_CHANGED,
                )
                .await
            }
            SideWrite::SetPassword {
                account,
                hash,
                keep,
            } => {
                accounts::store::set_password(client, *account, hash).await?;
                accounts::sessions::revoke_all(
                    client,
                    *account,
                    *keep,
                    accounts::sessions::reason::PASSWORD_CHANGED,
                )
                .await
            }
        }
    }
}

/// What an executed command left behind.
#[derive(Debug, Clone)]
pub struct Executed<A: Aggregate> {
    pub state: A,
    pub events: Vec<A::Event>,
    /// Sequence of the stream's last event after the command.
    pub version: i64,
    /// State before the command (e.g. to tell a new grant from a replaced one).
    pub before: A,
}

/// Business settings the domain needs as outside facts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Low-balance alert threshold of each operator category.
    pub thresholds: Thresholds,
    /// The seller printed on issued invoices.
    pub invoice_seller: IssuedBy,
    /// How long before a grant expires its reminder is sent.
    pub grant_reminder_lead: chrono::TimeDelta,
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub vip: Money,
    pub standard: Money,
    pub trial: Money,
}

impl Thresholds {
    pub fn of(&self, category: Category) -> Money {
        match category {
            Category::Vip => self.vip,
            Category::Standard => self.standard,
            Category::Trial => self.trial,
        }
    }
}

impl Policy {
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Policy, String> {
        Ok(Policy {
            thresholds: Thresholds {
                vip: settings.low_balance_threshold(Category::Vip)?,
                standard: settings.low_balance_threshold(Category::Standard)?,
                trial: settings.low_balance_threshold(Category::Trial)?,
            },
            invoice_seller: IssuedBy {
                seller_name: settings.invoice_seller_name.clone(),
                seller_tax_number: settings.invoice_seller_tax_number.clone(),
            },
            grant_reminder_lead: chrono::TimeDelta::days(settings.grant_reminder_days),
        })
    }
}

/// An API credential as this process knows it: whose it is and its secret.
#[derive(Clone)]
pub struct KnownKey {
    pub operator_id: OperatorId,
    pub secret: Arc<[u8]>,
}

pub struct Ledger {
    pub pool: Pool,
    pub master_key: MasterKeys,
    pub operators: Streams<Operator, RecentSessions>,
    pub apps: Streams<Application>,
    pub headset_servers: Streams<HeadsetServer>,
    pub announcements: Streams<Announcement>,
    pub reconciliations: Streams<Reconciliation>,
    pub staff: Streams<StaffMember>,
    /// Hashes the passwords that commands set (registration, staff, changes, resets).
    pub passwords: Passwords,
    authorize_queues: authorize::Queues,
    committer: committer::Committer,
    /// Secrets never change for a key id, so they are cached for good once opened.
    keys: Mutex<HashMap<String, KnownKey>>,
    notifier: Notifier,
    clock: Clock,
    pub policy: Policy,
    /// The payment gateways of recharges (none enabled unless configured).
    pub payments: Arc<crate::payments::Gateways>,
    pub recharge_policy: recharges::RechargePolicy,
}

impl Ledger {
    pub fn new(
        pool: Pool,
        committer_pool: Pool,
        master_key: MasterKeys,
        notifier: Notifier,
        clock: Clock,
        policy: Policy,
        passwords: Passwords,
    ) -> Ledger {
        let committer = committer::Committer::spawn(committer_pool);
        Ledger {
            pool,
            master_key,
            operators: Streams::default(),
            apps: Streams::default(),
            headset_servers: Streams::default(),
            announcements: Streams::default(),
            reconciliations: Streams::default(),
            staff: Streams::default(),
            passwords,
            authorize_queues: authorize::Queues::default(),
            committer,
            keys: Mutex::new(HashMap::new()),
            notifier,
            clock,
            policy,
            payments: Arc::new(crate::payments::Gateways::disabled()),
            recharge_policy: recharges::RechargePolicy::default(),
        }
    }

    /// The same ledger with these payment gateways.
    pub fn with_payments(mut self, payments: Arc<crate::payments::Gateways>) -> Ledger {
        self.payments = payments;
        self
    }

    pub fn with_recharge_policy(mut self, policy: recharges::RechargePolicy) -> Ledger {
        self.recharge_policy = policy;
        self
    }

    /// Now, to the millisecond: what is stored and what is answered agree exactly.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)().trunc_subsecs(3)
    }

    /// The credential behind a key id, or `None` when no such key was ever issued.
    pub async fn find_key(&self, key_id: &str) -> Result<Option<KnownKey>, StoreError> {
        if let Some(known) = self.keys.lock().expect("key cache lock").get(key_id) {
            return Ok(Some(known.clone()));
        }
        let client = self.pool.get().await?;
        let Some(sealed) = credentials::find(&client, key_id).await? else {
            return Ok(None);
        };
        let known = KnownKey {
            operator_id: sealed.operator_id,
            secret: self.open_secret(key_id, &sealed)?.into(),
        };
        self.keys
            .lock()
            .expect("key cache lock")
            .insert(key_id.to_owned(), known.clone());
        Ok(Some(known))
    }

    pub fn open_secret(
        &self,
        key_id: &str,
        sealed: &SealedCredential,
    ) -> Result<Vec<u8>, StoreError> {
        self.master_key
            .open(
                &sealed.master_key_id,
                &KeyId(key_id.to_owned()),
                &sealed.secret_ciphertext,
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Runs `commands` on stream `id` as one unit: decided in order on the cached state,
    /// appended in one transaction with `side`, all or nothing. A refusal decided on cached
    /// state is only returned after checking the state is current; a conflict with another
    /// writer reloads and decides again.
    pub async fn execute<A, X>(
        &self,
        streams: &Streams<A, X>,
        id: &str,
        metadata: &EventMetadata,
        commands: Vec<A::Command>,
        side: Option<SideWrite>,
    ) -> Result<Executed<A>, Refused<A::Error>>
    where
        A: Aggregate<Services = ()> + Clone,
        A::Command: Clone,
        X: Default,
    {
        let mut slot = streams.lock(id).await;
        let mut client = self.pool.get().await?;
        let mut verified_fresh = false;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let stream = slot.loaded(&client, id).await?;
            let before = stream.state.clone();
            let mut next = stream.state.clone();
            let sink = EventSink::default();
            let mut refusal = None;
            for command in commands.iter().cloned() {
                if let Err(e) = next.handle(command, &(), &sink).await {
                    refusal = Some(e);
                    break;
                }
            }
            if let Some(e) = refusal {
                if !verified_fresh {
                    verified_fresh = true;
                    if slot.refresh(&client, id).await? {
                        continue;
                    }
                }
                return Err(Refused::Domain(e));
            }
            let new_events = sink.collect().await;
            if new_events.is_empty() {
                return Ok(Executed {
                    state: next,
                    events: new_events,
                    version: stream.version,
                    before,
                });
            }
            let rows = events::encode(stream, &new_events, metadata);
            match self
                .append_in_transaction(&mut client, &rows, side.as_ref())
                .await
            {
                Ok(tx_id) => {
                    if let Some(tx_id) = tx_id {
                        crate::position::record(tx_id);
                    }
                }
                Err(StoreError::Conflict(_)) => {
                    slot.invalidate();
                    continue;
                }
                Err(e) => {
                    // The outcome of a failed commit is unknown: forget what we believe.
                    slot.invalidate();
                    return Err(Refused::Store(e));
                }
            }
            let stream = slot.stream.as_mut().expect("loaded above");
            events::advance(stream, next.clone(), &rows);
            self.notifier.notify();
            if let Err(e) = events::maybe_snapshot(&client, stream, rows.len()).await {
                tracing::warn!(error = %e, stream = id, "snapshot not written (derived data; retried later)");
            }
            return Ok(Executed {
                state: next,
                events: new_events,
                version: stream.version,
                before,
            });
        }
        Err(Refused::Store(StoreError::Conflict(format!(
            "{} {id}: too many concurrent writers",
            A::TYPE
        ))))
    }

    async fn append_in_transaction(
        &self,
        client: &mut deadpool_postgres::Client,
        rows: &[EventRow],
        side: Option<&SideWrite>,
    ) -> Result<Option<u64>, StoreError> {
        let tx = client.transaction().await.map_err(classify)?;
        let tx_id = events::append(&tx, rows).await?;
        if let Some(side) = side {
            side.write(&tx).await?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(tx_id)
    }
}
