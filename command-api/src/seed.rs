//! Demo data for a new machine (`command-api seed-demo`): an app, an operator with balance,
//! a site, a grant and a login password. Idempotent: a second run finds and prints the same
//! demo.

use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::metadata::ActorRole;
use ledger_core::money::Money;
use ledger_core::operator::Category;
use serde::Serialize;

use crate::accounts;
use crate::api_error::ApiError;
use crate::context::{Lang, RequestContext};
use crate::ledger::Ledger;
use crate::ledger::admin::{NewApp, NewOperator, Staff};
use crate::settings::Settings;
use crate::store::credentials;

pub const DEMO_USERNAME: &str = "demo_arcade";

#[derive(Debug, Serialize)]
pub struct Demo {
    pub operator_id: OperatorId,
    pub key_id: String,
    pub secret: String,
    pub app_id: AppId,
    pub app_name: String,
    pub site_id: SiteId,
    pub balance: Money,
    /// The demo operator's login (`MR_DEMO_OPERATOR_PASSWORD`; `None` when not set, or when
    /// someone changed the password since).
    pub operator_username: String,
    pub operator_password: Option<String>,
}

fn seed_context() -> (Staff, RequestContext) {
    let staff = Staff {
        id: "seed-demo".to_owned(),
        role: ActorRole::System,
    };
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        trace_id: uuid::Uuid::new_v4().simple().to_string(),
        source_ip: "127.0.0.1".to_owned(),
        lang: Lang::En,
    };
    (staff, ctx)
}

pub async fn seed_demo(ledger: &Ledger, settings: &Settings) -> Result<Demo, ApiError> {
    let client = ledger
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    let existing: Option<uuid::Uuid> = client
        .query_opt(
            "SELECT operator_id FROM operator_usernames WHERE username = $1",
            &[&DEMO_USERNAME],
        )
        .await
        .map_err(crate::store::classify)?
        .map(|row| row.get(0));
    drop(client);
    let mut demo = match existing {
        Some(id) => find_demo(ledger, OperatorId(id)).await?,
        None => create_demo(ledger, settings).await?,
    };
    demo.operator_password = demo_login(ledger, settings, demo.operator_id).await?;
    Ok(demo)
}

/// The demo operator's configured password, once it is the operator's login password: set
/// if the operator has none yet (a database seeded before logins existed).
async fn demo_login(
    ledger: &Ledger,
    settings: &Settings,
    operator_id: OperatorId,
) -> Result<Option<String>, ApiError> {
    let Some(password) = demo_password(settings) else {
        return Ok(None);
    };
    let has_password = {
        let client = ledger
            .pool
            .get()
            .await
            .map_err(crate::store::StoreError::from)?;
        accounts::store::find(&client, operator_id.into())
            .await?
            .is_some_and(|account| account.password_hash.is_some())
    };
    if !has_password {
        let (staff, ctx) = seed_context();
        ledger
            .set_operator_password(&staff, &ctx, operator_id, &password)
            .await?;
        return Ok(Some(password));
    }
    Ok(ledger
        .verify_password(operator_id.into(), &password)
        .await
        .is_ok()
        .then_some(password))
}

async fn create_demo(ledger: &Ledger, settings: &Settings) -> Result<Demo, ApiError> {
    let (staff, ctx) = seed_context();
    let app = ledger
        .create_app(
            &staff,
            &ctx,
            NewApp {
                name: "太空探险".to_owned(),
                description: "Space Adventure: a 2–8 player free-roam mission".to_owned(),
                unit_price: Money::parse("10.00").expect("literal"),
                min_players: 2,
                max_players: 8,
            },
        )
        .await?;
    let new = NewOperator {
        username: DEMO_USERNAME.to_owned(),
        name: "星际 VR 体验馆".to_owned(),
        phone: "13800000000".to_owned(),
        email: "demo@example.com".to_owned(),
        category: Category::Standard,
        password: demo_password(settings),
    };
    let (operator, _, issued) = ledger.create_operator(&staff, &ctx, new).await?;
    let site = ledger
        .open_site(
            &staff,
            &ctx,
            operator.id,
            "北京朝阳店".to_owned(),
            "北京市朝阳区建国路 1 号".to_owned(),
        )
        .await?;
    ledger
        .grant_app(&staff, &ctx, operator.id, app.id, None)
        .await?;
    let credit = ledger
        .credit_balance(
            &staff,
            &ctx,
            operator.id,
            Money::parse("500.00").expect("literal"),
            "demo opening balance".to_owned(),
        )
        .await?;
    Ok(Demo {
        operator_id: operator.id,
        key_id: issued.key_id.0,
        secret: issued.secret,
        app_id: app.id,
        app_name: app.name,
        site_id: site.id,
        balance: credit.balance_after,
        operator_username: DEMO_USERNAME.to_owned(),
        operator_password: None,
    })
}

async fn find_demo(ledger: &Ledger, operator_id: OperatorId) -> Result<Demo, ApiError> {
    let state = ledger.operator_state(operator_id).await?;
    let not_found = || ApiError::new(crate::api_error::ErrorCode::NotFound);
    let site_id = *state
        .sites
        .iter()
        .find(|(_, s)| s.open)
        .ok_or_else(not_found)?
        .0;
    let app_id = *state.grants.keys().next().ok_or_else(not_found)?;
    let client = ledger
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    let (key_id, sealed) = credentials::newest_of(&client, operator_id)
        .await?
        .ok_or_else(not_found)?;
    let secret = String::from_utf8(ledger.open_secret(key_id.as_str(), &sealed)?)
        .map_err(|_| not_found())?;
    let app_name: String = client
        .query_one(
            "SELECT payload::json -> 'AppCreated' ->> 'name' FROM events \
             WHERE aggregate_type = 'Application' AND aggregate_id = $1 AND sequence = 1",
            &[&app_id.to_string()],
        )
        .await
        .map_err(crate::store::classify)?
        .get(0);
    Ok(Demo {
        operator_id,
        key_id: key_id.0,
        secret,
        app_id,
        app_name,
        site_id,
        balance: state.balance,
        operator_username: DEMO_USERNAME.to_owned(),
        operator_password: None,
    })
}

fn demo_password(settings: &Settings) -> Option<String> {
    Some(settings.demo_operator_password.expose().to_owned()).filter(|p| !p.is_empty())
}
