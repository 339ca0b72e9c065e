//! Protocol definitions shared with clients outside this repository.
//!
//! Layout:
//! - `mrledger/headset/v1/headset.proto`: the headset calls over gRPC (same semantics and
//!   error codes as the HTTP contract).
//!
//! The sources are exposed here so servers and tools ship the exact contract they speak.

/// The headset service definition.
pub const HEADSET_V1: &str = include_str!("../mrledger/headset/v1/headset.proto");

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
}
