//! The per-stream hash chain that makes the event history tamper-evident.
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ aggregate_type ‖ 0 ‖ aggregate_id ‖ 0 ‖ sequence (8 bytes,
//! big endian) ‖ event_type ‖ 0 ‖ event_version ‖ 0 ‖ len(payload) (8 bytes) ‖ payload ‖
//! metadata)`, with `hash(0)` = 32 zero bytes. Payload and metadata are the exact JSON texts
//! stored. Changing any stored byte of an event breaks its hash and every later one.

use ring::digest::{Context, SHA256};

pub const HASH_LEN: usize = 32;
pub type Hash = [u8; HASH_LEN];

/// The hash before the first event of every stream.
pub const GENESIS: Hash = [0; HASH_LEN];

/// The stored fields of one event that the chain covers.
#[derive(Debug, Clone, Copy)]
pub struct ChainedEvent<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a str,
    pub metadata: &'a str,
}

pub fn event_hash(previous: &Hash, event: &ChainedEvent<'_>) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(previous);
    for text in [event.aggregate_type, event.aggregate_id] {
        ctx.update(text.as_bytes());
        ctx.update(&[0]);
    }
    ctx.update(&event.sequence.to_be_bytes());
    for text in [event.event_type, event.event_version] {
        ctx.update(text.as_bytes());
        ctx.update(&[0]);
    }
    // The length prefix keeps the payload/metadata boundary unambiguous.
    ctx.update(&(event.payload.len() as u64).to_be_bytes());
    ctx.update(event.payload.as_bytes());
    ctx.update(event.metadata.as_bytes());
    let mut out = [0; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub fn to_hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(payload: &str) -> ChainedEvent<'_> {
        ChainedEvent {
            aggregate_type: "Operator",
            aggregate_id: "a",
            sequence: 1,
            event_type: "X",
            event_version: "1",
            payload,
            metadata: "{}",
        }
    }

    #[test]
    fn any_change_of_payload_or_previous_hash_changes_the_hash() {
        let h = event_hash(&GENESIS, &sample("{\"a\":1}"));
        assert_ne!(h, event_hash(&GENESIS, &sample("{\"a\":2}")));
        assert_ne!(h, event_hash(&h, &sample("{\"a\":1}")));
        assert_eq!(h, event_hash(&GENESIS, &sample("{\"a\":1}")));
        assert_eq!(to_hex(&h).len(), 64);
    }
}
