//! A2: announcements to every operator. Each is a stream of its own; the read side delivers
//! it to the message center of every operator that is not deactivated.

use ledger_core::announcement::AnnouncementCommand;
use ledger_core::ids::AnnouncementId;
use ledger_core::metadata::EventMetadata;
use serde::Serialize;

use super::Ledger;
use super::admin::Staff;
use crate::api_error::ApiError;
use crate::context::RequestContext;
use crate::wire;

#[derive(Debug, Clone, Serialize)]
pub struct AnnouncementView {
    pub id: AnnouncementId,
    pub title: String,
    pub body: String,
    pub published_at: String,
}

impl Ledger {
    pub async fn publish_announcement(
        &self,
        staff: &Staff,
        ctx: &RequestContext,
        title: String,
        body: String,
    ) -> Result<AnnouncementView, ApiError> {
        let now = self.now();
        let announcement_id = AnnouncementId::new();
        let metadata = EventMetadata {
            actor_id: staff.id.clone(),
            actor_role: staff.role,
            source_ip: ctx.source_ip.clone(),
            request_id: ctx.request_id.clone(),
            trace_id: ctx.trace_id.clone(),
            occurred_at: now,
        };
        let command = AnnouncementCommand::Publish {
            announcement_id,
            title: title.clone(),
            body: body.clone(),
            now,
        };
        self.execute(
            &self.announcements,
            &announcement_id.to_string(),
            &metadata,
            vec![command],
            None,
        )
        .await?;
        Ok(AnnouncementView {
            id: announcement_id,
            title,
            body,
            published_at: wire::time(now),
        })
    }
}
