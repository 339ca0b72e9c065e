//! Staff members and announcements: streams of their own, whose rows keep no stream head
//! (`State::heads` does).

use ledger_core::announcement::AnnouncementEvent;
use ledger_core::ids::{AnnouncementId, StaffId};
use ledger_core::staff_account::StaffEvent;

use super::{FanOut, State};
use crate::rows::{AnnouncementRow, StaffRow};
use crate::source::StoredEvent;

const ACTIVE: &str = "active";
const DISABLED: &str = "disabled";

impl State {
    pub(super) fn apply_staff(&mut self, id: StaffId, e: &StaffEvent) -> Result<(), String> {
        use StaffEvent as E;
        if let E::StaffCreated {
            staff_id,
            username,
            name,
            role,
            created_at,
        } = e
        {
            if *staff_id != id {
                return Err(format!(
                    "creates staff member {staff_id} in another one's stream"
                ));
            }
            if self.staff.contains(&id) {
                return Err("staff member created twice".to_owned());
            }
            self.staff.insert(
                id,
                StaffRow {
                    id,
                    username: username.clone(),
                    name: name.clone(),
                    role: role.as_str().to_owned(),
                    status: ACTIVE.to_owned(),
                    created_at: *created_at,
                    updated_at: *created_at,
                },
            );
            return Ok(());
        }
        let staff = self
            .staff
            .get_mut(&id)
            .ok_or("event of a staff member never created")?;
        match e {
            E::StaffCreated { .. } => unreachable!("handled above"),
            E::StaffRoleChanged { role, changed_at } => {
                staff.role = role.as_str().to_owned();
                staff.updated_at = *changed_at;
            }
            E::StaffDisabled { disabled_at } => {
                staff.status = DISABLED.to_owned();
                staff.updated_at = *disabled_at;
            }
            E::StaffEnabled { enabled_at } => {
                staff.status = ACTIVE.to_owned();
                staff.updated_at = *enabled_at;
            }
            E::StaffPasswordChanged { changed_at: t } | E::StaffPasswordReset { reset_at: t } => {
                staff.updated_at = *t;
            }
        }
        Ok(())
    }

    /// Records the announcement and returns its delivery to every operator.
    pub(super) fn apply_announcement(
        &mut self,
        id: AnnouncementId,
        event: &StoredEvent,
        e: &AnnouncementEvent,
    ) -> Result<FanOut, String> {
        let AnnouncementEvent::AnnouncementPublished {
            announcement_id,
            title,
            body,
            published_at,
        } = e;
        if *announcement_id != id {
            return Err(format!(
                "publishes announcement {announcement_id} in another one's stream"
            ));
        }
        let published_by = event
            .actor_id()
            .ok_or("an announcement without its actor in the metadata")?
            .to_owned();
        self.announcements.push(AnnouncementRow {
            id,
            title: title.clone(),
            body: body.clone(),
            published_by,
            published_at: *published_at,
            position: event.key.position,
        });
        Ok(FanOut::Announcement {
            id: event.key.position,
            data: serde_json::json!({ "title": title, "body": body }),
            created_at: *published_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::EventKey;
    use crate::source::{Payload, Recorded, StreamId};

    #[test]
    fn an_announcement_is_recorded_once_and_fans_out_at_its_position() {
        let id = AnnouncementId::new();
        let at = chrono::DateTime::from_timestamp(1_763_728_200, 0).unwrap();
        let event = StoredEvent {
            key: EventKey {
                tx_id: 9,
                position: 42,
            },
            stream: StreamId::Announcement(id),
            sequence: 1,
            payload: Payload::Announcement(AnnouncementEvent::AnnouncementPublished {
                announcement_id: id,
                title: "t".to_owned(),
                body: "b".to_owned(),
                published_at: at,
            }),
            recorded: Some(Box::new(Recorded {
                actor_id: "staff-1".to_owned(),
                source_ip: "10.0.0.1".to_owned(),
                request_id: "r".to_owned(),
                occurred_at: at,
                staff_action: None,
            })),
        };
        let mut state = State::default();
        let fan_out = state.apply(&event).unwrap();
        assert_eq!(
            fan_out,
            Some(FanOut::Announcement {
                id: 42,
                data: serde_json::json!({"title": "t", "body": "b"}),
                created_at: at,
            })
        );
        assert_eq!(state.announcements[0].published_by, "staff-1");
        assert_eq!(state.last_sequence(&event.stream), 1);
    }
}
