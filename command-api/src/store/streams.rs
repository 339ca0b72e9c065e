//! In-process state cache: one slot per stream, each behind its own async lock.
//!
//! Commands on one stream run one after another in this process, on state that is already in
//! memory, so a command costs no load at all. Other instances may append too: the append's
//! primary key catches that (a conflict), and the caller reloads and decides again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use cqrs_es::Aggregate;
use deadpool_postgres::GenericClient;
use tokio::sync::OwnedMutexGuard;

use super::StoreError;
use super::events::{self, Stream};

/// Cached state of one stream plus per-stream notes of type `X`.
pub struct Slot<A: Aggregate, X> {
    pub stream: Option<Stream<A>>,
    pub notes: X,
}

impl<A: Aggregate, X> Slot<A, X> {
    /// The stream's state, loaded from the store on first use.
    pub async fn loaded(
        &mut self,
        client: &impl GenericClient,
        id: &str,
    ) -> Result<&mut Stream<A>, StoreError> {
        if self.stream.is_none() {
            self.stream = Some(events::load::<A>(client, id).await?);
        }
        Ok(self.stream.as_mut().expect("just loaded"))
    }

    /// Brings the cached state up to what is stored; returns whether anything changed.
    pub async fn refresh(
        &mut self,
        client: &impl GenericClient,
        id: &str,
    ) -> Result<bool, StoreError> {
        match self.stream.as_mut() {
            None => {
                self.loaded(client, id).await?;
                Ok(true)
            }
            Some(stream) => Ok(events::catch_up(client, stream).await? > 0),
        }
    }

    /// Drops the cached state: the next use reloads it (after a failed write, for instance).
    pub fn invalidate(&mut self) {
        self.stream = None;
    }
}

pub type SlotGuard<A, X> = OwnedMutexGuard<Slot<A, X>>;

type SharedSlot<A, X> = Arc<tokio::sync::Mutex<Slot<A, X>>>;

pub struct Streams<A: Aggregate, X = ()> {
    slots: Mutex<HashMap<String, SharedSlot<A, X>>>,
}

impl<A: Aggregate, X: Default> Default for Streams<A, X> {
    fn default() -> Self {
        Streams {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<A: Aggregate, X: Default> Streams<A, X> {
    /// Waits for exclusive use of stream `id` in this process.
    pub async fn lock(&self, id: &str) -> SlotGuard<A, X> {
        let slot = {
            let mut slots = self.slots.lock().expect("slot map lock is never poisoned");
            slots
                .entry(id.to_owned())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Slot {
                        stream: None,
                        notes: X::default(),
                    }))
                })
                .clone()
        };
        slot.lock_owned().await
    }

    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .expect("slot map lock is never poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Session ids this process authorized lately for one operator: a duplicate arriving while
/// the first is being written finds its id here and replays from the store. Bounded: older
/// duplicates are found in the store by the lookup every request makes first.
#[derive(Default)]
pub struct RecentSessions {
    order: VecDeque<String>,
    known: HashSet<String>,
}

impl RecentSessions {
    pub const CAPACITY: usize = 64;

    pub fn contains(&self, session_id: &str) -> bool {
        self.known.contains(session_id)
    }

    pub fn insert(&mut self, session_id: &str) {
        if self.known.insert(session_id.to_owned()) {
            self.order.push_back(session_id.to_owned());
            if self.order.len() > Self::CAPACITY
                && let Some(oldest) = self.order.pop_front()
            {
                self.known.remove(&oldest);
            }
        }
    }
}
