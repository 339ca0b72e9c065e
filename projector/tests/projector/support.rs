//! Event fixtures and helpers shared by the projector tests.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use ledger_core::announcement::{Announcement, AnnouncementEvent};
use ledger_core::application::{AppEvent, Application};
use ledger_core::headset_server::{HeadsetServer, HeadsetServerEvent};
use ledger_core::ids::{
    AnnouncementId, AppId, AuthorizationToken, CreditId, KeyId, OperatorId, RechargeOrderId,
    RefundId, SessionId, SiteId, StaffId,
};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::money::Money;
use ledger_core::operator::{Category, Operator, OperatorEvent, PaymentChannel};
use ledger_core::staff_account::{StaffEvent, StaffMember};
use projector::Step;
use tokio_postgres::{Client, GenericClient};

/// A fixed instant plus `seconds`, so expected rows are exact.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_763_728_200, 0).unwrap() + TimeDelta::seconds(seconds)
}

pub fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

pub async fn append_operator(
    client: &impl GenericClient,
    id: OperatorId,
    events: &[OperatorEvent],
) -> Vec<i64> {
    tests::events::append::<Operator>(
        client,
        &id.to_string(),
        events,
        &tests::events::metadata(at(0)),
    )
    .await
    .unwrap()
}

/// Metadata of a staff member's command (role `role`) at `seconds`.
pub fn by_staff(actor_id: &str, role: ActorRole, seconds: i64) -> EventMetadata {
    tests::events::metadata_of(actor_id, role, "10.0.0.7", at(seconds))
}

/// Metadata of an operator's own command at `seconds`.
pub fn by_operator(id: OperatorId, seconds: i64) -> EventMetadata {
    tests::events::metadata_of(
        &id.to_string(),
        ActorRole::Operator,
        "192.0.2.1",
        at(seconds),
    )
}

pub async fn append_operator_as(
    client: &impl GenericClient,
    id: OperatorId,
    events: &[OperatorEvent],
    metadata: &EventMetadata,
) -> Vec<i64> {
    tests::events::append::<Operator>(client, &id.to_string(), events, metadata)
        .await
        .unwrap()
}

pub async fn append_staff(
    client: &impl GenericClient,
    id: StaffId,
    events: &[StaffEvent],
    metadata: &EventMetadata,
) -> Vec<i64> {
    tests::events::append::<StaffMember>(client, &id.to_string(), events, metadata)
        .await
        .unwrap()
}

/// Publishes an announcement by admin `actor` at `seconds`; returns its position.
pub async fn announce(
    client: &impl GenericClient,
    actor: &str,
    title: &str,
    seconds: i64,
) -> (AnnouncementId, i64) {
    let id = AnnouncementId::new();
    let event = AnnouncementEvent::AnnouncementPublished {
        announcement_id: id,
        title: title.to_owned(),
        body: format!("{title} body"),
        published_at: at(seconds),
    };
    let positions = tests::events::append::<Announcement>(
        client,
        &id.to_string(),
        &[event],
        &by_staff(actor, ActorRole::Admin, seconds),
    )
    .await
    .unwrap();
    (id, positions[0])
}

pub async fn append_app(client: &impl GenericClient, id: AppId, events: &[AppEvent]) -> Vec<i64> {
    tests::events::append::<Application>(
        client,
        &id.to_string(),
        events,
        &tests::events::metadata(at(0)),
    )
    .await
    .unwrap()
}

pub async fn append_heartbeat(client: &impl GenericClient, event: HeadsetServerEvent) -> Vec<i64> {
    let HeadsetServerEvent::HeartbeatReceived {
        operator_id,
        server_id,
        ..
    } = &event;
    let stream = HeadsetServer::stream_id(*operator_id, server_id);
    tests::events::append::<HeadsetServer>(
        client,
        &stream,
        &[event],
        &tests::events::metadata(at(0)),
    )
    .await
    .unwrap()
}

/// A catalog app.
#[derive(Debug, Clone)]
pub struct AppFixture {
    pub id: AppId,
    pub name: String,
    pub price: Money,
}

impl AppFixture {
    pub fn new(name: &str, price: &str) -> AppFixture {
        AppFixture {
            id: AppId::new(),
            name: name.to_owned(),
            price: money(price),
        }
    }

    pub fn created(&self, seconds: i64) -> AppEvent {
        AppEvent::AppCreated {
            app_id: self.id,
            name: self.name.clone(),
            description: format!("{} description", self.name),
            unit_price: self.price,
            min_players: 1,
            max_players: 8,
            created_at: at(seconds),
        }
    }
}

