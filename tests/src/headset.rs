//! A headset-server client: signs every request exactly as HEADSET-PROTOCOL.md says.

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::signing;
use serde_json::{Value, json};

pub const AUTHORIZE_PATH: &str = "/api/v1/auth/game/authorize";
pub const END_PATH: &str = "/api/v1/auth/game/end";
pub const CONFIG_PATH: &str = "/api/v1/auth/headset/config";
pub const HEARTBEAT_PATH: &str = "/api/v1/auth/headset/heartbeat";

#[derive(Clone)]
pub struct HeadsetClient {
    pub base_url: String,
    pub operator_id: OperatorId,
    pub key_id: String,
    pub secret: String,
    pub http: reqwest::Client,
}

/// What a call answered: status, headers of interest and the parsed body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub replayed: bool,
    pub retry_after: Option<String>,
    /// `X-Ledger-Position`: the transaction that appended this answer's events, if any.
    pub position: Option<String>,
    pub raw: String,
    pub body: Value,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

/// A fresh session id for `operator` at `now`: `{operatorId}_{millis}_{16 alphanumerics}`.
pub fn new_session_id(operator: OperatorId, now: DateTime<Utc>) -> String {
    let random: String = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    format!("{operator}_{}_{random}", now.timestamp_millis())
}

impl HeadsetClient {
    pub fn new(base_url: &str, operator_id: OperatorId, key_id: &str, secret: &str) -> Self {
        HeadsetClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            operator_id,
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            http: crate::cluster::http_client().build().unwrap(),
        }
    }

    pub fn new_session_id(&self) -> String {
        new_session_id(self.operator_id, Utc::now())
    }

    /// Sends a signed request; `timestamp` defaults to now, `session_id` is sent when given.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        session_id: Option<&str>,
        timestamp: Option<i64>,
    ) -> Reply {
        self.try_send(method, path, body, session_id, timestamp)
            .await
            .expect("request reaches the server")
    }

    /// [`Self::send`], with a transport failure (refused, reset, timed out) returned instead
    /// of panicking: the load generator counts those.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        session_id: Option<&str>,
        timestamp: Option<i64>,
    ) -> Result<Reply, reqwest::Error> {
        let ts = timestamp
            .unwrap_or_else(|| Utc::now().timestamp())
            .to_string();
        let signature = signing::sign(self.secret.as_bytes(), &ts, method, path, body);
        let url = format!("{}{}", self.base_url, path);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_vec()),
        };
        request = request
            .header("X-API-Key", &self.key_id)
            .header("X-Timestamp", ts)
            .header("X-Signature", signature);
        if let Some(session) = session_id {
            request = request.header("X-Session-ID", session);
        }
        Ok(reply(request.send().await?).await)
    }

    pub async fn authorize(
        &self,
        session_id: &str,
        app: AppId,
        site: SiteId,
        players: i64,
    ) -> Reply {
        self.try_authorize(session_id, app, site, players)
            .await
            .expect("request reaches the server")
    }

    /// [`Self::authorize`], returning a transport failure instead of panicking.
    pub async fn try_authorize(
        &self,
        session_id: &str,
        app: AppId,
        site: SiteId,
        players: i64,
    ) -> Result<Reply, reqwest::Error> {
        let body = json!({"app_id": app, "site_id": site, "player_count": players}).to_string();
        self.try_send(
            "POST",
            AUTHORIZE_PATH,
            body.as_bytes(),
            Some(session_id),
            None,
        )
        .await
    }

    pub async fn end(&self, session_id: &str, duration_seconds: Option<u64>) -> Reply {
        let body = match duration_seconds {
            Some(d) => json!({"duration_seconds": d}).to_string(),
            None => String::new(),
        };
        self.send("POST", END_PATH, body.as_bytes(), Some(session_id), None)
            .await
    }

    pub async fn config(&self) -> Reply {
        self.send("GET", CONFIG_PATH, b"", None, None).await
    }

    pub async fn heartbeat(&self, site: SiteId, server_id: &str, players_online: u32) -> Reply {
        let body = json!({"site_id": site, "server_id": server_id,
                          "players_online": players_online, "version": "1.0.0"})
        .to_string();
        self.send("POST", HEARTBEAT_PATH, body.as_bytes(), None, None)
            .await
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("Idempotent-Replayed")
        .is_some_and(|v| v.as_bytes() == b"true");
    let retry_after = response
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let position = response
        .headers()
        .get("X-Ledger-Position")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Reply {
        status,
        replayed,
        retry_after,
        position,
        raw,
        body,
    }
}
