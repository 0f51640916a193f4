//! What a benchmark message carries: a fixed binary header (run, sequence number, send time)
//! padded to the requested size. Binary, not JSON, so that encoding and decoding cost the load
//! generator next to nothing and the measured figures are Ferry's and the brokers'. The
//! transformation cases need values transformations can look into: `--json` sends the same
//! stamp as a JSON object (`{"bench": "FERRYBN1", "run", "seq", "sent_us", "speed", "pad"}`)
//! padded to the size, and the reader finds the stamp in whatever the chain made of it.
//!
//! Ferry's default `ByteArrayConverter` passes the bytes through untouched in both directions,
//! so the receiver decodes exactly what the sender wrote.

use std::time::{SystemTime, UNIX_EPOCH};

/// Marks a benchmark message; anything else on a topic is counted as stray.
const MAGIC: &[u8; 8] = b"FERRYBN1";

/// Bytes taken by the header; messages are never shorter.
pub const HEADER_LEN: usize = 32;

/// Sequence numbers with this bit set are readiness probes, not measured messages.
pub const PROBE_BIT: u64 = 1 << 63;

/// The header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Identifies one benchmark invocation, so leftovers of earlier runs are not counted.
    pub run: u64,
    /// 0.. for measured messages; `PROBE_BIT | n` for probes.
    pub seq: u64,
    /// When the sender handed the message to its client, µs since the epoch.
    pub sent_us: u64,
}

impl Stamp {
    /// Whether this is a readiness probe.
    pub fn is_probe(&self) -> bool {
        self.seq & PROBE_BIT != 0
    }
}

/// Microseconds since the epoch. Sender and receiver live in the same process, so they share
/// this clock and latencies need no clock synchronisation.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A JSON message of about `size` bytes stamped now.
pub fn encode_json(run: u64, seq: u64, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"bench":"FERRYBN1","run":{run},"seq":{seq},"sent_us":{},"speed":{}.5,"pad":""#,
        now_us(),
        seq % 200
    );
    let mut text = head.into_bytes();
    let pad = size.saturating_sub(text.len() + 2);
    text.resize(text.len() + pad, b'x');
    text.extend_from_slice(br#""}"#);
    text
}

/// A message of `size` bytes (at least `HEADER_LEN`) stamped now.
pub fn encode(run: u64, seq: u64, size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size.max(HEADER_LEN));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&run.to_be_bytes());
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&now_us().to_be_bytes());
    bytes.resize(size.max(HEADER_LEN), b'x');
    bytes
}

/// The header of a benchmark message, binary or JSON, or `None` for anything else.
pub fn decode(bytes: &[u8]) -> Option<Stamp> {
    if bytes.first() == Some(&b'{') {
        return decode_json(bytes);
    }
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    Some(Stamp {
        run: word(8),
        seq: word(16),
        sent_us: word(24),
    })
}

fn decode_json(bytes: &[u8]) -> Option<Stamp> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if value["bench"] != "FERRYBN1" {
        return None;
    }
    Some(Stamp {
        run: value["run"].as_u64()?,
        seq: value["seq"].as_u64()?,
        sent_us: value["sent_us"].as_u64()?,
    })
}

/// A run id that differs between invocations (time and pid), never with the probe bit.
pub fn new_run_id() -> u64 {
    let mixed = now_us().rotate_left(17) ^ (u64::from(std::process::id()) << 7);
    mixed & !PROBE_BIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_messages_carry_the_same_stamp_and_survive_added_fields() {
        let bytes = encode_json(42, PROBE_BIT | 7, 600);
        assert!((598..=602).contains(&bytes.len()), "{}", bytes.len());
        let stamp = decode(&bytes).unwrap();
        assert_eq!((stamp.run, stamp.seq), (42, PROBE_BIT | 7));
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["origin"] = "ferry".into();
        assert_eq!(decode(value.to_string().as_bytes()), Some(stamp));
    }

    #[test]
    fn round_trip_pads_to_size() {
        let bytes = encode(42, 7, 600);
        assert_eq!(bytes.len(), 600);
        let stamp = decode(&bytes).unwrap();
        assert_eq!((stamp.run, stamp.seq), (42, 7));
        assert!(!stamp.is_probe());
        assert!(stamp.sent_us > 0);
    }

    #[test]
    fn short_sizes_keep_the_header_and_foreign_bytes_are_refused() {
        assert_eq!(encode(1, 2, 3).len(), HEADER_LEN);
        assert_eq!(
            decode(b"{\"car\":\"electric-vehicle-00001\",\"seq\":1}"),
            None
        );
        assert!(decode(&encode(1, PROBE_BIT | 3, 64)).unwrap().is_probe());
    }
}
