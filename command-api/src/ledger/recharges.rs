//! Online recharges (O2, invariant 6): the operator opens an order (an event on its stream,
//! with the `out_trade_no` → order row in the same transaction), the gateway is asked for
//! what the payer scans, and money enters only from a verified gateway result — a callback
//! or the poller's query — applied once: the `payment_transactions` row is written with
//! `RechargeSucceeded`, so a second application is refused by the database, whichever
//! instance tries it.

use chrono::{DateTime, TimeDelta, Utc};
use ledger_core::ids::{OperatorId, RechargeOrderId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::money::Money;
use ledger_core::operator::{
    GatewayPayment, OperatorCommand, OperatorError, OperatorEvent, PaymentChannel,
};
use serde::Serialize;

use super::alerts::FinanceAlert;
use super::{Ledger, Refused, SideWrite};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::payments::{Notification, Paid, PayCode, TradeState, wechat};
use crate::store::{StoreError, classify};
use crate::wire;

/// What the payer sees as the goods at the gateway.
pub const SUBJECT: &str = "MR Ledger 余额充值";
/// Who records what the poller learnt (metadata `actor_id`, role `system`).
pub const POLLER_ACTOR: &str = "recharge-poller";

/// Who records what a gateway's callback said (metadata `actor_id`, role `system`).
pub fn gateway_actor(channel: PaymentChannel) -> String {
    format!("gateway:{}", channel.as_str())
}

/// Our order number at the gateway: `MR` + the first 30 hex digits of the order id (32
/// characters: WeChat's limit; the order id is time-ordered, so they sort by creation).
pub fn out_trade_no(order_id: RechargeOrderId) -> String {
    format!("MR{}", &order_id.as_uuid().simple().to_string()[..30])
}

/// Timing of the poller and the review threshold (settings `recharge_*`).
#[derive(Debug, Clone)]
pub struct RechargePolicy {
    pub query_after: TimeDelta,
    pub max_failures: u32,
    pub close_after: TimeDelta,
}

impl Default for RechargePolicy {
    fn default() -> Self {
        RechargePolicy {
            query_after: TimeDelta::seconds(300),
            max_failures: 3,
            close_after: TimeDelta::hours(2),
        }
    }
}

impl RechargePolicy {
    pub fn from_settings(settings: &crate::settings::Settings) -> RechargePolicy {
        RechargePolicy {
            query_after: TimeDelta::seconds(settings.recharge_query_after_seconds),
            max_failures: settings.recharge_query_max_failures,
            close_after: TimeDelta::seconds(settings.recharge_close_after_seconds),
        }
    }
}

/// A `payment_orders` row.
#[derive(Debug, Clone)]
pub struct PaymentOrder {
    pub out_trade_no: String,
    pub order_id: RechargeOrderId,
    pub operator_id: OperatorId,
    pub channel: PaymentChannel,
    pub amount: Money,
    pub created_at: DateTime<Utc>,
}

const ORDER_COLUMNS: &str = "out_trade_no, order_id, operator_id, channel, amount, created_at";

impl PaymentOrder {
    pub(super) async fn insert(
        &self,
        client: &impl deadpool_postgres::GenericClient,
    ) -> Result<(), StoreError> {
        client
            .execute(
                "INSERT INTO payment_orders (out_trade_no, order_id, operator_id, channel, \
                 amount, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &self.out_trade_no,
                    &self.order_id.as_uuid(),
                    &self.operator_id.as_uuid(),
                    &self.channel.as_str(),
                    &self.amount.as_decimal(),
                    &self.created_at,
                ],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub fn from_row(row: &tokio_postgres::Row) -> Result<PaymentOrder, StoreError> {
        let channel: String = row.get(3);
        Ok(PaymentOrder {
            out_trade_no: row.get(0),
            order_id: RechargeOrderId(row.get(1)),
            operator_id: OperatorId(row.get(2)),
            channel: PaymentChannel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("payment channel {channel:?}")))?,
            amount: Money::from_decimal(row.get(4))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_at: row.get(5),
        })
    }

    pub async fn find(
        client: &impl deadpool_postgres::GenericClient,
        out_trade_no: &str,
    ) -> Result<Option<PaymentOrder>, StoreError> {
        let row = client
            .query_opt(
                &format!("SELECT {ORDER_COLUMNS} FROM payment_orders WHERE out_trade_no = $1"),
                &[&out_trade_no],
            )
            .await
            .map_err(classify)?;
        row.as_ref().map(PaymentOrder::from_row).transpose()
    }

    /// Orders created in `(since, until]` with no applied payment, oldest first.
    pub async fn unpaid(
        client: &impl deadpool_postgres::GenericClient,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PaymentOrder>, StoreError> {
        let rows = client
            .query(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM payment_orders o \
                     WHERE created_at > $1 AND created_at <= $2 AND NOT EXISTS \
                     (SELECT 1 FROM payment_transactions t WHERE t.order_id = o.order_id) \
                     ORDER BY created_at LIMIT $3"
                ),
                &[&since, &until, &limit],
            )
            .await
            .map_err(classify)?;
        rows.iter().map(PaymentOrder::from_row).collect()
    }
}

