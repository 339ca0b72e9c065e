//! Reconciliation (issue 4, item 5): a channel's gateway statement for a Beijing day against
//! the ledger's credits of that channel paid that day. Each run is a `ReconciliationRecorded`
//! event (its summary, and who asked: the staff audit log shows it) written in one transaction
//! with the run's row and items.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use ledger_core::money::Money;
use ledger_core::operator::PaymentChannel;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use ledger_core::ids::ReconciliationId;
use ledger_core::metadata::EventMetadata;
use ledger_core::reconciliation::{ReconciliationCommand, ReconciliationSummary};

use super::admin::Staff;
use super::{Ledger, SideWrite};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::payments::statement::StatementLine;
use crate::store::StoreError;
use crate::wire;

/// One trade as the ledger credited it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCredit {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Matched,
    MissingInLedger,
    MissingAtGateway,
    AmountMismatch,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Matched => "matched",
            ItemKind::MissingInLedger => "missing_in_ledger",
            ItemKind::MissingAtGateway => "missing_at_gateway",
            ItemKind::AmountMismatch => "amount_mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: ItemKind,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub gateway_amount: Option<Money>,
    pub ledger_amount: Option<Money>,
    pub detail: Option<String>,
}

/// Pairs statement and ledger by our `out_trade_no` (what both sides know); within a pair
/// a different amount or gateway transaction id is a mismatch.
pub fn compare(gateway: &[StatementLine], ledger: &[LedgerCredit]) -> Vec<Item> {
    let mut by_trade: BTreeMap<&str, (Option<&StatementLine>, Option<&LedgerCredit>)> =
        BTreeMap::new();
    for line in gateway {
        by_trade.entry(&line.out_trade_no).or_default().0 = Some(line);
    }
    for credit in ledger {
        by_trade.entry(&credit.out_trade_no).or_default().1 = Some(credit);
    }
    by_trade
        .into_iter()
        .map(|(out_trade_no, pair)| match pair {
            (Some(g), Some(l)) => {
                let (kind, detail) = if g.amount != l.amount {
                    (ItemKind::AmountMismatch, None)
                } else if g.transaction_id != l.transaction_id {
                    (
                        ItemKind::AmountMismatch,
                        Some(format!(
                            "gateway transaction {} but ledger credited {}",
                            g.transaction_id, l.transaction_id
                        )),
                    )
                } else {
                    (ItemKind::Matched, None)
                };
                Item {
                    kind,
                    out_trade_no: out_trade_no.to_owned(),
                    transaction_id: Some(g.transaction_id.clone()),
                    gateway_amount: Some(g.amount),
                    ledger_amount: Some(l.amount),
                    detail,
                }
            }
            (Some(g), None) => Item {
                kind: ItemKind::MissingInLedger,
                out_trade_no: out_trade_no.to_owned(),
                transaction_id: Some(g.transaction_id.clone()),
                gateway_amount: Some(g.amount),
                ledger_amount: None,
                detail: None,
            },
            (None, Some(l)) => Item {
                kind: ItemKind::MissingAtGateway,
                out_trade_no: out_trade_no.to_owned(),
                transaction_id: Some(l.transaction_id.clone()),
                gateway_amount: None,
                ledger_amount: Some(l.amount),
                detail: None,
            },
            (None, None) => unreachable!("every entry has a side"),
        })
        .collect()
}

/// A stored run, as answered.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: Uuid,
    pub channel: PaymentChannel,
    pub bill_date: String,
    pub created_by: String,
    pub created_at: String,
    pub matched: i32,
    pub missing_in_ledger: i32,
    pub missing_at_gateway: i32,
    pub amount_mismatch: i32,
    pub gateway_count: i32,
    pub gateway_total: Money,
    pub ledger_count: i32,
    pub ledger_total: Money,
}

/// `[start, end)` of the Beijing calendar day `date`, in UTC.
pub fn beijing_day(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is valid");
    let start = beijing
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc);
    (start, start + Duration::days(1))
}

fn total(amounts: impl Iterator<Item = Money>) -> Result<Money, ApiError> {
    let fen: i64 = amounts.map(Money::fen).sum();
    Money::from_fen(fen).map_err(|e| ApiError::from(StoreError::Corrupt(e.to_string())))
}

fn decimal(money: Option<Money>) -> Option<Decimal> {
    money.map(|m| Decimal::new(m.fen(), 2))
}

