//! This instance's copy of the block list, checked on every request without a Redis round
//! trip: the shared list is read from Redis once per refresh interval; blocks tripped here
//! are added at once; blocks made while Redis was unreachable live here only.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::redis_counts::SharedBlock;

#[derive(Default)]
pub struct BlockList {
    /// The shared list as last read (or as tripped here since): IP → end of its block.
    shared: RwLock<HashMap<String, Instant>>,
    /// Blocks tripped while Redis could not answer.
    local: RwLock<HashMap<String, Instant>>,
    /// Whether either map has an entry: the common case (no block at all) takes no lock.
    any: AtomicBool,
}

fn remaining_in(
    map: &RwLock<HashMap<String, Instant>>,
    ip: &str,
    now: Instant,
) -> Option<Duration> {
    let until = *map.read().expect("block list lock").get(ip)?;
    (until > now).then(|| until - now)
}

impl BlockList {
    /// How long `ip` stays blocked, if it is.
    pub fn remaining(&self, ip: &str, now: Instant) -> Option<Duration> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        remaining_in(&self.shared, ip, now).or_else(|| remaining_in(&self.local, ip, now))
    }

    pub fn replace_shared(&self, blocks: &[SharedBlock], now: Instant) {
        let fresh = blocks
            .iter()
            .map(|b| (b.ip.clone(), now + b.remaining))
            .collect();
        *self.shared.write().expect("block list lock") = fresh;
        self.local
            .write()
            .expect("block list lock")
            .retain(|_, until| *until > now);
        self.update_any();
    }

    pub fn add(&self, ip: &str, until: Instant, shared: bool) {
        let map = if shared { &self.shared } else { &self.local };
        map.write()
            .expect("block list lock")
            .insert(ip.to_owned(), until);
        self.update_any();
    }

    /// Removes `ip`; whether it was blocked here.
    pub fn remove(&self, ip: &str) -> bool {
        let shared = self.shared.write().expect("block list lock").remove(ip);
        let local = self.local.write().expect("block list lock").remove(ip);
        self.update_any();
        shared.is_some() || local.is_some()
    }

    /// Blocks made here while Redis was unreachable, with the time they still run.
    pub fn local_only(&self, now: Instant) -> Vec<(String, Duration)> {
        self.local
            .read()
            .expect("block list lock")
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(ip, until)| (ip.clone(), *until - now))
            .collect()
    }

    fn update_any(&self) {
        let any = !self.shared.read().expect("block list lock").is_empty()
            || !self.local.read().expect("block list lock").is_empty();
        self.any.store(any, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_ends_by_time_by_refresh_or_by_removal() {
        let list = BlockList::default();
        let now = Instant::now();
        assert_eq!(list.remaining("1.2.3.4", now), None);
        list.add("1.2.3.4", now + Duration::from_secs(10), true);
        assert_eq!(
            list.remaining("1.2.3.4", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            list.remaining("1.2.3.4", now + Duration::from_secs(10)),
            None
        );
        // The shared list read from Redis replaces what was known of it.
        list.replace_shared(&[], now);
        assert_eq!(list.remaining("1.2.3.4", now), None);
        // A local block survives a refresh and ends on removal.
        list.add("5.6.7.8", now + Duration::from_secs(10), false);
        list.replace_shared(&[], now);
        assert!(list.remaining("5.6.7.8", now).is_some());
        assert!(list.remove("5.6.7.8"));
        assert_eq!(list.remaining("5.6.7.8", now), None);
    }
}
