//! Audit records (SPEC §8): one per state change and per rejected submit, chained per
//! order by SHA-256 so that any edit, deletion or reordering is detectable. The
//! sequence number of a state change equals the order version it produced, so the
//! conditional write on the version also guards the chain.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ids::{IdempotencyKey, OrderId, TraderId};
use super::time::Timestamp;

/// `prev_hash` of the first record of every order.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub order_id: OrderId,
    pub sequence: u64,
    pub trader_id: TraderId,
    /// Who caused it: the trader's id, or a system actor such as `execute`.
    pub actor: String,
    /// What happened: SUBMIT, SUBMIT_REJECTED, CLAIM, FILL, CANCEL_REQUEST, ...
    pub action: String,
    pub at: Timestamp,
    /// The order before and after (JSON), absent where there was none.
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields a record is hashed over, in a fixed order. `serde_json` writes object
/// keys of `Value`s sorted, so the encoding is canonical.
#[derive(Serialize)]
struct Hashed<'a> {
    order_id: &'a OrderId,
    sequence: u64,
    trader_id: &'a TraderId,
    actor: &'a str,
    action: &'a str,
    at: &'a Timestamp,
    before: &'a Option<Value>,
    after: &'a Option<Value>,
    reason: &'a Option<String>,
    request_id: &'a Option<String>,
    idempotency_key: &'a Option<IdempotencyKey>,
    prev_hash: &'a str,
}

/// Everything about a record but its place in the chain.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub order_id: OrderId,
    pub trader_id: TraderId,
    pub actor: String,
    pub action: String,
    pub at: Timestamp,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl AuditEntry {
    /// Seals the entry as record `sequence`, linked to `prev_hash`.
    pub fn seal(self, sequence: u64, prev_hash: &str) -> AuditRecord {
        let mut record = AuditRecord {
            order_id: self.order_id,
            sequence,
            trader_id: self.trader_id,
            actor: self.actor,
            action: self.action,
            at: self.at,
            before: self.before,
            after: self.after,
            reason: self.reason,
            request_id: self.request_id,
            idempotency_key: self.idempotency_key,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }
}

impl AuditRecord {
    pub fn compute_hash(&self) -> String {
        let hashed = Hashed {
            order_id: &self.order_id,
            sequence: self.sequence,
            trader_id: &self.trader_id,
            actor: &self.actor,
            action: &self.action,
            at: &self.at,
            before: &self.before,
            after: &self.after,
            reason: &self.reason,
            request_id: &self.request_id,
            idempotency_key: &self.idempotency_key,
            prev_hash: &self.prev_hash,
        };
        // One buffer sized for a submit's record: `to_vec` started at 128 bytes and
        // grew three or four times per record (issue 7 profile).
        let mut bytes = Vec::with_capacity(HASHED_CAPACITY);
        // Serializing plain strings, numbers and `Value`s cannot fail.
        if serde_json::to_writer(&mut bytes, &hashed).is_err() {
            bytes.clear();
        }
        sha256_hex(&bytes)
    }
}

/// Bytes a submit's record (one order snapshot) fits in, about 850; a transition
/// record, with `before` and `after`, grows it once. glibc serves up to 1 KiB from
/// its per-thread cache, so a larger first buffer costs more than it saves.
const HASHED_CAPACITY: usize = 1024;

/// Lower-case hex SHA-256 of `bytes`, into a `String` allocated once at its final
/// size (`hex::encode` collects `char` by `char` into a growing one).
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(2 * digest.len());
    for b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The first broken link found in an order's chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("the chain is empty")]
    Empty,
    #[error("record {found} is where record {expected} should be (missing or reordered records)")]
    Gap { expected: u64, found: u64 },
    #[error("record {sequence} does not link to the record before it (prev_hash mismatch)")]
    BadLink { sequence: u64 },
    #[error("record {sequence} was altered after it was written (hash mismatch)")]
    Altered { sequence: u64 },
    #[error("record {sequence} belongs to order {found}, not {expected}")]
    ForeignRecord {
        sequence: u64,
        expected: OrderId,
        found: OrderId,
    },
}

/// Walks one order's records (in sequence order) and reports the first broken link.
pub fn verify_chain(records: &[AuditRecord]) -> Result<(), ChainBreak> {
    let first = records.first().ok_or(ChainBreak::Empty)?;
    let mut prev_hash = GENESIS_HASH;
    for (i, record) in records.iter().enumerate() {
        let expected = i as u64 + 1;
        if record.order_id != first.order_id {
            return Err(ChainBreak::ForeignRecord {
                sequence: record.sequence,
                expected: first.order_id,
                found: record.order_id,
            });
        }
        if record.sequence != expected {
            return Err(ChainBreak::Gap {
                expected,
                found: record.sequence,
            });
        }
        if record.prev_hash != prev_hash {
            return Err(ChainBreak::BadLink {
                sequence: record.sequence,
            });
        }
        if record.compute_hash() != record.hash {
            return Err(ChainBreak::Altered {
                sequence: record.sequence,
            });
        }
        prev_hash = &record.hash;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let order_id = OrderId::new();
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let r = AuditEntry {
                    order_id,
                    trader_id: TraderId::parse("alice").unwrap(),
                    actor: "alice".into(),
                    action: format!("STEP{seq}"),
                    at: Timestamp::now(),
                    before: None,
                    after: Some(serde_json::json!({"status": "PENDING", "version": seq})),
                    reason: None,
                    request_id: Some("req-1".into()),
                    idempotency_key: None,
                }
                .seal(seq, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(()));
        assert_eq!(verify_chain(&[]), Err(ChainBreak::Empty));
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_the_right_record() {
        let mut c = chain(5);
        c[2].reason = Some("edited".into());
        assert_eq!(verify_chain(&c), Err(ChainBreak::Altered { sequence: 3 }));

        let mut c = chain(5);
        c[2].reason = Some("edited".into());
        c[2].hash = c[2].compute_hash(); // re-hashed by the tamperer: the next link breaks
        assert_eq!(verify_chain(&c), Err(ChainBreak::BadLink { sequence: 4 }));

        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c), Err(ChainBreak::Gap { expected: 2, found: 3 }));

        let mut c = chain(3);
        c.swap(1, 2);
        assert_eq!(verify_chain(&c), Err(ChainBreak::Gap { expected: 2, found: 3 }));
    }

    #[test]
    fn the_hash_is_sha256_of_the_canonical_json() {
        // The chains already stored were hashed this way: any faster encoding must
        // hash the very same bytes.
        for r in chain(3) {
            let hashed = Hashed {
                order_id: &r.order_id,
                sequence: r.sequence,
                trader_id: &r.trader_id,
                actor: &r.actor,
                action: &r.action,
                at: &r.at,
                before: &r.before,
                after: &r.after,
                reason: &r.reason,
                request_id: &r.request_id,
                idempotency_key: &r.idempotency_key,
                prev_hash: &r.prev_hash,
            };
            let reference = hex::encode(Sha256::digest(serde_json::to_vec(&hashed).unwrap()));
            assert_eq!(r.hash, reference);
        }
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_hash_survives_a_json_round_trip() {
        let c = chain(3);
        let text = serde_json::to_string(&c).unwrap();
        let back: Vec<AuditRecord> = serde_json::from_str(&text).unwrap();
        assert_eq!(verify_chain(&back), Ok(()));
    }
}