impl Ledger {
    /// The credits of `channel` paid in `[from, to)`: `RechargeSucceeded` events (paid time
    /// as the gateway reported it), with our out-trade-no from `payment_orders`.
    async fn credits(
        &self,
        channel: PaymentChannel,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LedgerCredit>, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let rows = client
            .query(
                "SELECT o.out_trade_no, s.p->>'transaction_id' AS transaction_id,
                        s.p->>'amount' AS amount
                 FROM events e
                 CROSS JOIN LATERAL (SELECT e.payload->'RechargeSucceeded' AS p) s
                 JOIN payment_transactions t
                   ON t.channel = s.p->>'channel' AND t.transaction_id = s.p->>'transaction_id'
                 JOIN payment_orders o ON o.order_id = t.order_id
                 WHERE e.event_type = 'RechargeSucceeded'
                   AND s.p->>'channel' = $1
                   AND (s.p->>'paid_at')::timestamptz >= $2
                   AND (s.p->>'paid_at')::timestamptz < $3",
                &[&channel.as_str(), &from, &to],
            )
            .await
            .map_err(StoreError::from)?;
        rows.iter()
            .map(|row| {
                let amount: String = row.get("amount");
                Ok(LedgerCredit {
                    out_trade_no: row.get("out_trade_no"),
                    transaction_id: row.get("transaction_id"),
                    amount: Money::parse(&amount).map_err(|e| {
                        StoreError::Corrupt(format!("RechargeSucceeded amount {amount:?}: {e}"))
                    })?,
                })
            })
            .collect()
    }

    /// Downloads the statement, compares, stores the run and its items.
    pub async fn reconcile(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        channel: PaymentChannel,
        date: NaiveDate,
    ) -> Result<RunView, ApiError> {
        if !self.payments.enabled(channel) {
            return Err(ApiError::with(
                ErrorCode::PaymentChannelUnavailable,
                serde_json::json!({ "channel": channel.as_str() }),
            ));
        }
        let statement = self
            .payments
            .statement(channel, date)
            .await
            .map_err(|error| {
                tracing::warn!(%error, channel = channel.as_str(), %date,
                               "statement download failed");
                ApiError::with(
                    ErrorCode::PaymentGatewayUnavailable,
                    serde_json::json!({ "channel": channel.as_str(), "date": date.to_string() }),
                )
            })?;
        let (from, to) = beijing_day(date);
        let credits = self.credits(channel, from, to).await?;
        let items = compare(&statement, &credits);
        let count = |kind: ItemKind| items.iter().filter(|i| i.kind == kind).count() as u32;
        let now = self.now();
        let reconciliation_id = ReconciliationId::new();
        let summary = ReconciliationSummary {
            matched: count(ItemKind::Matched),
            missing_in_ledger: count(ItemKind::MissingInLedger),
            missing_at_gateway: count(ItemKind::MissingAtGateway),
            amount_mismatch: count(ItemKind::AmountMismatch),
            gateway_count: statement.len() as u32,
            gateway_total: total(statement.iter().map(|l| l.amount))?,
            ledger_count: credits.len() as u32,
            ledger_total: total(credits.iter().map(|c| c.amount))?,
        };
        let stored = StoredRun {
            id: reconciliation_id,
            channel,
            bill_date: date,
            created_by: staff.id.clone(),
            created_at: now,
            summary: summary.clone(),
            items,
        };
        let view = stored.view();
        let metadata = EventMetadata {
            actor_id: staff.id.clone(),
            actor_role: staff.role,
            source_ip: ctx.source_ip.clone(),
            request_id: ctx.request_id.clone(),
            trace_id: ctx.trace_id.clone(),
            occurred_at: now,
        };
        let command = ReconciliationCommand::Record {
            reconciliation_id,
            channel,
            bill_date: date,
            summary,
            now,
        };
        self.execute(
            &self.reconciliations,
            &reconciliation_id.to_string(),
            &metadata,
            vec![command],
            Some(SideWrite::ReconciliationRun(Box::new(stored))),
        )
        .await?;
        tracing::info!(run_id = %view.id, channel = channel.as_str(), %date,
                       created_by = %staff.id, request_id = %ctx.request_id,
                       matched = view.matched, missing_in_ledger = view.missing_in_ledger,
                       missing_at_gateway = view.missing_at_gateway,
                       amount_mismatch = view.amount_mismatch, "reconciliation run stored");
        Ok(view)
    }
}

/// A run as written beside its `ReconciliationRecorded` event.
#[derive(Debug, Clone)]
pub struct StoredRun {
    id: ReconciliationId,
    channel: PaymentChannel,
    bill_date: NaiveDate,
    created_by: String,
    created_at: DateTime<Utc>,
    summary: ReconciliationSummary,
    items: Vec<Item>,
}