/// A `payment_transactions` row.
#[derive(Debug, Clone)]
pub struct AppliedPayment {
    pub channel: PaymentChannel,
    pub transaction_id: String,
    pub order_id: RechargeOrderId,
    pub applied_at: DateTime<Utc>,
}

impl AppliedPayment {
    pub(super) async fn insert(
        &self,
        client: &impl deadpool_postgres::GenericClient,
    ) -> Result<(), StoreError> {
        client
            .execute(
                "INSERT INTO payment_transactions (channel, transaction_id, order_id, applied_at) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    &self.channel.as_str(),
                    &self.transaction_id,
                    &self.order_id.as_uuid(),
                    &self.applied_at,
                ],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// A new order as `POST /api/v1/operator/recharges` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct RechargeOrderView {
    pub id: RechargeOrderId,
    pub out_trade_no: String,
    pub channel: PaymentChannel,
    pub amount: Money,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    pub created_at: String,
}

/// What was done with a gateway result (`payment_callbacks.outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Money entered the balance.
    Credited,
    /// This payment was applied before: nothing more to do.
    Duplicate,
    /// The payment failed: the order is failed, no money moved.
    Failed,
    /// Closed at the gateway: the order is closed.
    Closed,
    /// Nothing to do (not paid yet, or a failure/close for an order already decided).
    Ignored,
    /// Not applied, for this reason (unverifiable, unknown order, wrong amount, order no
    /// longer open, ...). Nothing changed.
    Rejected(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Credited => "credited",
            Outcome::Duplicate => "duplicate",
            Outcome::Failed => "failed",
            Outcome::Closed => "closed",
            Outcome::Ignored => "ignored",
            Outcome::Rejected(_) => "rejected",
        }
    }

    /// Whether the gateway is told "received": everything but a rejection.
    pub fn accepted(&self) -> bool {
        !matches!(self, Outcome::Rejected(_))
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Rejected(reason) => Some(reason),
            _ => None,
        }
    }
}

/// Who reported a result: a callback (its source address and request) or the poller.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub actor_id: String,
    pub source_ip: String,
    pub request_id: String,
    pub trace_id: String,
}

impl Reporter {
    pub fn callback(channel: PaymentChannel, ctx: &RequestContext) -> Reporter {
        Reporter {
            actor_id: gateway_actor(channel),
            source_ip: ctx.source_ip.clone(),
            request_id: ctx.request_id.clone(),
            trace_id: ctx.trace_id.clone(),
        }
    }

