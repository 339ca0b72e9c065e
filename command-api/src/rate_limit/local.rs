//! The in-process sliding window: the same limits, counted per instance, for when Redis
//! cannot answer.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Verdict;

/// Keys tracked before idle ones are swept: bounds memory when many IPs pass by.
const SWEEP_ABOVE_KEYS: usize = 10_000;

#[derive(Default)]
pub struct LocalWindow {
    /// Admission times per key, oldest first.
    admitted: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LocalWindow {
    pub fn check(&self, key: &str, limit: u32, window: Duration, now: Instant) -> Verdict {
        let mut admitted = self.admitted.lock().expect("local limiter lock");
        if admitted.len() > SWEEP_ABOVE_KEYS {
            admitted.retain(|_, times| times.back().is_some_and(|t| now - *t < window));
        }
        let times = admitted.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| now - *t >= window) {
            times.pop_front();
        }
        if times.len() < limit as usize {
            times.push_back(now);
            return Verdict::Admitted;
        }
        let oldest = *times.front().expect("limit is at least 1");
        Verdict::Refused {
            retry_after: window - (now - oldest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_rather_than_resets() {
        let local = LocalWindow::default();
        let window = Duration::from_secs(60);
        let start = Instant::now();
        for second in 0..3 {
            let at = start + Duration::from_secs(second * 10);
            assert_eq!(local.check("k", 3, window, at), Verdict::Admitted);
        }
        let refused = local.check("k", 3, window, start + Duration::from_secs(59));
        assert_eq!(
            refused,
            Verdict::Refused {
                retry_after: Duration::from_secs(1)
            }
        );
        // The first admission left the window; one more fits, the others still count.
        let later = start + Duration::from_secs(60);
        assert_eq!(local.check("k", 3, window, later), Verdict::Admitted);
        assert!(matches!(
            local.check("k", 3, window, later),
            Verdict::Refused { .. }
        ));
        assert_eq!(local.check("other", 3, window, later), Verdict::Admitted);
    }
}
