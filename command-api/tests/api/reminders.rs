//! Grant-expiry reminders: one per grant expiry, however often the job runs.

use chrono::{SecondsFormat, TimeDelta, Utc};
use command_api::jobs::reminders::remind_once;
use serde_json::json;

use crate::harness::TestApp;
use crate::members::{count_events, member, metadata_of};

fn in_days(days: i64) -> String {
    (Utc::now() + TimeDelta::days(days)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The job finds candidates in the read side, so the projector must have caught up.
async fn project(app: &TestApp, operator: ledger_core::ids::OperatorId) {
    app.project_and_verify(operator).await;
}

#[tokio::test]
async fn each_grant_expiry_is_reminded_exactly_once_even_when_the_job_runs_twice() {
    let app = TestApp::spawn().await;
    let m = member(&app, "0", "10.00").await;
    let operator = m.arcade.operator;
    let soon = app.create_app("10.00", 1, 4).await;
    let later = app.create_app("10.00", 1, 4).await;
    let past = app.create_app("10.00", 1, 4).await;
    assert_eq!(
        app.grant(operator, soon, Some(&in_days(3))).await.status,
        201
    );
    assert_eq!(
        app.grant(operator, later, Some(&in_days(30))).await.status,
        201
    );
    assert_eq!(
        app.grant(operator, past, Some(&in_days(-1))).await.status,
        201
    );

    // A deactivated operator gets no reminders.
    let gone = member(&app, "0", "10.00").await;
    assert_eq!(
        app.grant(gone.arcade.operator, soon, Some(&in_days(2)))
            .await
            .status,
        201
    );
    let r = app
        .staff(
            "POST",
            &format!(
                "/api/v1/admin/operators/{}/deactivate",
                gone.arcade.operator
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    project(&app, operator).await;

    let ledger = &app.state.ledger;
    assert_eq!(remind_once(ledger).await.unwrap(), 1);
    assert_eq!(remind_once(ledger).await.unwrap(), 0, "already reminded");
    let id = operator.to_string();
    assert_eq!(count_events(&app, &id, "GrantExpiryReminded").await, 1);
    assert_eq!(
        count_events(
            &app,
            &gone.arcade.operator.to_string(),
            "GrantExpiryReminded"
        )
        .await,
        0
    );
    let reminded = app
        .events_of(operator)
        .await
        .into_iter()
        .find(|(t, _)| t == "GrantExpiryReminded")
        .unwrap()
        .1["GrantExpiryReminded"]
        .clone();
    assert_eq!(reminded["app_id"], soon.to_string());
    assert_eq!(reminded["app_name"], "太空探险");
    let metadata = metadata_of(&app, &id, "GrantExpiryReminded").await;
    assert_eq!(metadata["actor_role"], "system");

    // A new expiry is a new reminder, once.
    assert_eq!(
        app.grant(operator, soon, Some(&in_days(5))).await.status,
        200
    );
    project(&app, operator).await;
    assert_eq!(remind_once(ledger).await.unwrap(), 1);
    assert_eq!(remind_once(ledger).await.unwrap(), 0);
    assert_eq!(count_events(&app, &id, "GrantExpiryReminded").await, 2);
    project(&app, operator).await;
}
