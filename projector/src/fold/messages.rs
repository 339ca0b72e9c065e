//! Operators' messages as a batch makes them: rows created for one operator, read marks, and
//! fan-outs to many operators.
//!
//! A message to one operator (low balance, grant expiry) is created in memory, and read
//! marks later in the batch are applied to it there. Messages written before (by earlier
//! batches, or by a fan-out earlier in this batch) are not loaded: a read mark on them is
//! kept and executed as one `UPDATE` when the batch writes. A fan-out is never folded in
//! memory: its recipients are every operator (or grant holder) in the read tables at that
//! point of the batch, most of them untouched by the batch, so the batch writes everything
//! folded so far and then inserts the fan-out with one `INSERT … SELECT` (see
//! `batch::project_in`). Each step thus sees exactly the events before it, as a replay would,
//! whatever the batch boundaries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId};
use serde::Serialize;

use crate::rows::MessageRow;

/// Kinds of message, as stored in `messages.kind`.
pub(crate) const ANNOUNCEMENT: &str = "announcement";
pub(crate) const PRICE_CHANGE: &str = "price_change";
pub(crate) const LOW_BALANCE: &str = "low_balance";
pub(crate) const GRANT_EXPIRY: &str = "grant_expiry";

/// A message to many operators, chosen by SQL over the read tables as they stand when it
/// runs: everything before its event written, nothing after.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FanOut {
    /// To every operator not deactivated.
    Announcement {
        id: i64,
        data: serde_json::Value,
        created_at: DateTime<Utc>,
    },
    /// To every operator holding an active grant of the app that has not expired at
    /// `created_at` (the price change's time).
    PriceChange {
        id: i64,
        app_id: AppId,
        data: serde_json::Value,
        created_at: DateTime<Utc>,
    },
}

/// "Read" for the operator's unread messages with an id below `below` (the marking event's
/// position: a message with a higher id did not exist when the operator asked) and, when
/// `ids` is set, among those ids.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReadMark {
    /// Order within the batch: when two marks cover one message, the first one's time wins.
    pub ord: i64,
    pub operator_id: OperatorId,
    pub ids: Option<Vec<i64>>,
    pub below: i64,
    pub read_at: DateTime<Utc>,
}

impl ReadMark {
    fn covers(&self, message: &MessageRow) -> bool {
        message.read_at.is_none()
            && message.id < self.below
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&message.id))
    }
}

/// Messages created and read marks made since the batch last wrote.
#[derive(Debug, Default)]
pub(crate) struct Messages {
    created: Vec<MessageRow>,
    /// Indexes into `created`, per operator.
    by_operator: HashMap<OperatorId, Vec<usize>>,
    marks: Vec<ReadMark>,
}

impl Messages {
    pub fn create(&mut self, row: MessageRow) {
        self.by_operator
            .entry(row.operator_id)
            .or_default()
            .push(self.created.len());
        self.created.push(row);
    }

    /// Applies a read mark to the messages created in memory, and keeps it for those written
    /// before.
    pub fn mark(
        &mut self,
        operator_id: OperatorId,
        ids: Option<Vec<i64>>,
        below: i64,
        read_at: DateTime<Utc>,
    ) {
        let mark = ReadMark {
            ord: i64::try_from(self.marks.len()).expect("a batch holds far fewer marks"),
            operator_id,
            ids,
            below,
            read_at,
        };
        for &i in self.by_operator.get(&operator_id).into_iter().flatten() {
            let message = &mut self.created[i];
            if mark.covers(message) {
                message.read_at = Some(read_at);
            }
        }
        self.marks.push(mark);
    }

    /// New rows, with their read marks applied.
    pub fn created(&self) -> &[MessageRow] {
        &self.created
    }

    /// Marks for the rows written before these were created.
    pub fn marks(&self) -> &[ReadMark] {
        &self.marks
    }

    pub fn clear(&mut self) {
        self.created.clear();
        self.by_operator.clear();
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(operator_id: OperatorId, id: i64) -> MessageRow {
        MessageRow {
            operator_id,
            id,
            kind: LOW_BALANCE,
            data: serde_json::json!({}),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            read_at: None,
        }
    }

    #[test]
    fn a_mark_reads_only_its_operators_earlier_unread_messages_and_the_first_mark_wins() {
        let (a, b) = (OperatorId::new(), OperatorId::new());
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let mut messages = Messages::default();
        messages.create(message(a, 10));
        messages.create(message(a, 20));
        messages.create(message(b, 11));
        messages.mark(a, Some(vec![10, 20, 11]), 15, t(1));
        messages.mark(a, None, 30, t(2));
        messages.create(message(a, 25));
        let read: Vec<(i64, Option<DateTime<Utc>>)> = messages
            .created()
            .iter()
            .map(|m| (m.id, m.read_at))
            .collect();
        assert_eq!(
            read,
            [(10, Some(t(1))), (20, Some(t(2))), (11, None), (25, None)]
        );
        assert_eq!(messages.marks().len(), 2);
        assert_eq!(messages.marks()[1].ord, 1);
    }
}
