//! The `StaffMember` aggregate: one staff account (admin, finance, analyst) and what was done
//! to it. Passwords live beside the stream (hashed); the stream records that they changed.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::account_rules;
use crate::ids::StaffId;
use crate::metadata::ActorRole;

/// Longest display name (characters).
pub const STAFF_NAME_MAX: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StaffCommand {
    CreateStaff {
        staff_id: StaffId,
        username: String,
        name: String,
        role: ActorRole,
        now: DateTime<Utc>,
    },
    ChangeRole {
        role: ActorRole,
        now: DateTime<Utc>,
    },
    Disable {
        now: DateTime<Utc>,
    },
    Enable {
        now: DateTime<Utc>,
    },
    /// By the staff member themself.
    ChangePassword {
        now: DateTime<Utc>,
    },
    /// By a super admin, for someone who lost theirs.
    ResetPassword {
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StaffEvent {
    StaffCreated {
        staff_id: StaffId,
        username: String,
        name: String,
        role: ActorRole,
        created_at: DateTime<Utc>,
    },
    StaffRoleChanged {
        role: ActorRole,
        changed_at: DateTime<Utc>,
    },
    StaffDisabled {
        disabled_at: DateTime<Utc>,
    },
    StaffEnabled {
        enabled_at: DateTime<Utc>,
    },
    StaffPasswordChanged {
        changed_at: DateTime<Utc>,
    },
    StaffPasswordReset {
        reset_at: DateTime<Utc>,
    },
}

impl DomainEvent for StaffEvent {
    fn event_type(&self) -> String {
        match self {
            StaffEvent::StaffCreated { .. } => "StaffCreated",
            StaffEvent::StaffRoleChanged { .. } => "StaffRoleChanged",
            StaffEvent::StaffDisabled { .. } => "StaffDisabled",
            StaffEvent::StaffEnabled { .. } => "StaffEnabled",
            StaffEvent::StaffPasswordChanged { .. } => "StaffPasswordChanged",
            StaffEvent::StaffPasswordReset { .. } => "StaffPasswordReset",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffError {
    #[error("staff account already exists")]
    AlreadyExists,
    #[error("staff account not found")]
    NotFound,
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("staff account is disabled")]
    Disabled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    pub id: Option<StaffId>,
    pub username: String,
    pub name: String,
    pub role: Option<ActorRole>,
    pub disabled: bool,
}

fn check_role(role: ActorRole) -> Result<(), StaffError> {
    if !role.is_staff() {
        return Err(StaffError::InvalidField {
            field: "role",
            reason: "a staff role".to_owned(),
        });
    }
    Ok(())
}

impl StaffMember {
    fn require_existing(&self) -> Result<(), StaffError> {
        self.id.map(|_| ()).ok_or(StaffError::NotFound)
    }

    pub fn decide(&self, command: StaffCommand) -> Result<Vec<StaffEvent>, StaffError> {
        use StaffCommand as C;
        use StaffEvent as E;
        match command {
            C::CreateStaff {
                staff_id,
                username,
                name,
                role,
                now,
            } => {
                if self.id.is_some() {
                    return Err(StaffError::AlreadyExists);
                }
                if !account_rules::valid_username(&username) {
                    return Err(StaffError::InvalidField {
                        field: "username",
                        reason: "3 to 20 of A-Z a-z 0-9 _".to_owned(),
                    });
                }
                let len = name.trim().chars().count();
                if len == 0 || len > STAFF_NAME_MAX {
                    return Err(StaffError::InvalidField {
                        field: "name",
                        reason: format!("1 to {STAFF_NAME_MAX} characters"),
                    });
                }
                check_role(role)?;
                Ok(vec![E::StaffCreated {
                    staff_id,
                    username,
                    name,
                    role,
                    created_at: now,
                }])
            }
            C::ChangeRole { role, now } => {
                self.require_existing()?;
                check_role(role)?;
                if self.role == Some(role) {
                    return Ok(vec![]);
                }
                Ok(vec![E::StaffRoleChanged {
                    role,
                    changed_at: now,
                }])
            }
            C::Disable { now } => {
                self.require_existing()?;
                if self.disabled {
                    return Ok(vec![]);
                }
                Ok(vec![E::StaffDisabled { disabled_at: now }])
            }
            C::Enable { now } => {
                self.require_existing()?;
                if !self.disabled {
                    return Ok(vec![]);
                }
                Ok(vec![E::StaffEnabled { enabled_at: now }])
            }
            C::ChangePassword { now } => {
                self.require_existing()?;
                if self.disabled {
                    return Err(StaffError::Disabled);
                }
                Ok(vec![E::StaffPasswordChanged { changed_at: now }])
            }
            C::ResetPassword { now } => {
                self.require_existing()?;
                Ok(vec![E::StaffPasswordReset { reset_at: now }])
            }
        }
    }
}

impl Aggregate for StaffMember {
    const TYPE: &'static str = "StaffMember";
    type Command = StaffCommand;
    type Event = StaffEvent;
    type Error = StaffError;
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
        match event {
            StaffEvent::StaffCreated {
                staff_id,
                username,
                name,
                role,
                ..
            } => {
                self.id = Some(staff_id);
                self.username = username;
                self.name = name;
                self.role = Some(role);
            }
            StaffEvent::StaffRoleChanged { role, .. } => self.role = Some(role),
            StaffEvent::StaffDisabled { .. } => self.disabled = true,
            StaffEvent::StaffEnabled { .. } => self.disabled = false,
            StaffEvent::StaffPasswordChanged { .. } | StaffEvent::StaffPasswordReset { .. } => {}
        }
    }
}
