//! The `Reconciliation` aggregate: one comparison of a gateway's daily statement with the
//! ledger's credits, recorded by a finance staff member. The event carries the run's summary
//! (what finance signs off on, and what the staff audit log shows); the per-trade items are
//! derived rows written in the same transaction, too many for an event.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::ReconciliationId;
use crate::money::Money;
use crate::operator::PaymentChannel;

/// How many trades fell in each kind, and the totals of both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationSummary {
    pub matched: u32,
    pub missing_in_ledger: u32,
    pub missing_at_gateway: u32,
    pub amount_mismatch: u32,
    pub gateway_count: u32,
    pub gateway_total: Money,
    pub ledger_count: u32,
    pub ledger_total: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReconciliationCommand {
    Record {
        reconciliation_id: ReconciliationId,
        channel: PaymentChannel,
        bill_date: NaiveDate,
        summary: ReconciliationSummary,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReconciliationEvent {
    ReconciliationRecorded {
        reconciliation_id: ReconciliationId,
        channel: PaymentChannel,
        bill_date: NaiveDate,
        summary: ReconciliationSummary,
        recorded_at: DateTime<Utc>,
    },
}

impl DomainEvent for ReconciliationEvent {
    fn event_type(&self) -> String {
        match self {
            ReconciliationEvent::ReconciliationRecorded { .. } => {
                "ReconciliationRecorded".to_owned()
            }
        }
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconciliationError {
    #[error("reconciliation already recorded")]
    AlreadyRecorded,
    #[error("the summary does not add up: {0}")]
    Inconsistent(&'static str),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub id: Option<ReconciliationId>,
}

impl ReconciliationSummary {
    /// Every statement line is matched, mismatched or missing in the ledger; every ledger
    /// credit is matched, mismatched or missing at the gateway.
    fn check(&self) -> Result<(), ReconciliationError> {
        let paired = self.matched + self.amount_mismatch;
        if paired + self.missing_in_ledger != self.gateway_count {
            return Err(ReconciliationError::Inconsistent(
                "gateway lines are not matched + mismatched + missing in ledger",
            ));
        }
        if paired + self.missing_at_gateway != self.ledger_count {
            return Err(ReconciliationError::Inconsistent(
                "ledger credits are not matched + mismatched + missing at gateway",
            ));
        }
        Ok(())
    }
}

impl Aggregate for Reconciliation {
    const TYPE: &'static str = "Reconciliation";
    type Command = ReconciliationCommand;
    type Event = ReconciliationEvent;
    type Error = ReconciliationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let ReconciliationCommand::Record {
            reconciliation_id,
            channel,
            bill_date,
            summary,
            now,
        } = command;
        if self.id.is_some() {
            return Err(ReconciliationError::AlreadyRecorded);
        }
        summary.check()?;
        let event = ReconciliationEvent::ReconciliationRecorded {
            reconciliation_id,
            channel,
            bill_date,
            summary,
            recorded_at: now,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let ReconciliationEvent::ReconciliationRecorded {
            reconciliation_id, ..
        } = event;
        self.id = Some(reconciliation_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn summary(
        matched: u32,
        in_ledger: u32,
        at_gateway: u32,
        mismatch: u32,
    ) -> ReconciliationSummary {
        ReconciliationSummary {
            matched,
            missing_in_ledger: in_ledger,
            missing_at_gateway: at_gateway,
            amount_mismatch: mismatch,
            gateway_count: matched + mismatch + in_ledger,
            gateway_total: Money::parse("10.00").unwrap(),
            ledger_count: matched + mismatch + at_gateway,
            ledger_total: Money::parse("10.00").unwrap(),
        }
    }

    fn record(summary: ReconciliationSummary) -> ReconciliationCommand {
        ReconciliationCommand::Record {
            reconciliation_id: ReconciliationId::default(),
            channel: PaymentChannel::Wechat,
            bill_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            summary,
            now: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_consistent_summary_is_recorded_once() {
        let recorded = ReconciliationEvent::ReconciliationRecorded {
            reconciliation_id: ReconciliationId::default(),
            channel: PaymentChannel::Wechat,
            bill_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            summary: summary(3, 1, 1, 1),
            recorded_at: DateTime::UNIX_EPOCH,
        };
        TestFramework::<Reconciliation>::with(())
            .given_no_previous_events()
            .when(record(summary(3, 1, 1, 1)))
            .then_expect_events(vec![recorded.clone()]);
        TestFramework::<Reconciliation>::with(())
            .given(vec![recorded])
            .when(record(summary(3, 1, 1, 1)))
            .then_expect_error(ReconciliationError::AlreadyRecorded);
    }

    #[test]
    fn counts_that_do_not_add_up_are_refused() {
        let mut wrong = summary(3, 1, 1, 1);
        wrong.gateway_count += 1;
        TestFramework::<Reconciliation>::with(())
            .given_no_previous_events()
            .when(record(wrong))
            .then_expect_error_message(
                "the summary does not add up: gateway lines are not matched + mismatched + missing in ledger",
            );
    }
}
