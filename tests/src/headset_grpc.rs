//! A headset-server client over gRPC (`mrledger.headset.v1.HeadsetService`): signs every call
//! as HEADSET-PROTOCOL.md says, over the full method path and the request message's bytes.

use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::signing;
use prost::Message;
use proto::headset::v1::headset_service_client::HeadsetServiceClient;
use proto::headset::v1::{
    AuthorizeRequest, AuthorizeResponse, ConfigRequest, ConfigResponse, EndGameRequest,
    EndGameResponse, HeartbeatRequest, HeartbeatResponse,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Full method paths, as signed.
pub const AUTHORIZE_METHOD: &str = "/mrledger.headset.v1.HeadsetService/Authorize";
pub const END_METHOD: &str = "/mrledger.headset.v1.HeadsetService/EndGame";
pub const CONFIG_METHOD: &str = "/mrledger.headset.v1.HeadsetService/Config";
pub const HEARTBEAT_METHOD: &str = "/mrledger.headset.v1.HeadsetService/Heartbeat";

/// The stable error code of a refused call (`x-error-code` metadata); `""` when absent.
pub fn error_code(status: &Status) -> &str {
    status
        .metadata()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[derive(Clone)]
pub struct GrpcHeadsetClient {
    pub operator_id: OperatorId,
    pub key_id: String,
    pub secret: String,
    client: HeadsetServiceClient<Channel>,
}

impl GrpcHeadsetClient {
    /// A client of the service at `url` (`http://host:port`); it connects on the first call.
    pub fn new(url: &str, operator_id: OperatorId, key_id: &str, secret: &str) -> Self {
        let channel = Endpoint::from_shared(url.to_owned())
            .expect("a valid gRPC url")
            .connect_lazy();
        GrpcHeadsetClient {
            operator_id,
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            client: HeadsetServiceClient::new(channel),
        }
    }

    pub fn new_session_id(&self) -> String {
        crate::headset::new_session_id(self.operator_id, chrono::Utc::now())
    }

    /// `message` as a signed call of `method`; `timestamp` defaults to now. Tests change its
    /// metadata afterwards to send bad credentials.
    pub fn signed<M: Message>(
        &self,
        method: &str,
        message: M,
        session_id: Option<&str>,
        timestamp: Option<i64>,
    ) -> Request<M> {
        let ts = timestamp
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
            .to_string();
        let bytes = message.encode_to_vec();
        let signature = signing::sign(self.secret.as_bytes(), &ts, "POST", method, &bytes);
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        let value = |text: &str| MetadataValue::try_from(text).expect("ASCII metadata");
        metadata.insert("x-api-key", value(&self.key_id));
        metadata.insert("x-timestamp", value(&ts));
        metadata.insert("x-signature", value(&signature));
        if let Some(session) = session_id {
            metadata.insert("x-session-id", value(session));
        }
        request
    }

    pub fn authorize_request(
        &self,
        session_id: &str,
        app: AppId,
        site: SiteId,
        players: i64,
    ) -> Request<AuthorizeRequest> {
        let message = AuthorizeRequest {
            app_id: app.to_string(),
            site_id: site.to_string(),
            player_count: players,
        };
        self.signed(AUTHORIZE_METHOD, message, Some(session_id), None)
    }

    pub async fn authorize(
        &self,
        session_id: &str,
        app: AppId,
        site: SiteId,
        players: i64,
    ) -> Result<AuthorizeResponse, Status> {
        let request = self.authorize_request(session_id, app, site, players);
        self.send_authorize(request).await
    }

    pub async fn send_authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<AuthorizeResponse, Status> {
        let response = self.client.clone().authorize(request).await?;
        Ok(response.into_inner())
    }

    pub async fn end(
        &self,
        session_id: &str,
        duration_seconds: Option<u64>,
    ) -> Result<EndGameResponse, Status> {
        let message = EndGameRequest { duration_seconds };
        let request = self.signed(END_METHOD, message, Some(session_id), None);
        Ok(self.client.clone().end_game(request).await?.into_inner())
    }

    pub async fn config(&self) -> Result<ConfigResponse, Status> {
        let request = self.signed(CONFIG_METHOD, ConfigRequest {}, None, None);
        self.send_config(request).await
    }

    /// Sends a config call built with [`Self::signed`] (and changed by the test).
    pub async fn send_config(
        &self,
        request: Request<ConfigRequest>,
    ) -> Result<ConfigResponse, Status> {
        Ok(self.client.clone().config(request).await?.into_inner())
    }

    pub async fn heartbeat(
        &self,
        site: SiteId,
        server_id: &str,
        players_online: u32,
    ) -> Result<HeartbeatResponse, Status> {
        let message = HeartbeatRequest {
            site_id: site.to_string(),
            server_id: server_id.to_owned(),
            players_online,
            version: "1.0.0".to_owned(),
        };
        let request = self.signed(HEARTBEAT_METHOD, message, None, None);
        Ok(self.client.clone().heartbeat(request).await?.into_inner())
    }
}
