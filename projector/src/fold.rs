//! The in-memory fold of a batch: current rows in, changed rows out. No IO.
//!
//! Every money event is checked against the row it changes (pair assertions): the previous
//! balance plus or minus the amount must be the event's `balance_after`, and a charge must be
//! its unit price times its players. An event that does not fit stops the batch.
//!
//! Layout: this file holds the state, the dispatch and the core ledger events;
//! `workflows` the operator's requests and their reviews; `recharges` online recharge orders
//! (money in once paid); `accounts` staff members and announcements; `messages` the message
//! center's rows, marks and fan-outs.

mod accounts;
mod messages;
mod recharges;
mod workflows;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use chrono::{DateTime, Utc};
use ledger_core::application::{AppEvent, AppStatus};
use ledger_core::headset_server::HeadsetServerEvent;
use ledger_core::ids::{
    AppId, AppRequestId, InvoiceId, OperatorId, RechargeOrderId, RefundId, SiteId, StaffId,
};
use ledger_core::money::Money;
use ledger_core::operator::{AccountStatus, OperatorEvent};

pub(crate) use self::messages::{ANNOUNCEMENT, FanOut, Messages, PRICE_CHANGE, ReadMark};
use crate::Error;
use crate::rows::{
    AnnouncementRow, AppApplicationRow, AppRow, CredentialRow, GrantRow, HeadsetServerRow,
    InvoiceRow, MessageRow, OperatorRow, RechargeOrderRow, RefundRow, SiteRow, StaffActionRow,
    StaffRow, TransactionRow, UsageFact, UsageRow,
};
use crate::source::{Payload, StoredEvent, StreamId};

/// Rows of one table, as loaded, plus which of them the batch changed.
#[derive(Debug)]
pub(crate) struct Rows<K, R> {
    rows: HashMap<K, R>,
    changed: HashSet<K>,
}

