//! The `Announcement` aggregate: a notice from the platform to every operator. The read side
//! delivers it to each operator's message center.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::AnnouncementId;

pub const TITLE_MAX: usize = 100;
pub const BODY_MAX: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnnouncementCommand {
    Publish {
        announcement_id: AnnouncementId,
        title: String,
        body: String,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnnouncementEvent {
    AnnouncementPublished {
        announcement_id: AnnouncementId,
        title: String,
        body: String,
        published_at: DateTime<Utc>,
    },
}

impl DomainEvent for AnnouncementEvent {
    fn event_type(&self) -> String {
        match self {
            AnnouncementEvent::AnnouncementPublished { .. } => "AnnouncementPublished".to_owned(),
        }
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    #[error("announcement already published")]
    AlreadyPublished,
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub id: Option<AnnouncementId>,
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), AnnouncementError> {
    let len = value.trim().chars().count();
    if len == 0 || len > max {
        return Err(AnnouncementError::InvalidField {
            field,
            reason: format!("1 to {max} characters"),
        });
    }
    Ok(())
}

impl Aggregate for Announcement {
    const TYPE: &'static str = "Announcement";
    type Command = AnnouncementCommand;
    type Event = AnnouncementEvent;
    type Error = AnnouncementError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let AnnouncementCommand::Publish {
            announcement_id,
            title,
            body,
            now,
        } = command;
        if self.id.is_some() {
            return Err(AnnouncementError::AlreadyPublished);
        }
        check_text("title", &title, TITLE_MAX)?;
        check_text("body", &body, BODY_MAX)?;
        let event = AnnouncementEvent::AnnouncementPublished {
            announcement_id,
            title,
            body,
            published_at: now,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let AnnouncementEvent::AnnouncementPublished {
            announcement_id, ..
        } = event;
        self.id = Some(announcement_id);
    }
}
