//! Who did it, from where, and when: recorded with every event.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The kind of actor behind a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorRole {
    HeadsetServer,
    Operator,
    SuperAdmin,
    Admin,
    FinanceSpecialist,
    FinanceManager,
    FinanceAuditor,
    Analyst,
    System,
}

impl ActorRole {
    /// Roles a staff account can hold (everyone who logs in except operators).
    pub const STAFF: [ActorRole; 6] = [
        ActorRole::SuperAdmin,
        ActorRole::Admin,
        ActorRole::FinanceSpecialist,
        ActorRole::FinanceManager,
        ActorRole::FinanceAuditor,
        ActorRole::Analyst,
    ];

    pub fn is_staff(self) -> bool {
        Self::STAFF.contains(&self)
    }

    pub fn parse_staff(text: &str) -> Option<ActorRole> {
        Self::STAFF.into_iter().find(|r| r.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActorRole::HeadsetServer => "headset_server",
            ActorRole::Operator => "operator",
            ActorRole::SuperAdmin => "super_admin",
            ActorRole::Admin => "admin",
            ActorRole::FinanceSpecialist => "finance_specialist",
            ActorRole::FinanceManager => "finance_manager",
            ActorRole::FinanceAuditor => "finance_auditor",
            ActorRole::Analyst => "analyst",
            ActorRole::System => "system",
        }
    }
}

/// Metadata of one command, copied onto each of its events. Stored as a flat JSON object of
/// strings so the cqrs-es ecosystem (`HashMap<String, String>`) reads it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor_id: String,
    pub actor_role: ActorRole,
    pub source_ip: String,
    pub request_id: String,
    pub trace_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl EventMetadata {
    pub fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("actor_id".to_owned(), self.actor_id.clone()),
            ("actor_role".to_owned(), self.actor_role.as_str().to_owned()),
            ("source_ip".to_owned(), self.source_ip.clone()),
            ("request_id".to_owned(), self.request_id.clone()),
            ("trace_id".to_owned(), self.trace_id.clone()),
            (
                "occurred_at".to_owned(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ])
    }
}
