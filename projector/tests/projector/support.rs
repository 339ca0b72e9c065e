//! Event fixtures and helpers shared by the projector tests.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use ledger_core::application::{AppEvent, Application};
use ledger_core::headset_server::{HeadsetServer, HeadsetServerEvent};
use ledger_core::ids::{AppId, AuthorizationToken, CreditId, KeyId, OperatorId, SessionId, SiteId};
use ledger_core::money::Money;
use ledger_core::operator::{Category, Operator, OperatorEvent};
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

/// Runs the step function until caught up; returns the events projected.
pub async fn project_all(client: &mut Client, schema: &str) -> usize {
    let mut total = 0;
    while let Step::Projected(n) = projector::project_next_batch(client, schema).await.unwrap() {
        total += n;
    }
    total
}

/// Tables of a read schema, in a fixed order.
pub const READ_TABLES: [&str; 8] = [
    "operators",
    "credentials",
    "sites",
    "apps",
    "grants",
    "usage_records",
    "transactions",
    "headset_servers",
];

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
