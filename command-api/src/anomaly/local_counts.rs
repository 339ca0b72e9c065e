//! The same counts, per instance, for when Redis cannot answer: a failure is still counted
//! and an IP still tripped, by this instance's share of the traffic.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use ledger_core::ids::OperatorId;

use super::config::Thresholds;
use super::{Counted, Failure, Tripped};

/// IPs tracked before idle ones are swept: bounds memory when many IPs fail once.
const SWEEP_ABOVE_IPS: usize = 10_000;

#[derive(Default)]
struct IpCounts {
    signatures: VecDeque<Instant>,
    key_ids: HashMap<String, Instant>,
    misused: HashMap<OperatorId, Instant>,
    tripped_until: Option<Instant>,
}

impl IpCounts {
    fn trim(&mut self, t: &Thresholds, now: Instant) {
        while self
            .signatures
            .front()
            .is_some_and(|at| now - *at >= t.signature_window)
        {
            self.signatures.pop_front();
        }
        self.key_ids
            .retain(|_, at| now - *at < t.distinct_keys_window);
        self.misused.retain(|_, at| now - *at < t.misuse_window());
    }

    fn idle(&self, now: Instant) -> bool {
        self.signatures.is_empty()
            && self.key_ids.is_empty()
            && self.tripped_until.is_none_or(|until| until <= now)
    }
}

#[derive(Default)]
pub struct LocalCounts {
    ips: Mutex<HashMap<String, IpCounts>>,
}

impl LocalCounts {
    pub fn record(
        &self,
        ip: &str,
        failure: &Failure,
        t: &Thresholds,
        enforce: bool,
        now: Instant,
    ) -> Counted {
        let mut ips = self.ips.lock().expect("local anomaly counts lock");
        if ips.len() > SWEEP_ABOVE_IPS {
            ips.retain(|_, counts| {
                counts.trim(t, now);
                !counts.idle(now)
            });
        }
        let counts = ips.entry(ip.to_owned()).or_default();
        if let Failure::BadSignature { operator, .. } = failure {
            counts.signatures.push_back(now);
            counts.misused.insert(*operator, now);
        }
        counts.key_ids.insert(failure.key_id().to_owned(), now);
        counts.trim(t, now);
        let failed_signatures = u32::try_from(counts.signatures.len()).unwrap_or(u32::MAX);
        let distinct_keys = u32::try_from(counts.key_ids.len()).unwrap_or(u32::MAX);
        let over =
            failed_signatures > t.signature_failures_max || distinct_keys > t.distinct_keys_max;
        let in_force = counts.tripped_until.is_some_and(|until| until > now);
        let tripped = (over && !in_force).then(|| {
            counts.tripped_until = Some(now + t.block);
            let mut operators: Vec<OperatorId> = counts.misused.keys().copied().collect();
            operators.sort_by_key(|o| o.0);
            Tripped {
                operators,
                blocked: enforce,
            }
        });
        Counted {
            failed_signatures,
            distinct_keys,
            tripped,
        }
    }

    /// Forgets the counts of `ip` (an admin unblocked it).
    pub fn forget(&self, ip: &str) {
        self.ips
            .lock()
            .expect("local anomaly counts lock")
            .remove(ip);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    use crate::anomaly::config::AnomalySettings;

    fn thresholds() -> Thresholds {
        Thresholds::from_settings(&AnomalySettings::default()).unwrap()
    }

    fn bad_signature(operator: OperatorId) -> Failure {
        Failure::BadSignature {
            key_id: "mrk_a".to_owned(),
            operator,
        }
    }

    #[test]
    fn the_twenty_first_failed_signature_trips_once_and_names_the_operator() {
        let (local, t, start) = (LocalCounts::default(), thresholds(), Instant::now());
        let operator = OperatorId(uuid::Uuid::new_v4());
        for n in 0..20 {
            let counted = local.record("ip", &bad_signature(operator), &t, true, start + secs(n));
            assert!(counted.tripped.is_none(), "failure {n} must not trip");
        }
        let counted = local.record("ip", &bad_signature(operator), &t, true, start + secs(20));
        assert_eq!(counted.failed_signatures, 21);
        let tripped = counted.tripped.expect("the 21st failure trips");
        assert_eq!(tripped.operators, vec![operator]);
        assert!(tripped.blocked);
        let again = local.record("ip", &bad_signature(operator), &t, true, start + secs(21));
        assert!(again.tripped.is_none(), "a trip in force answers once");
    }

    #[test]
    fn failures_that_left_the_window_do_not_count() {
        let (local, t, start) = (LocalCounts::default(), thresholds(), Instant::now());
        let operator = OperatorId(uuid::Uuid::new_v4());
        for n in 0..20 {
            local.record("ip", &bad_signature(operator), &t, true, start + secs(n));
        }
        let later = start + secs(300);
        let counted = local.record("ip", &bad_signature(operator), &t, true, later);
        assert_eq!(
            counted.failed_signatures, 20,
            "the first failure left the window"
        );
        assert!(counted.tripped.is_none());
    }

    #[test]
    fn six_distinct_unknown_keys_in_a_minute_trip_without_operators() {
        let (local, t, start) = (LocalCounts::default(), thresholds(), Instant::now());
        for n in 0..6 {
            let failure = Failure::UnknownKey {
                key_id: format!("mrk_unknown_{n}"),
            };
            let counted = local.record("ip", &failure, &t, false, start + secs(n));
            assert_eq!(counted.tripped.is_some(), n == 5, "failure {n}");
            if let Some(tripped) = counted.tripped {
                assert!(tripped.operators.is_empty());
                assert!(!tripped.blocked, "not enforced for a trusted IP");
            }
        }
        // The same key id again is not a new distinct key.
        let other = LocalCounts::default();
        for n in 0..10 {
            let failure = Failure::UnknownKey {
                key_id: "mrk_same".to_owned(),
            };
            assert!(
                other
                    .record("ip", &failure, &t, true, start + secs(n))
                    .tripped
                    .is_none()
            );
        }
    }
}
