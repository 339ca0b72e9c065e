//! Protocol definitions shared with clients outside this repository, and their generated
//! Rust code (messages, tonic servers and clients; see `build.rs`).
//!
//! Layout:
//! - `mrledger/headset/v1/headset.proto` ([`headset::v1`]): the headset calls over gRPC (same
//!   semantics and error codes as the HTTP contract).
//! - `mrledger/audit/v1/audit.proto` ([`audit::v1`]): the event store for auditors, one
//!   stream or the global order, optionally following new events (served by query-api).
//!
//! The sources are exposed too, so servers and tools ship the exact contract they speak.

/// The headset service definition.
pub const HEADSET_V1: &str = include_str!("../mrledger/headset/v1/headset.proto");

/// The auditors' event store service definition.
pub const AUDIT_V1: &str = include_str!("../mrledger/audit/v1/audit.proto");

/// Generated code of `mrledger.headset.v1`.
pub mod headset {
    pub mod v1 {
        tonic::include_proto!("mrledger.headset.v1");
    }
}

/// Generated code of `mrledger.audit.v1`.
pub mod audit {
    pub mod v1 {
        tonic::include_proto!("mrledger.audit.v1");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_headset_service_names_the_four_calls() {
        for call in [
            "rpc Authorize(",
            "rpc EndGame(",
            "rpc Config(",
            "rpc Heartbeat(",
        ] {
            assert!(super::HEADSET_V1.contains(call), "{call}");
        }
        assert!(super::HEADSET_V1.contains("package mrledger.headset.v1;"));
    }

    #[test]
    fn the_audit_service_names_its_two_streaming_calls() {
        assert!(
            super::AUDIT_V1
                .contains("rpc StreamEvents(StreamEventsRequest) returns (stream Event);")
        );
        assert!(
            super::AUDIT_V1
                .contains("rpc GlobalEvents(GlobalEventsRequest) returns (stream Event);")
        );
    }

    #[test]
    fn the_generated_code_has_a_server_and_a_client_for_both_services() {
        // Naming the generated types is the check: it compiles only if both sides exist.
        type Channel = tonic::transport::Channel;
        let names = [
            std::any::type_name::<super::audit::v1::event_store_client::EventStoreClient<Channel>>(
            ),
            std::any::type_name::<super::audit::v1::event_store_server::EventStoreServer<()>>(),
            std::any::type_name::<
                super::headset::v1::headset_service_client::HeadsetServiceClient<Channel>,
            >(),
            std::any::type_name::<
                super::headset::v1::headset_service_server::HeadsetServiceServer<()>,
            >(),
        ];
        assert!(names.iter().all(|n| n.contains("::v1::")), "{names:?}");
    }
}
