//! The `HeadsetServer` aggregate: one headset server's heartbeats.
//!
//! Kept apart from the operator's money stream so that frequent heartbeats never contend with
//! charges. Stream id: `{operator_id}/{server_id}`.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::{OperatorId, SiteId};

/// Longest headset server id and software version (characters), from the protocol.
pub const SERVER_ID_MAX: usize = 64;
pub const VERSION_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HeadsetServerCommand {
    RecordHeartbeat {
        operator_id: OperatorId,
        site_id: SiteId,
        server_id: String,
        players_online: u32,
        version: String,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HeadsetServerEvent {
    HeartbeatReceived {
        operator_id: OperatorId,
        site_id: SiteId,
        server_id: String,
        players_online: u32,
        version: String,
        received_at: DateTime<Utc>,
    },
}

impl DomainEvent for HeadsetServerEvent {
    fn event_type(&self) -> String {
        "HeartbeatReceived".to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsetServerError {
    #[error("invalid field {field}")]
    InvalidField { field: &'static str },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HeadsetServer {
    pub last_seen: Option<DateTime<Utc>>,
    pub players_online: u32,
}

impl HeadsetServer {
    pub fn stream_id(operator_id: OperatorId, server_id: &str) -> String {
        format!("{operator_id}/{server_id}")
    }

    pub fn decide(
        &self,
        command: HeadsetServerCommand,
    ) -> Result<Vec<HeadsetServerEvent>, HeadsetServerError> {
        let HeadsetServerCommand::RecordHeartbeat {
            operator_id,
            site_id,
            server_id,
            players_online,
            version,
            now,
        } = command;
        let server_len = server_id.chars().count();
        if server_len == 0 || server_len > SERVER_ID_MAX {
            return Err(HeadsetServerError::InvalidField { field: "server_id" });
        }
        let version_len = version.chars().count();
        if version_len == 0 || version_len > VERSION_MAX {
            return Err(HeadsetServerError::InvalidField { field: "version" });
        }
        Ok(vec![HeadsetServerEvent::HeartbeatReceived {
            operator_id,
            site_id,
            server_id,
            players_online,
            version,
            received_at: now,
        }])
    }
}

impl Aggregate for HeadsetServer {
    const TYPE: &'static str = "HeadsetServer";
    type Command = HeadsetServerCommand;
    type Event = HeadsetServerEvent;
    type Error = HeadsetServerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let HeadsetServerEvent::HeartbeatReceived {
            players_online,
            received_at,
            ..
        } = event;
        self.last_seen = Some(received_at);
        self.players_online = players_online;
    }
}
