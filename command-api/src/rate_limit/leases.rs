//! Admissions leased from Redis for very large limits (above
//! [`super::redis_window::EXACT_LIMIT_MAX`]): one round trip takes a block of admissions
//! (1% of the limit, at most [`LEASE_MAX`]) that this instance then hands out locally for
//! [`LEASE_TTL`]. What is not used by then is lost, counted as used: a key may be refused a
//! little early (by at most one lease per instance), never admitted past its limit. Ordinary
//! limits (the product's 10 or 100 per minute) never lease: every request counts in Redis.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a lease may be drawn on.
pub const LEASE_TTL: Duration = Duration::from_secs(1);

/// Largest lease taken at once.
pub const LEASE_MAX: u32 = 10_000;

/// Leases kept before the expired ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Admissions to ask for with one request under `limit`.
pub fn lease_size(limit: u32) -> u32 {
    (limit / 100).clamp(1, LEASE_MAX)
}

/// This instance's open leases, by Redis key.
#[derive(Default)]
pub struct Leases {
    open: Mutex<HashMap<String, Lease>>,
}

struct Lease {
    remaining: u32,
    until: Instant,
}

impl Leases {
    /// Draws one admission from the key's lease, if one is open with some left.
    pub fn take(&self, key: &str, now: Instant) -> bool {
        let mut open = self.open.lock().expect("lease lock");
        match open.get_mut(key) {
            Some(lease) if lease.remaining > 0 && now < lease.until => {
                lease.remaining -= 1;
                true
            }
            _ => false,
        }
    }

    /// Opens a lease of `admissions` for the key (replacing what was left of an older one).
    pub fn grant(&self, key: &str, admissions: u32, now: Instant) {
        let mut open = self.open.lock().expect("lease lock");
        if open.len() > PRUNE_ABOVE {
            open.retain(|_, lease| now < lease.until);
        }
        open.insert(
            key.to_owned(),
            Lease {
                remaining: admissions,
                until: now + LEASE_TTL,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_drawn_down_and_expires() {
        let leases = Leases::default();
        let now = Instant::now();
        assert!(!leases.take("k", now), "nothing leased yet");
        leases.grant("k", 2, now);
        assert!(leases.take("k", now));
        assert!(leases.take("k", now));
        assert!(!leases.take("k", now), "drawn down");
        leases.grant("k", 5, now);
        assert!(!leases.take("k", now + LEASE_TTL), "expired");
        assert!(!leases.take("other", now));
    }

    #[test]
    fn leases_are_one_percent_of_the_limit_within_bounds() {
        assert_eq!(lease_size(1_001), 10);
        assert_eq!(lease_size(50), 1);
        assert_eq!(lease_size(1_000_000_000), LEASE_MAX);
    }
}
