//! The per-stream hash chain that makes the event history tamper-evident.
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ aggregate_type ‖ 0 ‖ aggregate_id ‖ 0 ‖ sequence (8 bytes,
//! big endian) ‖ event_type ‖ 0 ‖ event_version ‖ 0 ‖ len(payload) (8 bytes) ‖ payload ‖
//! metadata)`, with `hash(0)` = 32 zero bytes. Payload and metadata are the exact JSON texts
//! stored. Changing any stored byte of an event breaks its hash and every later one.
//!
//! A stream can leave the database as a JSON Lines export (one [`ExportedEvent`] per line in
//! sequence order, a [`Checkpoint`] line every [`CHECKPOINT_EVERY`] events and at the end);
//! [`verify_jsonl`] checks such a file offline.

use std::io::BufRead;

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

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

/// Events between two checkpoint lines of an export: a damaged file is located to within
/// this many events even before its first divergent line is read.
pub const CHECKPOINT_EVERY: u64 = 1_000;

/// One event line of a JSON Lines export. `payload` and `metadata` are the stored JSON texts
/// as strings (the chain covers those exact bytes; re-serialized JSON would not verify);
/// `hash` is hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub hash: String,
    pub recorded_at: String,
}

impl ExportedEvent {
    fn chained(&self) -> ChainedEvent<'_> {
        ChainedEvent {
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// The chain so far: `events` events, the last with `sequence` and `hash` (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub sequence: i64,
    pub hash: String,
    pub events: u64,
}

/// One line of an export: `{...event...}` or `{"checkpoint": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ExportLine {
    Event(ExportedEvent),
    Checkpoint { checkpoint: Checkpoint },
}

/// A export that verified: every event's hash recomputed from [`GENESIS`], every checkpoint
/// matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedExport {
    pub events: u64,
    pub last_sequence: i64,
    pub last_hash: Hash,
}

/// The first place an export differs from a valid chain: its 1-based `line`, the stream
/// `sequence` expected there, and what differs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, sequence {sequence}: {reason}")]
pub struct ExportDivergence {
    pub line: u64,
    pub sequence: i64,
    pub reason: String,
}