/// Builds an operator's events with balances that add up, as the aggregate would.
#[derive(Debug, Clone)]
pub struct OperatorScript {
    pub id: OperatorId,
    pub site: SiteId,
    pub key: KeyId,
    pub balance: Money,
    sessions: u64,
}

impl OperatorScript {
    pub fn new() -> OperatorScript {
        OperatorScript {
            id: OperatorId::new(),
            site: SiteId::new(),
            key: KeyId(format!("mrk_{}", uuid::Uuid::new_v4().simple())),
            balance: Money::ZERO,
            sessions: 0,
        }
    }

    /// Registration, first credential and first site.
    pub fn register(&self, seconds: i64) -> Vec<OperatorEvent> {
        vec![
            OperatorEvent::OperatorRegistered {
                operator_id: self.id,
                username: format!("op_{}", self.id.as_uuid().simple()),
                name: "Arcade".to_owned(),
                phone: "13800000000".to_owned(),
                email: "arcade@example.com".to_owned(),
                category: Category::Standard,
                registered_at: at(seconds),
            },
            OperatorEvent::CredentialIssued {
                key_id: self.key.clone(),
                fingerprint: "ab".repeat(32),
                issued_at: at(seconds),
            },
            OperatorEvent::SiteOpened {
                site_id: self.site,
                name: "Main hall".to_owned(),
                address: "1 Arcade Road".to_owned(),
                opened_at: at(seconds),
            },
        ]
    }

    /// Registration followed by the category's threshold, as the aggregate records it.
    pub fn register_with_threshold(&self, seconds: i64, threshold: &str) -> Vec<OperatorEvent> {
        let mut events = self.register(seconds);
        events.push(OperatorEvent::LowBalanceThresholdSet {
            threshold: money(threshold),
            set_at: at(seconds),
        });
        events
    }

    /// Approval of a refund: the whole balance goes out.
    pub fn refund(&mut self, refund_id: RefundId, seconds: i64) -> OperatorEvent {
        let amount = self.balance;
        self.balance = Money::ZERO;
        OperatorEvent::RefundApproved {
            refund_id,
            amount,
            balance_after: Money::ZERO,
            approved_at: at(seconds),
        }
    }

    pub fn grant(&self, app: &AppFixture, seconds: i64) -> OperatorEvent {
        OperatorEvent::AppGranted {
            app_id: app.id,
            expires_at: None,
            granted_at: at(seconds),
        }
    }

    pub fn credit(&mut self, amount: &str, seconds: i64) -> OperatorEvent {
        let amount = money(amount);
        self.balance = self.balance.checked_add(amount).unwrap();
        OperatorEvent::BalanceCredited {
            credit_id: CreditId::new(),
            amount,
            reason: "bank transfer".to_owned(),
            balance_after: self.balance,
            credited_at: at(seconds),
        }
    }

    /// A recharge order; `out_trade_no` is derived from the order id.
    pub fn recharge_ordered(
        &self,
        order_id: RechargeOrderId,
        channel: PaymentChannel,
        amount: &str,
        seconds: i64,
    ) -> OperatorEvent {
        OperatorEvent::RechargeOrdered {
            order_id,
            out_trade_no: out_trade_no(order_id),
            channel,
            amount: money(amount),
            ordered_at: at(seconds),
        }
    }

    /// The gateway's confirmation of an order: money in.
    pub fn recharge_succeeded(
        &mut self,
        order_id: RechargeOrderId,
        channel: PaymentChannel,
        amount: &str,
        seconds: i64,
    ) -> OperatorEvent {
        let amount = money(amount);
        self.balance = self.balance.checked_add(amount).unwrap();
        OperatorEvent::RechargeSucceeded {
            order_id,
            channel,
            transaction_id: format!("tx-{}", order_id.as_uuid().simple()),
            amount,
            balance_after: self.balance,
            paid_at: at(seconds - 1),
            succeeded_at: at(seconds),
        }
    }

    pub fn next_session(&mut self, seconds: i64) -> SessionId {
        self.sessions += 1;
        SessionId::parse(&format!(
            "{}_{}_{:016}",
            self.id,
            at(seconds).timestamp_millis(),
            self.sessions
        ))
        .unwrap()
    }

    pub fn authorize(
        &mut self,
        app: &AppFixture,
        players: u32,
        seconds: i64,
    ) -> (SessionId, OperatorEvent) {
        let session_id = self.next_session(seconds);
        let total_cost = app.price.times(players).unwrap();
        self.balance = self.balance.checked_sub(total_cost).unwrap();
        let event = OperatorEvent::GameAuthorized {
            session_id: session_id.clone(),
            authorization_token: AuthorizationToken::new(),
            app_id: app.id,
            app_name: app.name.clone(),
            site_id: self.site,
            player_count: players,
            unit_price: app.price,
            total_cost,
            balance_after: self.balance,
            authorized_at: at(seconds),
        };
        (session_id, event)
    }

