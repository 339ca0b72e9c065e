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

pub mod admin;
pub mod authorize;
pub mod committer;
pub mod headset;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use deadpool_postgres::Pool;
use ledger_core::application::Application;
use ledger_core::headset_server::HeadsetServer;
use ledger_core::ids::{KeyId, OperatorId};
use ledger_core::metadata::EventMetadata;
use ledger_core::operator::Operator;

use crate::crypto::MasterKey;
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

/// An API credential as this process knows it: whose it is and its secret.
#[derive(Clone)]
pub struct KnownKey {
    pub operator_id: OperatorId,
    pub secret: Arc<[u8]>,
}

pub struct Ledger {
    pub pool: Pool,
    pub master_key: MasterKey,
    pub operators: Streams<Operator, RecentSessions>,
    pub apps: Streams<Application>,
    pub headset_servers: Streams<HeadsetServer>,
    authorize_queues: authorize::Queues,
    committer: committer::Committer,
    /// Secrets never change for a key id, so they are cached for good once opened.
    keys: Mutex<HashMap<String, KnownKey>>,
    notifier: Notifier,
    clock: Clock,
}

impl Ledger {
    pub fn new(
        pool: Pool,
        committer_pool: Pool,
        master_key: MasterKey,
        notifier: Notifier,
        clock: Clock,
    ) -> Ledger {
        let committer = committer::Committer::spawn(committer_pool);
        Ledger {
            pool,
            master_key,
            operators: Streams::default(),
            apps: Streams::default(),
            headset_servers: Streams::default(),
            authorize_queues: authorize::Queues::default(),
            committer,
            keys: Mutex::new(HashMap::new()),
            notifier,
            clock,
        }
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
        if sealed.master_key_id != self.master_key.id() {
            return Err(StoreError::Corrupt(format!(
                "credential {key_id} is sealed under master key {}, not {}",
                sealed.master_key_id,
                self.master_key.id()
            )));
        }
        self.master_key
            .open(&KeyId(key_id.to_owned()), &sealed.secret_ciphertext)
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
                Ok(()) => {}
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
    ) -> Result<(), StoreError> {
        let tx = client.transaction().await.map_err(classify)?;
        events::append(&tx, rows).await?;
        if let Some(side) = side {
            side.write(&tx).await?;
        }
        tx.commit().await.map_err(classify)
    }
}
