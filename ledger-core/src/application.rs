//! The `Application` aggregate: one game of the catalog with its price and player range.
//!
//! A charge copies the price and range in force into its own event, so changing them here
//! never rewrites history.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::money::Money;

/// Limits of the player range an app may declare.
pub const MIN_PLAYERS_FLOOR: u32 = 1;
pub const MAX_PLAYERS_CEILING: u32 = 100;
/// Longest app name (characters).
pub const APP_NAME_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppStatus {
    #[default]
    Active,
    Retired,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Active => "active",
            AppStatus::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AppCommand {
    CreateApp {
        app_id: AppId,
        name: String,
        description: String,
        unit_price: Money,
        min_players: u32,
        max_players: u32,
        now: DateTime<Utc>,
    },
    UpdateAppDetails {
        name: String,
        description: String,
        now: DateTime<Utc>,
    },
    ChangePrice {
        unit_price: Money,
        now: DateTime<Utc>,
    },
    ChangePlayerRange {
        min_players: u32,
        max_players: u32,
        now: DateTime<Utc>,
    },
    RetireApp {
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AppEvent {
    AppCreated {
        app_id: AppId,
        name: String,
        description: String,
        unit_price: Money,
        min_players: u32,
        max_players: u32,
        created_at: DateTime<Utc>,
    },
    AppDetailsUpdated {
        name: String,
        description: String,
        updated_at: DateTime<Utc>,
    },
    PriceChanged {
        old_price: Money,
        new_price: Money,
        changed_at: DateTime<Utc>,
    },
    PlayerRangeChanged {
        min_players: u32,
        max_players: u32,
        changed_at: DateTime<Utc>,
    },
    AppRetired {
        retired_at: DateTime<Utc>,
    },
}

impl DomainEvent for AppEvent {
    fn event_type(&self) -> String {
        match self {
            AppEvent::AppCreated { .. } => "AppCreated",
            AppEvent::AppDetailsUpdated { .. } => "AppDetailsUpdated",
            AppEvent::PriceChanged { .. } => "PriceChanged",
            AppEvent::PlayerRangeChanged { .. } => "PlayerRangeChanged",
            AppEvent::AppRetired { .. } => "AppRetired",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("app already exists")]
    AlreadyExists,
    #[error("app not found")]
    NotFound,
    #[error("app is retired")]
    Retired,
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

/// Current state of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Application {
    pub id: Option<AppId>,
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub min_players: u32,
    pub max_players: u32,
    pub status: AppStatus,
}

fn check_name(name: &str) -> Result<(), AppError> {
    let len = name.trim().chars().count();
    if len == 0 || len > APP_NAME_MAX {
        return Err(AppError::InvalidField {
            field: "name",
            reason: format!("1 to {APP_NAME_MAX} characters"),
        });
    }
    Ok(())
}

fn check_range(min: u32, max: u32) -> Result<(), AppError> {
    if min < MIN_PLAYERS_FLOOR || max > MAX_PLAYERS_CEILING || min > max {
        return Err(AppError::InvalidField {
            field: "min_players",
            reason: format!(
                "need {MIN_PLAYERS_FLOOR} <= min_players <= max_players <= {MAX_PLAYERS_CEILING}"
            ),
        });
    }
    Ok(())
}

fn check_price(price: Money) -> Result<(), AppError> {
    if price.is_zero() {
        return Err(AppError::InvalidField {
            field: "unit_price",
            reason: "must be greater than 0".to_owned(),
        });
    }
    Ok(())
}

impl Application {
    fn require_active(&self) -> Result<(), AppError> {
        match (self.id, self.status) {
            (None, _) => Err(AppError::NotFound),
            (Some(_), AppStatus::Retired) => Err(AppError::Retired),
            (Some(_), AppStatus::Active) => Ok(()),
        }
    }

    /// Decides the events of a command without changing `self`.
    pub fn decide(&self, command: AppCommand) -> Result<Vec<AppEvent>, AppError> {
        match command {
            AppCommand::CreateApp {
                app_id,
                name,
                description,
                unit_price,
                min_players,
                max_players,
                now,
            } => {
                if self.id.is_some() {
                    return Err(AppError::AlreadyExists);
                }
                check_name(&name)?;
                check_price(unit_price)?;
                check_range(min_players, max_players)?;
                Ok(vec![AppEvent::AppCreated {
                    app_id,
                    name: name.trim().to_owned(),
                    description,
                    unit_price,
                    min_players,
                    max_players,
                    created_at: now,
                }])
            }
            AppCommand::UpdateAppDetails {
                name,
                description,
                now,
            } => {
                self.require_active()?;
                check_name(&name)?;
                if name.trim() == self.name && description == self.description {
                    return Ok(vec![]);
                }
                Ok(vec![AppEvent::AppDetailsUpdated {
                    name: name.trim().to_owned(),
                    description,
                    updated_at: now,
                }])
            }
            AppCommand::ChangePrice { unit_price, now } => {
                self.require_active()?;
                check_price(unit_price)?;
                if unit_price == self.unit_price {
                    return Ok(vec![]);
                }
                Ok(vec![AppEvent::PriceChanged {
                    old_price: self.unit_price,
                    new_price: unit_price,
                    changed_at: now,
                }])
            }
            AppCommand::ChangePlayerRange {
                min_players,
                max_players,
                now,
            } => {
                self.require_active()?;
                check_range(min_players, max_players)?;
                if (min_players, max_players) == (self.min_players, self.max_players) {
                    return Ok(vec![]);
                }
                Ok(vec![AppEvent::PlayerRangeChanged {
                    min_players,
                    max_players,
                    changed_at: now,
                }])
            }
            AppCommand::RetireApp { now } => {
                self.require_active()?;
                Ok(vec![AppEvent::AppRetired { retired_at: now }])
            }
        }
    }
}

impl Aggregate for Application {
    const TYPE: &'static str = "Application";
    type Command = AppCommand;
    type Event = AppEvent;
    type Error = AppError;
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
            AppEvent::AppCreated {
                app_id,
                name,
                description,
                unit_price,
                min_players,
                max_players,
                ..
            } => {
                *self = Application {
                    id: Some(app_id),
                    name,
                    description,
                    unit_price,
                    min_players,
                    max_players,
                    status: AppStatus::Active,
                };
            }
            AppEvent::AppDetailsUpdated {
                name, description, ..
            } => {
                self.name = name;
                self.description = description;
            }
            AppEvent::PriceChanged {
                old_price,
                new_price,
                ..
            } => {
                assert_eq!(
                    old_price, self.unit_price,
                    "PriceChanged.old_price must match state"
                );
                self.unit_price = new_price;
            }
            AppEvent::PlayerRangeChanged {
                min_players,
                max_players,
                ..
            } => {
                self.min_players = min_players;
                self.max_players = max_players;
            }
            AppEvent::AppRetired { .. } => self.status = AppStatus::Retired,
        }
    }
}