    pub fn poller() -> Reporter {
        Reporter {
            actor_id: POLLER_ACTOR.to_owned(),
            source_ip: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    fn metadata(&self, now: DateTime<Utc>) -> EventMetadata {
        EventMetadata {
            actor_id: self.actor_id.clone(),
            actor_role: ActorRole::System,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            trace_id: self.trace_id.clone(),
            occurred_at: now,
        }
    }
}

/// A callback as received, for `payment_callbacks`.
struct Received<'a> {
    channel: PaymentChannel,
    source_ip: &'a str,
    body: &'a [u8],
}

impl Ledger {
    /// O2: opens a recharge order and asks the gateway for what the payer scans. The order
    /// is recorded first; when the gateway then cannot be reached the order stays pending
    /// (the poller resolves or closes it) and the answer is 503 naming it.
    pub async fn create_recharge(
        &self,
        operator_id: OperatorId,
        ctx: &RequestContext,
        channel: PaymentChannel,
        amount: Money,
    ) -> Result<RechargeOrderView, ApiError> {
        if !self.payments.enabled(channel) {
            return Err(ApiError::with(
                ErrorCode::PaymentChannelUnavailable,
                serde_json::json!({ "channel": channel.as_str() }),
            ));
        }
        let now = self.now();
        let order_id = RechargeOrderId::new();
        let out_trade_no = out_trade_no(order_id);
        let order = PaymentOrder {
            out_trade_no: out_trade_no.clone(),
            order_id,
            operator_id,
            channel,
            amount,
            created_at: now,
        };
        let metadata = EventMetadata {
            actor_id: operator_id.to_string(),
            actor_role: ActorRole::Operator,
            source_ip: ctx.source_ip.clone(),
            request_id: ctx.request_id.clone(),
            trace_id: ctx.trace_id.clone(),
            occurred_at: now,
        };
        self.execute(
            &self.operators,
            &operator_id.to_string(),
            &metadata,
            vec![OperatorCommand::CreateRechargeOrder {
                order_id,
                out_trade_no: out_trade_no.clone(),
                channel,
                amount,
                now,
            }],
            Some(SideWrite::PaymentOrder(order)),
        )
        .await?;
        let code = self
            .payments
            .create(channel, &out_trade_no, amount, SUBJECT)
            .await
            .map_err(|error| {
                tracing::warn!(%error, %order_id, %out_trade_no, channel = channel.as_str(),
                               "gateway did not open the recharge order; it stays pending");
                ApiError::with(
                    ErrorCode::PaymentGatewayUnavailable,
                    serde_json::json!({ "order_id": order_id, "out_trade_no": out_trade_no,
                                        "channel": channel.as_str() }),
                )
            })?;
        let (code_url, qr_code) = match code {
            PayCode::CodeUrl(url) => (Some(url), None),
            PayCode::QrCode(code) => (None, Some(code)),
        };
        Ok(RechargeOrderView {
            id: order_id,
            out_trade_no,
            channel,
            amount,
            status: "pending",
            code_url,
            qr_code,
            created_at: wire::time(now),
        })
    }

    /// A WeChat Pay callback: verified, applied, recorded. `Err` only when the result could
    /// not be applied or recorded (the gateway should retry).
    pub async fn wechat_callback(
        &self,
        headers: &wechat::SignedHeaders,
        body: &[u8],
        ctx: &RequestContext,
    ) -> Result<Outcome, ApiError> {
        let channel = PaymentChannel::Wechat;
        let parsed = match &self.payments.wechat {
            Some(gateway) => gateway.parse_callback(headers, body, self.now()),
            None => Err("channel wechat is not configured".to_owned()),
        };
        self.callback(
            parsed,
            Received {
                channel,
                source_ip: &ctx.source_ip,
                body,
            },
            ctx,
        )
        .await
    }

    /// An Alipay async notify: verified, applied, recorded.
    pub async fn alipay_callback(
        &self,
        body: &[u8],
        ctx: &RequestContext,
    ) -> Result<Outcome, ApiError> {
        let channel = PaymentChannel::Alipay;
        let parsed = match &self.payments.alipay {
            Some(gateway) => gateway.parse_notify(body),
            None => Err("channel alipay is not configured".to_owned()),
        };
        self.callback(
            parsed,
            Received {
                channel,
                source_ip: &ctx.source_ip,
                body,
            },
            ctx,
        )
        .await
    }

