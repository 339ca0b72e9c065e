//! Group commit across operators: one writer task takes every batch of charges waiting for
//! it and records them with one statement, so under load a single round trip, plan and WAL
//! flush carry the charges of many operators.
//!
//! Each operator's batch was decided under that operator's lock, so batches never touch the
//! same stream. If the combined statement is refused (an app changed, a session id already
//! has a row, another instance appended), each batch is written again on its own, so one
//! batch's trouble is reported to that batch only.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::{mpsc, oneshot};

use crate::store::events::{EventRow, RowArrays};
use crate::store::{StoreError, classify};

/// Most batches written by one statement.
const MAX_BATCHES: usize = 128;

/// One new session's idempotency row.
pub struct SessionRow {
    pub operator: uuid::Uuid,
    pub session_id: String,
    pub app: uuid::Uuid,
    pub site: uuid::Uuid,
    pub players: i32,
    pub at: DateTime<Utc>,
    /// The `data` answered, byte for byte, for replays.
    pub response: String,
}

/// The charges of one operator's batch: events, session rows, and the app versions the
/// prices were read at.
pub struct Charges {
    pub rows: Vec<EventRow>,
    pub sessions: Vec<SessionRow>,
    pub apps: Vec<(String, i64)>,
}

type Reply = oneshot::Sender<Result<Option<u64>, StoreError>>;

#[derive(Clone)]
pub struct Committer {
    submit: mpsc::UnboundedSender<(Charges, Reply)>,
}

impl Committer {
    /// Starts the writer task on the current runtime.
    pub fn spawn(pool: Pool) -> Committer {
        let (submit, mut waiting) = mpsc::unbounded_channel::<(Charges, Reply)>();
        tokio::spawn(async move {
            let mut taken = Vec::with_capacity(MAX_BATCHES);
            while waiting.recv_many(&mut taken, MAX_BATCHES).await > 0 {
                write(&pool, std::mem::take(&mut taken)).await;
            }
        });
        Committer { submit }
    }

    /// Records `charges` and answers the appending transaction's id; `Ok(None)`: an app
    /// changed since its price was read (nothing written).
    pub async fn commit(&self, charges: Charges) -> Result<Option<u64>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit
            .send((charges, reply))
            .map_err(|_| StoreError::Unavailable("committer stopped".to_owned()))?;
        // The writer died with the charges in hand: they may have been written.
        answer
            .await
            .map_err(|_| StoreError::Interrupted("committer stopped".to_owned()))?
    }
}

async fn write(pool: &Pool, batches: Vec<(Charges, Reply)>) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            let cause = e.to_string();
            for (_, reply) in batches {
                let _ = reply.send(Err(StoreError::Unavailable(cause.clone())));
            }
            return;
        }
    };
    if batches.len() > 1 {
        let all: Vec<&Charges> = batches.iter().map(|(c, _)| c).collect();
        if let Ok(Some(tx_id)) = append(&client, &all).await {
            for (_, reply) in batches {
                let _ = reply.send(Ok(Some(tx_id)));
            }
            return;
        }
    }
    // Alone, each batch gets its own outcome.
    for (charges, reply) in batches {
        let _ = reply.send(append(&client, &[&charges]).await);
    }
}

/// Every session row and every event, only if every app is still at the version its price
/// was read at. If any session id already has a row, `mr_assert` aborts the whole statement
/// (as a unique violation on `headset_sessions_pkey`): a session row is never written
/// without its charge.
const APPEND_AUTHORIZATIONS: &str = "WITH guard AS ( \
        SELECT coalesce(bool_and(coalesce((SELECT max(e.sequence) FROM events e \
            WHERE e.aggregate_type = 'Application' AND e.aggregate_id = g.app), 0) = g.version), true) AS ok \
        FROM unnest($9::text[], $10::int8[]) AS g(app, version) \
    ), session AS ( \
        INSERT INTO headset_sessions \
        (operator_id, session_id, app_id, site_id, player_count, authorized_at, response) \
        SELECT s.op, s.sid, s.app, s.site, s.players, s.at, s.resp \
        FROM unnest($11::uuid[], $12::text[], $13::uuid[], $14::uuid[], $15::int4[], $16::timestamptz[], $17::text[]) \
          AS s(op, sid, app, site, players, at, resp) \
        WHERE (SELECT ok FROM guard) \
        ON CONFLICT (operator_id, session_id) DO NOTHING \
        RETURNING 1 \
    ), appended AS ( \
        INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash) \
        SELECT t.at, t.ai, t.seq, t.et, t.ev, t.p::json, t.m::json, t.h \
        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
          AS t(at, ai, seq, et, ev, p, m, h) \
        WHERE (SELECT ok FROM guard) \
        RETURNING tx_id \
    ) SELECT (SELECT ok FROM guard) \
        AND mr_assert((SELECT count(*) FROM session) = $18, 'a session id of the batch is already authorized'), \
        (SELECT tx_id::text FROM appended LIMIT 1)";

async fn append(
    client: &deadpool_postgres::Client,
    all: &[&Charges],
) -> Result<Option<u64>, StoreError> {
    let rows: Vec<EventRow> = all.iter().flat_map(|c| c.rows.iter().cloned()).collect();
    let sessions: Vec<&SessionRow> = all.iter().flat_map(|c| c.sessions.iter()).collect();
    let (app_ids, versions): (Vec<&str>, Vec<i64>) = all
        .iter()
        .flat_map(|c| c.apps.iter())
        .map(|(app, v)| (app.as_str(), *v))
        .unzip();
    let a = RowArrays::new(&rows);
    let operators: Vec<uuid::Uuid> = sessions.iter().map(|s| s.operator).collect();
    let session_ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
    let apps: Vec<uuid::Uuid> = sessions.iter().map(|s| s.app).collect();
    let sites: Vec<uuid::Uuid> = sessions.iter().map(|s| s.site).collect();
    let players: Vec<i32> = sessions.iter().map(|s| s.players).collect();
    let times: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.at).collect();
    let responses: Vec<&str> = sessions.iter().map(|s| s.response.as_str()).collect();
    let expected = i64::try_from(sessions.len()).expect("batches are small");
    let statement = client.prepare_cached(APPEND_AUTHORIZATIONS).await?;
    let row = client
        .query_one(
            &statement,
            &[
                a.params(),
                vec![
                    &app_ids,
                    &versions,
                    &operators,
                    &session_ids,
                    &apps,
                    &sites,
                    &players,
                    &times,
                    &responses,
                    &expected,
                ],
            ]
            .concat(),
        )
        .await
        .map_err(|e| classify(e).of_write())?;
    let written: bool = row.get(0);
    let tx_id: Option<&str> = row.get(1);
    Ok(tx_id.filter(|_| written).map(crate::position::parse))
}
