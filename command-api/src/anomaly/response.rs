//! What a trip sets off, off the request path: each misused operator is locked with the
//! existing `LockAccount` command (retried until the lock deadline while the database cannot
//! answer), then the alert is logged and recorded, and the metrics counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::ids::OperatorId;
use ledger_core::metadata::ActorRole;
use ledger_core::operator::OperatorCommand;

use super::alerts::SecurityAlert;
use super::config::Thresholds;
use super::{Counted, Tripped};
use crate::api_error::ErrorCode;
use crate::context::{Lang, RequestContext};
use crate::ledger::Ledger;
use crate::ledger::admin::Staff;

/// The actor id events of automatic locks carry.
pub const ANOMALY_ACTOR: &str = "anomaly-detector";

/// PRODUCT.md X2: misused operators are locked within one minute of the trip.
const LOCK_DEADLINE: Duration = Duration::from_secs(60);

/// Pause between attempts to lock while the database does not answer.
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The reason an automatic lock records: the IP and the counts that tripped it.
pub fn lock_reason(ip: &str, counted: &Counted, t: &Thresholds) -> String {
    format!(
        "automatic anomaly lock: IP {ip} sent {} failed signatures within {} s (limit {}) and \
         presented {} distinct unknown or failing key ids within {} s (limit {})",
        counted.failed_signatures,
        t.signature_window.as_secs(),
        t.signature_failures_max,
        counted.distinct_keys,
        t.distinct_keys_window.as_secs(),
        t.distinct_keys_max,
    )
}

/// Locks, alerts and counts for one trip of `ip`; `trigger` is the request that tripped it.
pub async fn respond_to_trip(
    ledger: Arc<Ledger>,
    thresholds: Thresholds,
    ip: String,
    counted: Counted,
    trigger: RequestContext,
) {
    let Some(Tripped { operators, blocked }) = counted.tripped.clone() else {
        return;
    };
    let reason = lock_reason(&ip, &counted, &thresholds);
    if blocked {
        crate::metrics::anomaly_blocked();
    }
    let ctx = RequestContext {
        request_id: trigger.request_id,
        trace_id: trigger.trace_id,
        source_ip: ip.clone(),
        lang: Lang::En,
    };
    let deadline = Instant::now() + LOCK_DEADLINE;
    let mut locked = Vec::new();
    for operator in operators {
        if lock(&ledger, &ctx, operator, &reason, deadline).await {
            crate::metrics::anomaly_locked();
            locked.push(operator);
        }
    }
    let alert = SecurityAlert {
        source_ip: ip,
        failed_signatures: counted.failed_signatures,
        distinct_key_ids: counted.distinct_keys,
        blocked_seconds: blocked.then_some(thresholds.block.as_secs()),
        locked_operators: locked,
        reason,
    };
    alert.log();
    if let Err(error) = alert.record(&ledger.pool, ledger.now()).await {
        tracing::warn!(%error, ip = %alert.source_ip, "security alert not recorded (it is in the log)");
    }
}

/// Whether `operator` was locked. A refusal (a deactivated operator) is final; the database
/// being unreachable is retried until `deadline`.
async fn lock(
    ledger: &Ledger,
    ctx: &RequestContext,
    operator: OperatorId,
    reason: &str,
    deadline: Instant,
) -> bool {
    let system = Staff {
        id: ANOMALY_ACTOR.to_owned(),
        role: ActorRole::System,
    };
    loop {
        let command = OperatorCommand::LockAccount {
            reason: reason.to_owned(),
            now: ledger.now(),
        };
        let error = match ledger
            .set_account_state(&system, ctx, operator, command)
            .await
        {
            Ok(_) => return true,
            Err(error) => error,
        };
        let transient = matches!(
            error.code,
            ErrorCode::ServiceUnavailable | ErrorCode::InternalError | ErrorCode::Conflict
        );
        if !transient || Instant::now() + LOCK_RETRY_PAUSE > deadline {
            tracing::error!(alert = "security", %operator, error_code = error.code.as_str(),
                            details = %error.details, "anomaly: operator could not be locked");
            return false;
        }
        tokio::time::sleep(LOCK_RETRY_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::config::AnomalySettings;

    #[test]
    fn the_reason_names_the_ip_and_the_counts_and_fits_an_event() {
        let t = Thresholds::from_settings(&AnomalySettings::default()).unwrap();
        let counted = Counted {
            failed_signatures: 21,
            distinct_keys: 1,
            tripped: None,
        };
        let reason = lock_reason("198.51.100.9", &counted, &t);
        assert!(reason.starts_with("automatic anomaly lock: IP 198.51.100.9 sent 21 failed"));
        assert!(reason.contains("within 300 s (limit 20)"), "{reason}");
        assert!(reason.contains("1 distinct"), "{reason}");
        let longest_ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        assert!(lock_reason(longest_ip, &counted, &t).len() <= ledger_core::operator::REASON_MAX);
    }
}