    async fn callback(
        &self,
        parsed: Result<Notification, String>,
        received: Received<'_>,
        ctx: &RequestContext,
    ) -> Result<Outcome, ApiError> {
        let channel = received.channel;
        let (notification, outcome) = match parsed {
            Err(reason) => (None, Outcome::Rejected(reason)),
            Ok(notification) => {
                let outcome = match self
                    .apply_gateway_result(
                        channel,
                        &notification.out_trade_no,
                        &notification.state,
                        &Reporter::callback(channel, ctx),
                        self.now(),
                    )
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(error) => {
                        let reason = format!("not applied: {}", error.code.as_str());
                        let _ = self
                            .record_callback(&received, Some(&notification), "error", Some(&reason))
                            .await;
                        return Err(error);
                    }
                };
                (Some(notification), outcome)
            }
        };
        if let Outcome::Rejected(reason) = &outcome {
            if let Some(notification) = &notification {
                // The gateway vouches for this result, yet it was not applied (wrong amount,
                // unknown or closed order): money may be held at the gateway.
                self.alert_finance(
                    FinanceAlert::not_applied(channel, notification, reason),
                    self.now(),
                )
                .await;
            } else {
                tracing::warn!(channel = channel.as_str(), source_ip = %ctx.source_ip, %reason,
                               "unverifiable payment callback refused; nothing credited");
            }
        }
        self.record_callback(
            &received,
            notification.as_ref(),
            outcome.as_str(),
            outcome.reason(),
        )
        .await?;
        Ok(outcome)
    }