    pub fn end(
        &self,
        session_id: &SessionId,
        duration_seconds: u64,
        seconds: i64,
    ) -> OperatorEvent {
        OperatorEvent::GameEnded {
            session_id: session_id.clone(),
            duration_seconds,
            ended_at: at(seconds),
        }
    }

    pub fn heartbeat(&self, server: &str, players_online: u32, seconds: i64) -> HeadsetServerEvent {
        HeadsetServerEvent::HeartbeatReceived {
            operator_id: self.id,
            site_id: self.site,
            server_id: server.to_owned(),
            players_online,
            version: "1.0.0".to_owned(),
            received_at: at(seconds),
        }
    }
}

/// Our order number at the gateway for a test order (32 characters at most, as the gateways
/// allow; the tail of the id, since its head is a timestamp shared by ids made together).
pub fn out_trade_no(order_id: RechargeOrderId) -> String {
    format!("MR{}", &order_id.as_uuid().simple().to_string()[2..])
}

/// Runs the step function until caught up; returns the events projected.
pub async fn project_all(client: &mut Client, schema: &str) -> usize {
    let mut total = 0;
    while let Step::Projected(n) = projector::project_next_batch(client, schema).await.unwrap() {
        total += n;
    }
    total
}

/// Tables of a read schema, in a fixed order.
pub const READ_TABLES: [&str; 16] = [
    "operators",
    "credentials",
    "sites",
    "apps",
    "grants",
    "usage_records",
    "transactions",
    "headset_servers",
    "staff",
    "app_applications",
    "refunds",
    "invoices",
    "recharge_orders",
    "announcements",
    "messages",
    "staff_actions",
];

/// Runs the step function with batches of `limit` events until caught up.
pub async fn project_all_in_batches_of(client: &mut Client, schema: &str, limit: i64) -> usize {
    let mut total = 0;
    while let Step::Projected(n) = projector::project_batch_of(client, schema, limit)
        .await
        .unwrap()
    {
        total += n;
    }
    total
}

/// Messages of `operator`: (id, kind, data as text, read_at), by id.
pub async fn messages_of(
    client: &Client,
    operator: OperatorId,
) -> Vec<(i64, String, serde_json::Value, Option<DateTime<Utc>>)> {
    client
        .query(
            "SELECT id, kind, data, read_at FROM read.messages WHERE operator_id = $1 ORDER BY id",
            &[&operator.as_uuid()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Operators that received the message with id `id`, sorted.
pub async fn recipients(client: &Client, id: i64) -> Vec<uuid::Uuid> {
    client
        .query(
            "SELECT operator_id FROM read.messages WHERE id = $1 ORDER BY operator_id",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every row of every read table of `schema` as sorted JSON texts, plus the checkpoint's
/// event-derived columns.
pub async fn dump(client: &Client, schema: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in READ_TABLES {
        let rows = client
            .query(
                &format!("SELECT row_to_json(t)::text FROM {schema}.{table} t ORDER BY 1"),
                &[],
            )
            .await
            .unwrap();
        out.insert(table.to_owned(), rows.iter().map(|r| r.get(0)).collect());
    }
    let checkpoint = client
        .query_one(
            &format!(
                "SELECT tx_id::text || '/' || position || '/' || events FROM {schema}.checkpoint"
            ),
            &[],
        )
        .await
        .unwrap();
    out.insert("checkpoint".to_owned(), vec![checkpoint.get(0)]);
    out
}

pub async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// A history of `operators` operators with `games` paid games each (plus their setup), in
/// bulk: one statement per stream.
pub async fn seed_many(client: &Client, operators: usize, games: usize) -> usize {
    let app = AppFixture::new("Bulk Game", "2.50");
    append_app(client, app.id, &[app.created(0)]).await;
    let mut total = 1;
    for _ in 0..operators {
        let mut op = OperatorScript::new();
        let mut events = op.register(1);
        events.push(op.grant(&app, 2));
        events.push(op.credit("1000000", 3));
        for g in 0..games {
            let seconds = 10 + g as i64;
            let (session, event) = op.authorize(&app, 2, seconds);
            events.push(event);
            if g % 2 == 0 {
                events.push(op.end(&session, 300, seconds + 1));
            }
        }
        total += events.len();
        append_operator(client, op.id, &events).await;
    }
    total
}
