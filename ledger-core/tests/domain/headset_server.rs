//! Given/when/then tests of the `HeadsetServer` aggregate (heartbeats).

use cqrs_es::test::TestFramework;
use ledger_core::headset_server::{
    HeadsetServer, HeadsetServerCommand, HeadsetServerError, HeadsetServerEvent, SERVER_ID_MAX,
    VERSION_MAX,
};

use crate::fixtures::*;

fn heartbeat(server_id: &str, version: &str, players_online: u32) -> HeadsetServerCommand {
    HeadsetServerCommand::RecordHeartbeat {
        operator_id: operator_id(),
        site_id: site(),
        server_id: server_id.to_owned(),
        players_online,
        version: version.to_owned(),
        now: later(42),
    }
}

#[test]
fn a_heartbeat_is_recorded_and_becomes_the_last_seen() {
    let received = HeadsetServerEvent::HeartbeatReceived {
        operator_id: operator_id(),
        site_id: site(),
        server_id: "hs-01".into(),
        players_online: 6,
        version: "2.3.1".into(),
        received_at: later(42),
    };
    TestFramework::<HeadsetServer>::with(())
        .given_no_previous_events()
        .when(heartbeat("hs-01", "2.3.1", 6))
        .then_expect_events(vec![received.clone()]);
    let mut server = HeadsetServer::default();
    ledger_core::Aggregate::apply(&mut server, received);
    assert_eq!(
        server,
        HeadsetServer {
            last_seen: Some(later(42)),
            players_online: 6
        }
    );
    assert_eq!(
        HeadsetServer::stream_id(operator_id(), "hs-01"),
        format!("{OPERATOR}/hs-01")
    );
}

#[test]
fn a_server_id_or_version_outside_its_length_limits_is_refused() {
    let framework = || TestFramework::<HeadsetServer>::with(()).given_no_previous_events();
    let server_id = HeadsetServerError::InvalidField { field: "server_id" };
    let version = HeadsetServerError::InvalidField { field: "version" };
    framework()
        .when(heartbeat("", "1", 0))
        .then_expect_error(server_id.clone());
    framework()
        .when(heartbeat(&"s".repeat(SERVER_ID_MAX + 1), "1", 0))
        .then_expect_error(server_id);
    framework()
        .when(heartbeat("hs", "", 0))
        .then_expect_error(version.clone());
    framework()
        .when(heartbeat("hs", &"v".repeat(VERSION_MAX + 1), 0))
        .then_expect_error(version);
    let at_limits = framework()
        .when(heartbeat(
            &"服".repeat(SERVER_ID_MAX),
            &"v".repeat(VERSION_MAX),
            0,
        ))
        .inspect_result();
    assert!(at_limits.is_ok(), "{at_limits:?}");
}