    async fn record_callback(
        &self,
        received: &Received<'_>,
        notification: Option<&Notification>,
        outcome: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let transaction_id = notification.and_then(|n| match &n.state {
            TradeState::Paid(paid) => Some(paid.transaction_id.clone()),
            _ => None,
        });
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO payment_callbacks (channel, received_at, source_ip, verified, \
                 outcome, reason, out_trade_no, transaction_id, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &received.channel.as_str(),
                    &self.now(),
                    &received.source_ip,
                    &notification.is_some(),
                    &outcome,
                    &reason,
                    &notification.map(|n| n.out_trade_no.as_str()),
                    &transaction_id,
                    &String::from_utf8_lossy(received.body).as_ref(),
                ],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Applies what the gateway (verified) says about `out_trade_no`.
    pub async fn apply_gateway_result(
        &self,
        channel: PaymentChannel,
        out_trade_no: &str,
        state: &TradeState,
        reporter: &Reporter,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let Some(order) = PaymentOrder::find(&client, out_trade_no).await? else {
            return Ok(Outcome::Rejected(format!(
                "unknown out_trade_no {out_trade_no:?}"
            )));
        };
        drop(client);
        if order.channel != channel {
            return Ok(Outcome::Rejected(format!(
                "order {out_trade_no} was placed with {}",
                order.channel.as_str()
            )));
        }
        let metadata = reporter.metadata(now);
        match state {
            TradeState::Paid(paid) => self.credit(&order, paid, &metadata, now).await,
            TradeState::NotPaid => Ok(Outcome::Ignored),
            TradeState::Failed(reason) => {
                let command = OperatorCommand::FailRecharge {
                    order_id: order.order_id,
                    reason: reason.chars().take(200).collect(),
                    now,
                };
                self.decide_on_order(&order, &metadata, command, Outcome::Failed)
                    .await
            }
            TradeState::Closed => {
                let command = OperatorCommand::CloseRecharge {
                    order_id: order.order_id,
                    now,
                };
                self.decide_on_order(&order, &metadata, command, Outcome::Closed)
                    .await
            }
        }
    }

    /// Fails or closes an order; an order decided already is left as it is.
    async fn decide_on_order(
        &self,
        order: &PaymentOrder,
        metadata: &EventMetadata,
        command: OperatorCommand,
        done: Outcome,
    ) -> Result<Outcome, ApiError> {
        match self
            .execute(
                &self.operators,
                &order.operator_id.to_string(),
                metadata,
                vec![command],
                None,
            )
            .await
        {
            Ok(_) => Ok(done),
            Err(Refused::Domain(OperatorError::RechargeOrderNotOpen)) => Ok(Outcome::Ignored),
            Err(e) => Err(e.into()),
        }
    }

    async fn credit(
        &self,
        order: &PaymentOrder,
        paid: &Paid,
        metadata: &EventMetadata,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ApiError> {
        if paid.amount != order.amount {
            return Ok(Outcome::Rejected(format!(
                "amount mismatch: order {} is {}, paid {}",
                order.out_trade_no, order.amount, paid.amount
            )));
        }
        let command = OperatorCommand::ConfirmRecharge {
            order_id: order.order_id,
            payment: GatewayPayment {
                transaction_id: paid.transaction_id.clone(),
                paid_amount: paid.amount,
                paid_at: paid.paid_at,
            },
            now,
        };
        let side = SideWrite::PaymentTransaction(AppliedPayment {
            channel: order.channel,
            transaction_id: paid.transaction_id.clone(),
            order_id: order.order_id,
            applied_at: now,
        });
        let result = self
            .execute(
                &self.operators,
                &order.operator_id.to_string(),
                metadata,
                vec![command],
                Some(side),
            )
            .await;
        match result {
            Ok(done) => {
                let balance_after = done.events.iter().find_map(|e| match e {
                    OperatorEvent::RechargeSucceeded { balance_after, .. } => Some(*balance_after),
                    _ => None,
                });
                tracing::info!(out_trade_no = %order.out_trade_no, operator_id = %order.operator_id,
                               amount = %order.amount, balance_after = ?balance_after,
                               transaction_id = %paid.transaction_id, "recharge credited");
                Ok(Outcome::Credited)
            }
            Err(Refused::Domain(OperatorError::RechargeOrderNotOpen)) => {
                self.already_applied(order, paid).await
            }
            Err(Refused::Store(StoreError::Taken(constraint))) => {
                tracing::info!(%constraint, "payment already applied (unique row)");
                self.already_applied(order, paid).await
            }
            // A result the domain refuses outright (wrong amount, a malformed transaction id)
            // will not get better on a retry: answer it as rejected, recorded with its reason.
            Err(Refused::Domain(
                e @ (OperatorError::RechargeAmountMismatch { .. }
                | OperatorError::InvalidField { .. }),
            )) => Ok(Outcome::Rejected(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Why a payment could not be applied to an order that is no longer open.
    async fn already_applied(
        &self,
        order: &PaymentOrder,
        paid: &Paid,
    ) -> Result<Outcome, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let applied = client
            .query_opt(
                "SELECT channel, transaction_id FROM payment_transactions WHERE order_id = $1",
                &[&order.order_id.as_uuid()],
            )
            .await
            .map_err(classify)?;
        Ok(match applied {
            Some(row)
                if row.get::<_, &str>(0) == order.channel.as_str()
                    && row.get::<_, &str>(1) == paid.transaction_id =>
            {
                Outcome::Duplicate
            }
            Some(row) => {
                let other: String = row.get(1);
                tracing::warn!(out_trade_no = %order.out_trade_no, applied = %other,
                               again = %paid.transaction_id,
                               "a second payment for a credited recharge order");
                Outcome::Rejected(format!("order already paid by transaction {other}"))
            }
            None => {
                let taken = client
                    .query_opt(
                        "SELECT order_id FROM payment_transactions \
                         WHERE channel = $1 AND transaction_id = $2",
                        &[&order.channel.as_str(), &paid.transaction_id],
                    )
                    .await
                    .map_err(classify)?;
                if taken.is_some() {
                    Outcome::Rejected("transaction already applied to another order".to_owned())
                } else {
                    tracing::warn!(out_trade_no = %order.out_trade_no,
                                   transaction_id = %paid.transaction_id,
                                   "payment reported for a closed or failed recharge order; not credited");
                    Outcome::Rejected("order is closed or failed; not credited".to_owned())
                }
            }
        })
    }

    /// A failed gateway query of an open order; answers whether the order now needs review.
    pub async fn record_recharge_query_failure(
        &self,
        order: &PaymentOrder,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let command = OperatorCommand::RecordRechargeQueryFailure {
            order_id: order.order_id,
            reason: reason.chars().take(200).collect(),
            max_failures: self.recharge_policy.max_failures,
            now,
        };
        match self
            .execute(
                &self.operators,
                &order.operator_id.to_string(),
                &Reporter::poller().metadata(now),
                vec![command],
                None,
            )
            .await
        {
            Ok(done) => Ok(done
                .events
                .iter()
                .any(|e| matches!(e, OperatorEvent::RechargeNeedsReview { .. }))),
            Err(Refused::Domain(OperatorError::RechargeOrderNotOpen)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