impl StoredRun {
    fn view(&self) -> RunView {
        let s = &self.summary;
        RunView {
            id: self.id.as_uuid(),
            channel: self.channel,
            bill_date: self.bill_date.to_string(),
            created_by: self.created_by.clone(),
            created_at: wire::time(self.created_at),
            matched: s.matched as i32,
            missing_in_ledger: s.missing_in_ledger as i32,
            missing_at_gateway: s.missing_at_gateway as i32,
            amount_mismatch: s.amount_mismatch as i32,
            gateway_count: s.gateway_count as i32,
            gateway_total: s.gateway_total,
            ledger_count: s.ledger_count as i32,
            ledger_total: s.ledger_total,
        }
    }

    /// The run row, then its items in batches (one statement per batch, not per item: a
    /// month-end statement holds thousands of trades).
    pub(super) async fn insert(
        &self,
        client: &impl deadpool_postgres::GenericClient,
    ) -> Result<(), StoreError> {
        let view = self.view();
        client
            .execute(
                "INSERT INTO reconciliation_runs (id, channel, bill_date, created_by, created_at,
                     matched, missing_in_ledger, missing_at_gateway, amount_mismatch,
                     gateway_count, gateway_total, ledger_count, ledger_total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &view.id,
                    &self.channel.as_str(),
                    &self.bill_date,
                    &self.created_by,
                    &self.created_at,
                    &view.matched,
                    &view.missing_in_ledger,
                    &view.missing_at_gateway,
                    &view.amount_mismatch,
                    &view.gateway_count,
                    &decimal(Some(view.gateway_total)),
                    &view.ledger_count,
                    &decimal(Some(view.ledger_total)),
                ],
            )
            .await
            .map_err(StoreError::from)?;
        for (batch_index, batch) in self.items.chunks(ITEM_BATCH).enumerate() {
            let first_line = (batch_index * ITEM_BATCH) as i32 + 1;
            let lines: Vec<i32> = (0..batch.len() as i32).map(|i| first_line + i).collect();
            let kinds: Vec<&str> = batch.iter().map(|i| i.kind.as_str()).collect();
            let trades: Vec<&str> = batch.iter().map(|i| i.out_trade_no.as_str()).collect();
            let transactions: Vec<Option<&str>> =
                batch.iter().map(|i| i.transaction_id.as_deref()).collect();
            let gateway: Vec<Option<Decimal>> =
                batch.iter().map(|i| decimal(i.gateway_amount)).collect();
            let ledger: Vec<Option<Decimal>> =
                batch.iter().map(|i| decimal(i.ledger_amount)).collect();
            let details: Vec<Option<&str>> = batch.iter().map(|i| i.detail.as_deref()).collect();
            client
                .execute(
                    "INSERT INTO reconciliation_items (run_id, line, kind, out_trade_no,
                         transaction_id, gateway_amount, ledger_amount, detail)
                     SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[],
                                              $6::numeric[], $7::numeric[], $8::text[])",
                    &[
                        &view.id,
                        &lines,
                        &kinds,
                        &trades,
                        &transactions,
                        &gateway,
                        &ledger,
                        &details,
                    ],
                )
                .await
                .map_err(StoreError::from)?;
        }
        Ok(())
    }
}

/// Items per INSERT of a run.
const ITEM_BATCH: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn line(out: &str, tx: &str, amount: &str) -> StatementLine {
        StatementLine {
            out_trade_no: out.into(),
            transaction_id: tx.into(),
            amount: money(amount),
            paid_at: None,
        }
    }

    fn credit(out: &str, tx: &str, amount: &str) -> LedgerCredit {
        LedgerCredit {
            out_trade_no: out.into(),
            transaction_id: tx.into(),
            amount: money(amount),
        }
    }

    #[test]
    fn every_trade_lands_in_exactly_one_kind() {
        let gateway = [
            line("A", "1", "10.00"),
            line("B", "2", "20.00"),
            line("C", "3", "30.00"),
        ];
        let ledger = [
            credit("A", "1", "10.00"),
            credit("C", "3", "31.00"),
            credit("D", "4", "40.00"),
        ];
        let kinds: Vec<(String, ItemKind)> = compare(&gateway, &ledger)
            .into_iter()
            .map(|i| (i.out_trade_no, i.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("A".into(), ItemKind::Matched),
                ("B".into(), ItemKind::MissingInLedger),
                ("C".into(), ItemKind::AmountMismatch),
                ("D".into(), ItemKind::MissingAtGateway),
            ]
        );
    }

    #[test]
    fn beijing_day_starts_at_16_utc_the_day_before() {
        let (from, to) = beijing_day(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
        assert_eq!(from.to_rfc3339(), "2026-11-21T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-22T16:00:00+00:00");
    }
}