/// Checks a JSON Lines export of one stream without the database: sequences run 1, 2, … with
/// no gap, each stored hash equals the one recomputed from [`GENESIS`], every checkpoint names
/// the chain at its place, and the file ends with a checkpoint (a cut-off download does not
/// verify). Reports the first divergence.
pub fn verify_jsonl(reader: impl BufRead) -> Result<VerifiedExport, ExportDivergence> {
    let mut previous = GENESIS;
    let mut events: u64 = 0;
    let mut last_sequence: i64 = 0;
    let mut stream: Option<(String, String)> = None;
    let mut ends_with_checkpoint = false;
    let mut line_no: u64 = 0;
    for text in reader.lines() {
        line_no += 1;
        let expected = last_sequence + 1;
        let diverge = |reason: String| ExportDivergence {
            line: line_no,
            sequence: expected,
            reason,
        };
        let text = text.map_err(|e| diverge(format!("unreadable: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| diverge(format!("not JSON: {e}")))?;
        if value.get("checkpoint").is_some() {
            let checkpoint = value
                .get("checkpoint")
                .cloned()
                .map(serde_json::from_value::<Checkpoint>)
                .expect("checked above")
                .map_err(|e| diverge(format!("malformed checkpoint: {e}")))?;
            let diverge = |reason: String| ExportDivergence {
                line: line_no,
                sequence: last_sequence,
                reason,
            };
            if checkpoint.sequence != last_sequence || checkpoint.events != events {
                return Err(diverge(format!(
                    "checkpoint says {} events up to sequence {}, the file has {events} up to {last_sequence}",
                    checkpoint.events, checkpoint.sequence
                )));
            }
            if checkpoint.hash != to_hex(&previous) {
                return Err(diverge(format!(
                    "checkpoint hash {} differs from the recomputed {}",
                    checkpoint.hash,
                    to_hex(&previous)
                )));
            }
            ends_with_checkpoint = true;
            continue;
        }
        if events > 0 && events.is_multiple_of(CHECKPOINT_EVERY) && !ends_with_checkpoint {
            return Err(diverge(format!(
                "missing checkpoint after sequence {last_sequence}"
            )));
        }
        let event: ExportedEvent =
            serde_json::from_value(value).map_err(|e| diverge(format!("malformed event: {e}")))?;
        if event.sequence != expected {
            return Err(diverge(format!(
                "sequence {} where {expected} was expected",
                event.sequence
            )));
        }
        match &stream {
            None => stream = Some((event.aggregate_type.clone(), event.aggregate_id.clone())),
            Some((t, id)) if *t != event.aggregate_type || *id != event.aggregate_id => {
                return Err(diverge(format!(
                    "event of stream {}/{} in the export of {t}/{id}",
                    event.aggregate_type, event.aggregate_id
                )));
            }
            Some(_) => {}
        }
        let hash = event_hash(&previous, &event.chained());
        if event.hash != to_hex(&hash) {
            return Err(diverge(format!(
                "stored hash {} differs from the recomputed {} (the event or one before it was changed)",
                event.hash,
                to_hex(&hash)
            )));
        }
        previous = hash;
        events += 1;
        last_sequence = event.sequence;
        ends_with_checkpoint = false;
    }
    let end = |reason: &str| ExportDivergence {
        line: line_no + 1,
        sequence: last_sequence + 1,
        reason: reason.to_owned(),
    };
    if events == 0 {
        return Err(end("no events"));
    }
    if !ends_with_checkpoint {
        return Err(end("the file ends without a final checkpoint (cut off?)"));
    }
    Ok(VerifiedExport {
        events,
        last_sequence,
        last_hash: previous,
    })
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

    /// A valid export of `n` events with checkpoints every `CHECKPOINT_EVERY` and at the end.
    fn export(n: i64) -> Vec<String> {
        let mut lines = Vec::new();
        let mut previous = GENESIS;
        for sequence in 1..=n {
            let mut event = ExportedEvent {
                aggregate_type: "Operator".into(),
                aggregate_id: "a".into(),
                sequence,
                position: sequence * 10,
                event_type: "Credited".into(),
                event_version: "1".into(),
                payload: format!("{{\"amount\": \"{sequence}.00\",\"note\":\"é\\\"\"}}"),
                metadata: "{}".into(),
                hash: String::new(),
                recorded_at: "2026-11-22T09:00:00Z".into(),
            };
            previous = event_hash(&previous, &event.chained());
            event.hash = to_hex(&previous);
            lines.push(serde_json::to_string(&ExportLine::Event(event)).unwrap());
            if (sequence as u64).is_multiple_of(CHECKPOINT_EVERY) || sequence == n {
                let checkpoint = Checkpoint {
                    sequence,
                    hash: to_hex(&previous),
                    events: sequence as u64,
                };
                lines.push(serde_json::to_string(&ExportLine::Checkpoint { checkpoint }).unwrap());
            }
        }
        lines
    }

    fn verify(lines: &[String]) -> Result<VerifiedExport, ExportDivergence> {
        verify_jsonl(format!("{}\n", lines.join("\n")).as_bytes())
    }

    #[test]
    fn a_faithful_export_verifies() {
        let lines = export(2_500);
        assert_eq!(lines.len(), 2_503);
        let verified = verify(&lines).unwrap();
        assert_eq!(verified.events, 2_500);
        assert_eq!(verified.last_sequence, 2_500);
        assert!(lines[2_502].contains(&to_hex(&verified.last_hash)));
    }

    #[test]
    fn a_changed_payload_byte_fails_at_its_line() {
        let mut lines = export(5);
        lines[2] = lines[2].replace("3.00", "9.00");
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (3, 3),
            "{divergence}"
        );
        assert!(divergence.reason.contains("stored hash"), "{divergence}");
    }

    #[test]
    fn a_removed_line_fails_where_the_gap_is() {
        let mut lines = export(5);
        lines.remove(1);
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (2, 2),
            "{divergence}"
        );
        assert!(divergence.reason.contains("sequence 3"), "{divergence}");
    }

    #[test]
    fn a_wrong_checkpoint_fails_at_its_line() {
        let mut lines = export(5);
        let last = lines.len() - 1;
        lines[last] = lines[last].replace("\"events\":5", "\"events\":6");
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (6, 5),
            "{divergence}"
        );

        let mut lines = export(5);
        let hash = to_hex(&GENESIS);
        let checkpoint = serde_json::to_string(&ExportLine::Checkpoint {
            checkpoint: Checkpoint {
                sequence: 2,
                hash,
                events: 2,
            },
        })
        .unwrap();
        lines.insert(2, checkpoint);
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (3, 2),
            "{divergence}"
        );
        assert!(
            divergence.reason.contains("checkpoint hash"),
            "{divergence}"
        );
    }

    #[test]
    fn a_cut_off_or_empty_export_fails() {
        let mut lines = export(5);
        lines.pop();
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (6, 6),
            "{divergence}"
        );
        assert!(verify_jsonl(&b""[..]).is_err());
    }

    #[test]
    fn a_missing_periodic_checkpoint_fails() {
        let mut lines = export(1_001);
        lines.remove(1_000);
        let divergence = verify(&lines).unwrap_err();
        assert_eq!(
            (divergence.line, divergence.sequence),
            (1_001, 1_001),
            "{divergence}"
        );
    }
}