impl<K: Eq + Hash + Clone, R> Default for Rows<K, R> {
    fn default() -> Self {
        Rows {
            rows: HashMap::new(),
            changed: HashSet::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, R> Rows<K, R> {
    /// Adds a row as loaded from the read table (unchanged).
    pub fn load(&mut self, key: K, row: R) {
        self.rows.insert(key, row);
    }

    pub fn get(&self, key: &K) -> Option<&R> {
        self.rows.get(key)
    }

    fn contains(&self, key: &K) -> bool {
        self.rows.contains_key(key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        let row = self.rows.get_mut(key)?;
        self.changed.insert(key.clone());
        Some(row)
    }

    fn insert(&mut self, key: K, row: R) {
        self.changed.insert(key.clone());
        self.rows.insert(key, row);
    }

    /// The rows the batch changed since they were last written, each once.
    pub fn changed(&self) -> Vec<&R> {
        self.changed.iter().map(|k| &self.rows[k]).collect()
    }

    /// After a write: the rows stay known, none is pending any more.
    fn written(&mut self) {
        self.changed.clear();
    }
}

/// Everything a batch reads and writes.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub operators: Rows<OperatorId, OperatorRow>,
    pub apps: Rows<AppId, AppRow>,
    pub headset_servers: Rows<(OperatorId, String), HeadsetServerRow>,
    pub credentials: Rows<String, CredentialRow>,
    pub sites: Rows<SiteId, SiteRow>,
    pub grants: Rows<(OperatorId, AppId), GrantRow>,
    pub usage_records: Rows<(OperatorId, String), UsageRow>,
    pub staff: Rows<StaffId, StaffRow>,
    pub app_applications: Rows<AppRequestId, AppApplicationRow>,
    pub refunds: Rows<RefundId, RefundRow>,
    pub invoices: Rows<InvoiceId, InvoiceRow>,
    pub recharge_orders: Rows<RechargeOrderId, RechargeOrderRow>,
    /// New rows only: a money event is applied once.
    pub transactions: Vec<TransactionRow>,
    /// Games authorized in the batch, for the statistics tables (each counted once).
    pub usage_facts: Vec<UsageFact>,
    /// New rows only: an announcement is published once.
    pub announcements: Vec<AnnouncementRow>,
    pub messages: Messages,
    /// New rows only, one per event recorded by staff.
    pub staff_actions: Vec<StaffActionRow>,
    /// Last applied sequence of the streams whose rows do not record it (staff members,
    /// announcements), as loaded and as applied since.
    pub heads: HashMap<StreamId, i64>,
}

impl State {
    /// Sequence of the stream's last applied event (0: none yet).
    pub fn last_sequence(&self, stream: &StreamId) -> i64 {
        match stream {
            StreamId::Operator(id) => self.operators.get(id).map_or(0, |r| r.last_sequence),
            StreamId::App(id) => self.apps.get(id).map_or(0, |r| r.last_sequence),
            StreamId::HeadsetServer(operator, server) => self
                .headset_servers
                .get(&(*operator, server.clone()))
                .map_or(0, |r| r.last_sequence),
            StreamId::Staff(_) | StreamId::Announcement(_) | StreamId::Reconciliation(_) => {
                self.heads.get(stream).copied().unwrap_or(0)
            }
        }
    }

    /// Applies one event, which must be the next of its stream. Returns the fan-out the
    /// event asks for, which the caller runs after writing everything folded so far.
    pub fn apply(&mut self, event: &StoredEvent) -> Result<Option<FanOut>, Error> {
        let last = self.last_sequence(&event.stream);
        assert_eq!(
            event.sequence,
            last + 1,
            "the batch applies each stream in sequence order"
        );
        let refuse = |reason: String| Error::Unjustified {
            position: event.key.position,
            stream: event.stream.to_string(),
            sequence: event.sequence,
            reason,
        };
        let fan_out = match (&event.stream, &event.payload) {
            (StreamId::Operator(id), Payload::Operator(e)) => {
                self.apply_operator(*id, event, e).map(|()| None)
            }
            (StreamId::App(id), Payload::App(e)) => self.apply_app(*id, event, e),
            (StreamId::HeadsetServer(operator, server), Payload::HeadsetServer(e)) => self
                .apply_heartbeat(*operator, server, event.sequence, e)
                .map(|()| None),
            (StreamId::Staff(id), Payload::Staff(e)) => self.apply_staff(*id, e).map(|()| None),
            (StreamId::Announcement(id), Payload::Announcement(e)) => {
                self.apply_announcement(*id, event, e).map(Some)
            }
            // No read row of its own (the run's rows are written with the event); the
            // staff action below is its read side.
            (StreamId::Reconciliation(_), Payload::Reconciliation(_)) => Ok(None),
            _ => unreachable!("decoding pairs each stream with its own event type"),
        }
        .map_err(refuse)?;
        if !event.stream.has_head_row() {
            self.heads.insert(event.stream.clone(), event.sequence);
        }
        self.record_staff_action(event);
        Ok(fan_out)
    }

    /// One row per event recorded by staff, whatever the stream.
    fn record_staff_action(&mut self, event: &StoredEvent) {
        let Some(recorded) = event.recorded.as_deref() else {
            return;
        };
        let Some(action) = &recorded.staff_action else {
            return;
        };
        self.staff_actions.push(StaffActionRow {
            position: event.key.position,
            actor_id: recorded.actor_id.clone(),
            actor_role: action.actor_role.as_str(),
            action: action.event_type.clone(),
            aggregate_type: event.stream.aggregate_type(),
            aggregate_id: event.stream.aggregate_id(),
            details: action.payload.clone(),
            source_ip: recorded.source_ip.clone(),
            request_id: recorded.request_id.clone(),
            occurred_at: recorded.occurred_at,
        });
    }

    /// After everything pending was written: rows stay known, nothing is pending.
    pub fn written(&mut self) {
        self.operators.written();
        self.apps.written();
        self.headset_servers.written();
        self.credentials.written();
        self.sites.written();
        self.grants.written();
        self.usage_records.written();
        self.staff.written();
        self.app_applications.written();
        self.refunds.written();
        self.invoices.written();
        self.recharge_orders.written();
        self.transactions.clear();
        self.usage_facts.clear();
        self.announcements.clear();
        self.messages.clear();
        self.staff_actions.clear();
    }

    fn apply_operator(
        &mut self,
        id: OperatorId,
        event: &StoredEvent,
        e: &OperatorEvent,
    ) -> Result<(), String> {
        use OperatorEvent as E;
        let sequence = event.sequence;
        let position = event.key.position;
        if let E::OperatorRegistered {
            operator_id,
            username,
            name,
            phone,
            email,
            category,
            registered_at,
        } = e
        {
            if *operator_id != id {
                return Err(format!(
                    "registers operator {operator_id} in another operator's stream"
                ));
            }
            if self.operators.contains(&id) {
                return Err("operator registered twice".to_owned());
            }
            let status = AccountStatus::Active.as_str().to_owned();
            self.operators.insert(
                id,
                OperatorRow {
                    id,
                    username: username.clone(),
                    name: name.clone(),
                    phone: phone.clone(),
                    email: email.clone(),
                    category: category.as_str().to_owned(),
                    status,
                    locked_at: None,
                    lock_reason: None,
                    balance: Money::ZERO,
                    total_credited: Money::ZERO,
                    total_charged: Money::ZERO,
                    games: 0,
                    registered_at: *registered_at,
                    updated_at: *registered_at,
                    last_sequence: sequence,
                    low_balance_threshold: Money::ZERO,
                    total_refunded: Money::ZERO,
                    total_invoiced: Money::ZERO,
                    deactivated_at: None,
                },
            );
            return Ok(());
        }
        let op = self
            .operators
            .get_mut(&id)
            .ok_or("event of an operator that is not registered")?;
        op.last_sequence = sequence;
        op.updated_at = operator_event_time(e);
        match e {
            E::OperatorRegistered { .. } => unreachable!("handled above"),
            E::RechargeOrdered { .. }
            | E::RechargeSucceeded { .. }
            | E::RechargeFailed { .. }
            | E::RechargeClosed { .. }
            | E::RechargeQueryFailed { .. }
            | E::RechargeNeedsReview { .. } => return self.apply_recharge(id, event, e),
            E::ProfileUpdated { .. }
            | E::PasswordChanged { .. }
            | E::CategoryChanged { .. }
            | E::LowBalanceThresholdSet { .. }
            | E::AppApplied { .. }
            | E::ApplicationApproved { .. }
            | E::ApplicationRejected { .. }
            | E::RefundRequested { .. }
            | E::RefundApproved { .. }
            | E::RefundRejected { .. }
            | E::InvoiceRequested { .. }
            | E::InvoiceIssued { .. }
            | E::InvoiceRejected { .. }
            | E::MessagesRead { .. }
            | E::AllMessagesRead { .. }
            | E::GrantExpiryReminded { .. } => return self.apply_workflow(id, event, e),
            E::CredentialIssued {
                key_id,
                fingerprint,
                issued_at,
            } => {
                if self.credentials.contains(&key_id.0) {
                    return Err(format!("credential {key_id} issued twice"));
                }
                self.credentials.insert(
                    key_id.0.clone(),
                    CredentialRow {
                        key_id: key_id.0.clone(),
                        operator_id: id,
                        fingerprint: fingerprint.clone(),
                        issued_at: *issued_at,
                        ends_at: None,
                    },
                );
            }
            E::CredentialRotated {
                key_id,
                fingerprint,
                retired,
                rotated_at,
            } => {
                for r in retired {
                    let credential = self
                        .credentials
                        .get_mut(&r.key_id.0)
                        .filter(|c| c.operator_id == id)
                        .ok_or_else(|| {
                            format!("retires credential {} the operator does not hold", r.key_id)
                        })?;
                    credential.ends_at = Some(r.ends_at);
                }
                if self.credentials.contains(&key_id.0) {
                    return Err(format!("credential {key_id} issued twice"));
                }
                self.credentials.insert(
                    key_id.0.clone(),
                    CredentialRow {
                        key_id: key_id.0.clone(),
                        operator_id: id,
                        fingerprint: fingerprint.clone(),
                        issued_at: *rotated_at,
                        ends_at: None,
                    },
                );
            }
            E::SiteOpened {
                site_id,
                name,
                address,
                opened_at,
            } => {
                if self.sites.contains(site_id) {
                    return Err(format!("site {site_id} opened twice"));
                }
                self.sites.insert(
                    *site_id,
                    SiteRow {
                        id: *site_id,
                        operator_id: id,
                        name: name.clone(),
                        address: address.clone(),
                        status: "open".to_owned(),
                        opened_at: *opened_at,
                        updated_at: *opened_at,
                        closed_at: None,
                    },
                );
            }
            E::SiteUpdated {
                site_id,
                name,
                address,
                updated_at,
            } => {
                let site = own_site(&mut self.sites, id, *site_id)?;
                site.name = name.clone();
                site.address = address.clone();
                site.updated_at = *updated_at;
            }
            E::SiteClosed { site_id, closed_at } => {
                let site = own_site(&mut self.sites, id, *site_id)?;
                site.status = "closed".to_owned();
                site.closed_at = Some(*closed_at);
                site.updated_at = *closed_at;
            }
            E::AppGranted {
                app_id,
                expires_at,
                granted_at,
            } => {
                let grant = GrantRow {
                    operator_id: id,
                    app_id: *app_id,
                    expires_at: *expires_at,
                    status: "active".to_owned(),
                    granted_at: *granted_at,
                    revoked_at: None,
                };
                self.grants.insert((id, *app_id), grant);
            }
            E::AppRevoked { app_id, revoked_at } => {
                let grant = self
                    .grants
                    .get_mut(&(id, *app_id))
                    .ok_or_else(|| format!("revokes app {app_id} that was never granted"))?;
                grant.status = "revoked".to_owned();
                grant.revoked_at = Some(*revoked_at);
            }
            E::BalanceCredited {
                credit_id,
                amount,
                reason,
                balance_after,
                credited_at,
            } => {
                let expected = op
                    .balance
                    .checked_add(*amount)
                    .map_err(|e| format!("credit overflows: {e}"))?;
                if expected != *balance_after {
                    return Err(format!(
                        "balance {} + credit {amount} = {expected}, but the event says balance_after {balance_after}",
                        op.balance
                    ));
                }
                op.balance = *balance_after;
                op.total_credited = op
                    .total_credited
                    .checked_add(*amount)
                    .map_err(|e| e.to_string())?;
                self.transactions.push(TransactionRow {
                    position,
                    operator_id: id,
                    kind: "credit",
                    amount: *amount,
                    balance_after: *balance_after,
                    reference: credit_id.to_string(),
                    description: reason.clone(),
                    occurred_at: *credited_at,
                });
            }
            E::GameAuthorized {
                session_id,
                authorization_token,
                app_id,
                app_name,
                site_id,
                player_count,
                unit_price,
                total_cost,
                balance_after,
                authorized_at,
            } => {
                if unit_price.times(*player_count) != Ok(*total_cost) {
                    return Err(format!(
                        "unit price {unit_price} × {player_count} players is not the total cost {total_cost}"
                    ));
                }
                let expected = op.balance.checked_sub(*total_cost).map_err(|_| {
                    format!("charge {total_cost} exceeds the balance {}", op.balance)
                })?;
                if expected != *balance_after {
                    return Err(format!(
                        "balance {} - charge {total_cost} = {expected}, but the event says balance_after {balance_after}",
                        op.balance
                    ));
                }
                // One alert per crossing: only the charge that takes the balance from at or
                // above the threshold to below it.
                let threshold = op.low_balance_threshold;
                if op.balance >= threshold && *balance_after < threshold {
                    self.messages.create(MessageRow {
                        operator_id: id,
                        id: position,
                        kind: messages::LOW_BALANCE,
                        data: serde_json::json!({
                            "balance": balance_after,
                            "threshold": threshold,
                        }),
                        created_at: *authorized_at,
                        read_at: None,
                    });
                }
                op.balance = *balance_after;
                op.total_charged = op
                    .total_charged
                    .checked_add(*total_cost)
                    .map_err(|e| e.to_string())?;
                op.games += 1;
                let key = (id, session_id.as_str().to_owned());
                if self.usage_records.contains(&key) {
                    return Err(format!("session {session_id} charged twice"));
                }
                self.usage_facts.push(UsageFact {
                    operator_id: id,
                    site_id: *site_id,
                    app_id: *app_id,
                    player_count: i64::from(*player_count),
                    total_cost: *total_cost,
                    authorized_at: *authorized_at,
                });
                let player_count =
                    i32::try_from(*player_count).map_err(|_| "player count out of range")?;
                self.usage_records.insert(
                    key,
                    UsageRow {
                        operator_id: id,
                        session_id: session_id.as_str().to_owned(),
                        site_id: *site_id,
                        app_id: *app_id,
                        app_name: app_name.clone(),
                        player_count,
                        unit_price: *unit_price,
                        total_cost: *total_cost,
                        balance_after: *balance_after,
                        authorization_token: *authorization_token,
                        authorized_at: *authorized_at,
                        ended_at: None,
                        duration_seconds: None,
                        position,
                    },
                );
                self.transactions.push(TransactionRow {
                    position,
                    operator_id: id,
                    kind: "charge",
                    amount: *total_cost,
                    balance_after: *balance_after,
                    reference: session_id.as_str().to_owned(),
                    description: format!("{app_name} ({player_count} players)"),
                    occurred_at: *authorized_at,
                });
            }
            E::GameEnded {
                session_id,
                duration_seconds,
                ended_at,
            } => {
                let usage = self
                    .usage_records
                    .get_mut(&(id, session_id.as_str().to_owned()))
                    .ok_or_else(|| {
                        format!("ends session {session_id} that was never authorized")
                    })?;
                usage.ended_at = Some(*ended_at);
                usage.duration_seconds =
                    Some(i64::try_from(*duration_seconds).map_err(|_| "duration out of range")?);
            }
            E::OperatorLocked { reason, locked_at } => {
                op.status = "locked".to_owned();
                op.locked_at = Some(*locked_at);
                op.lock_reason = Some(reason.clone());
            }
            E::OperatorUnlocked { .. } => {
                op.status = AccountStatus::Active.as_str().to_owned();
                op.locked_at = None;
                op.lock_reason = None;
            }
            E::OperatorDeactivated { deactivated_at } => {
                op.status = "deactivated".to_owned();
                op.locked_at = None;
                op.lock_reason = None;
                op.deactivated_at = Some(*deactivated_at);
            }
        }
        Ok(())
    }

    fn apply_app(
        &mut self,
        id: AppId,
        event: &StoredEvent,
        e: &AppEvent,
    ) -> Result<Option<FanOut>, String> {
        let sequence = event.sequence;
        if let AppEvent::AppCreated {
            app_id,
            name,
            description,
            unit_price,
            min_players,
            max_players,
            created_at,
        } = e
        {
            if *app_id != id {
                return Err(format!("creates app {app_id} in another app's stream"));
            }
            if self.apps.contains(&id) {
                return Err("app created twice".to_owned());
            }
            self.apps.insert(
                id,
                AppRow {
                    id,
                    name: name.clone(),
                    description: description.clone(),
                    unit_price: *unit_price,
                    min_players: players(*min_players)?,
                    max_players: players(*max_players)?,
                    status: AppStatus::Active.as_str().to_owned(),
                    created_at: *created_at,
                    updated_at: *created_at,
                    last_sequence: sequence,
                },
            );
            return Ok(None);
        }
        let app = self
            .apps
            .get_mut(&id)
            .ok_or("event of an app that was never created")?;
        app.last_sequence = sequence;
        match e {
            AppEvent::AppCreated { .. } => unreachable!("handled above"),
            AppEvent::AppDetailsUpdated {
                name,
                description,
                updated_at,
            } => {
                app.name = name.clone();
                app.description = description.clone();
                app.updated_at = *updated_at;
            }
            AppEvent::PriceChanged {
                old_price,
                new_price,
                changed_at,
            } => {
                if *old_price != app.unit_price {
                    return Err(format!(
                        "old price {old_price} is not the current price {}",
                        app.unit_price
                    ));
                }
                app.unit_price = *new_price;
                app.updated_at = *changed_at;
                return Ok(Some(FanOut::PriceChange {
                    id: event.key.position,
                    app_id: id,
                    data: serde_json::json!({
                        "app_id": id,
                        "app_name": app.name,
                        "old_price": old_price,
                        "new_price": new_price,
                    }),
                    created_at: *changed_at,
                }));
            }
            AppEvent::PlayerRangeChanged {
                min_players,
                max_players,
                changed_at,
            } => {
                app.min_players = players(*min_players)?;
                app.max_players = players(*max_players)?;
                app.updated_at = *changed_at;
            }
            AppEvent::AppRetired { retired_at } => {
                app.status = AppStatus::Retired.as_str().to_owned();
                app.updated_at = *retired_at;
            }
        }
        Ok(None)
    }

    fn apply_heartbeat(
        &mut self,
        operator: OperatorId,
        server: &str,
        sequence: i64,
        e: &HeadsetServerEvent,
    ) -> Result<(), String> {
        let HeadsetServerEvent::HeartbeatReceived {
            operator_id,
            site_id,
            server_id,
            players_online,
            version,
            received_at,
        } = e;
        if *operator_id != operator || server_id != server {
            return Err(format!(
                "heartbeat of {operator_id}/{server_id} in another server's stream"
            ));
        }
        let players_online =
            i32::try_from(*players_online).map_err(|_| "players_online out of range")?;
        self.headset_servers.insert(
            (operator, server.to_owned()),
            HeadsetServerRow {
                operator_id: operator,
                server_id: server.to_owned(),
                site_id: *site_id,
                players_online,
                version: version.clone(),
                last_seen_at: *received_at,
                last_sequence: sequence,
            },
        );
        Ok(())
    }
}

fn players(count: u32) -> Result<i32, String> {
    i32::try_from(count).map_err(|_| format!("player count {count} out of range"))
}

fn own_site(
    sites: &mut Rows<SiteId, SiteRow>,
    operator: OperatorId,
    site_id: SiteId,
) -> Result<&mut SiteRow, String> {
    sites
        .get_mut(&site_id)
        .filter(|s| s.operator_id == operator)
        .ok_or_else(|| format!("site {site_id} is not a site of this operator"))
}

/// When an operator event happened, by its own clock field.
fn operator_event_time(e: &OperatorEvent) -> DateTime<Utc> {
    use OperatorEvent as E;
    match e {
        E::OperatorRegistered {
            registered_at: t, ..
        }
        | E::CredentialIssued { issued_at: t, .. }
        | E::CredentialRotated { rotated_at: t, .. }
        | E::RechargeOrdered { ordered_at: t, .. }
        | E::RechargeSucceeded {
            succeeded_at: t, ..
        }
        | E::RechargeFailed { failed_at: t, .. }
        | E::RechargeClosed { closed_at: t, .. }
        | E::RechargeQueryFailed { failed_at: t, .. }
        | E::RechargeNeedsReview { flagged_at: t, .. }
        | E::SiteOpened { opened_at: t, .. }
        | E::SiteUpdated { updated_at: t, .. }
        | E::SiteClosed { closed_at: t, .. }
        | E::AppGranted { granted_at: t, .. }
        | E::AppRevoked { revoked_at: t, .. }
        | E::BalanceCredited { credited_at: t, .. }
        | E::GameAuthorized {
            authorized_at: t, ..
        }
        | E::GameEnded { ended_at: t, .. }
        | E::OperatorLocked { locked_at: t, .. }
        | E::OperatorUnlocked { unlocked_at: t }
        | E::OperatorDeactivated { deactivated_at: t }
        | E::ProfileUpdated { updated_at: t, .. }
        | E::PasswordChanged { changed_at: t }
        | E::CategoryChanged { changed_at: t, .. }
        | E::LowBalanceThresholdSet { set_at: t, .. }
        | E::AppApplied { applied_at: t, .. }
        | E::ApplicationApproved { approved_at: t, .. }
        | E::ApplicationRejected { rejected_at: t, .. }
        | E::RefundRequested {
            requested_at: t, ..
        }
        | E::RefundApproved { approved_at: t, .. }
        | E::RefundRejected { rejected_at: t, .. }
        | E::InvoiceRequested {
            requested_at: t, ..
        }
        | E::InvoiceIssued { issued_at: t, .. }
        | E::InvoiceRejected { rejected_at: t, .. }
        | E::MessagesRead { read_at: t, .. }
        | E::AllMessagesRead { read_at: t }
        | E::GrantExpiryReminded { reminded_at: t, .. } => *t,
    }
}

#[cfg(test)]
mod tests {
    use ledger_core::ids::{CreditId, KeyId};
    use ledger_core::operator::Category;

    use super::*;
    use crate::checkpoint::EventKey;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_763_728_200 + seconds, 0).unwrap()
    }

    fn event(id: OperatorId, sequence: i64, e: OperatorEvent) -> StoredEvent {
        StoredEvent {
            key: EventKey {
                tx_id: 10,
                position: sequence,
            },
            stream: StreamId::Operator(id),
            sequence,
            payload: Payload::Operator(e),
            recorded: None,
        }
    }

    fn registered(id: OperatorId) -> State {
        let mut state = State::default();
        state
            .apply(&event(
                id,
                1,
                OperatorEvent::OperatorRegistered {
                    operator_id: id,
                    username: "u".to_owned(),
                    name: "n".to_owned(),
                    phone: "p".to_owned(),
                    email: "e".to_owned(),
                    category: Category::Trial,
                    registered_at: at(0),
                },
            ))
            .unwrap();
        state
    }

    fn credit(amount: &str, balance_after: &str) -> OperatorEvent {
        OperatorEvent::BalanceCredited {
            credit_id: CreditId::new(),
            amount: Money::parse(amount).unwrap(),
            reason: "r".to_owned(),
            balance_after: Money::parse(balance_after).unwrap(),
            credited_at: at(1),
        }
    }

    #[test]
    fn a_credit_whose_balance_after_adds_up_moves_the_balance_and_records_a_transaction() {
        let id = OperatorId::new();
        let mut state = registered(id);
        state
            .apply(&event(id, 2, credit("10.00", "10.00")))
            .unwrap();
        state.apply(&event(id, 3, credit("2.50", "12.50"))).unwrap();
        let op = state.operators.get(&id).unwrap();
        assert_eq!(
            (op.balance.to_string(), op.total_credited.to_string()),
            ("12.50".into(), "12.50".into())
        );
        assert_eq!(state.transactions.len(), 2);
        assert_eq!(
            state.operators.changed().len(),
            1,
            "one row per operator, however many events"
        );
    }

    #[test]
    fn a_credit_or_charge_that_does_not_add_up_is_refused() {
        let id = OperatorId::new();
        let mut state = registered(id);
        let refused = state
            .apply(&event(id, 2, credit("10.00", "10.01")))
            .unwrap_err();
        assert!(
            matches!(refused, Error::Unjustified { sequence: 2, .. }),
            "{refused}"
        );

        // A refused event stops the whole batch, so each case starts from fresh state.
        let credited = || {
            let mut state = registered(id);
            state
                .apply(&event(id, 2, credit("10.00", "10.00")))
                .unwrap();
            state
        };
        let charge = |total: &str, after: &str| OperatorEvent::GameAuthorized {
            session_id: ledger_core::ids::SessionId::parse(&format!(
                "{id}_1763728200000_abcdefABCDEF0123"
            ))
            .unwrap(),
            authorization_token: ledger_core::ids::AuthorizationToken::new(),
            app_id: AppId::new(),
            app_name: "a".to_owned(),
            site_id: SiteId::new(),
            player_count: 2,
            unit_price: Money::parse("3.00").unwrap(),
            total_cost: Money::parse(total).unwrap(),
            balance_after: Money::parse(after).unwrap(),
            authorized_at: at(2),
        };
        assert!(
            credited()
                .apply(&event(id, 3, charge("5.00", "5.00")))
                .is_err(),
            "price × players"
        );
        assert!(
            credited()
                .apply(&event(id, 3, charge("6.00", "5.00")))
                .is_err(),
            "balance_after"
        );
        let mut state = credited();
        state.apply(&event(id, 3, charge("6.00", "4.00"))).unwrap();
        assert_eq!(state.operators.get(&id).unwrap().games, 1);
    }

    #[test]
    fn an_event_that_references_something_unknown_is_refused() {
        let id = OperatorId::new();
        let mut state = registered(id);
        let ended = OperatorEvent::GameEnded {
            session_id: ledger_core::ids::SessionId::parse(&format!(
                "{id}_1763728200000_abcdefABCDEF0123"
            ))
            .unwrap(),
            duration_seconds: 5,
            ended_at: at(3),
        };
        assert!(state.apply(&event(id, 2, ended)).is_err());
        let mut state = registered(id);
        let rotated = OperatorEvent::CredentialRotated {
            key_id: KeyId("mrk_new".to_owned()),
            fingerprint: "f".to_owned(),
            retired: vec![ledger_core::operator::RetiredKey {
                key_id: KeyId("mrk_unknown".to_owned()),
                ends_at: at(9),
            }],
            rotated_at: at(4),
        };
        assert!(state.apply(&event(id, 2, rotated)).is_err());
    }
}
