//! The write-once copy of the audit trail (SPEC §8, SEC 17a-4(f)): every audit record
//! the audit table's stream delivers is copied to storage nobody can change or delete
//! ([`WriteOnceStore`]: an S3 bucket with Object Lock in compliance mode), and once a
//! day a digest of the day's chain heads is written beside them. `orders-admin
//! verify-audit` compares the table with the copy ([`compare`]) and each digest with
//! the records it covers ([`check_digests`]), so a record deleted from the table or
//! rewritten in it (even with its order item and every later hash rewritten to match,
//! which the chain and its anchor cannot show) is a finding.
//!
//! Layout (one object per record, keys only `/`-separated ids and hashes):
//! - `records/<day>/<chain>/<position>/<hash>`: the record's item as the table holds it
//!   (DynamoDB JSON), `<day>` the UTC date of its `at`, `<chain>` its `PK`
//!   (`ORDER#<id>` or `ACCOUNT#<trader>`), `<position>` its `SK` (the zero-padded
//!   sequence), `<hash>` its own hash. The key alone names the record and its hash, so
//!   comparing the table with the copy needs listings, not a read of every object.
//! - `digests/<day>`: [`DayDigest`], the head (last record) of every chain that grew
//!   that day and the SHA-256 of them all: one small object that fixes a whole day.
//!
//! Writes are `put_once` (S3: `If-None-Match: *`): a redelivered stream record finds
//! its object there and is done; nothing is ever overwritten.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use crate::domain::{Timestamp, sha256_hex};
pub use crate::ports::ArchiveEntry;
use crate::ports::{StoreError, WriteOnceStore};

/// Objects written at once while a batch is archived.
const PARALLEL_PUTS: usize = 8;

/// Key prefixes of the two kinds of object.
pub const RECORDS: &str = "records/";
pub const DIGESTS: &str = "digests/";

/// A part of a key that is not a plain id: `/` would change the key's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {chain}/{position}: `{part}` cannot be part of a key (empty, or contains '/')")]
pub struct UnkeyableRecord {
    pub chain: String,
    pub position: String,
    pub part: String,
}

/// A record's key in the copy, parsed back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordKey {
    pub day: String,
    pub chain: String,
    pub position: String,
    pub hash: String,
}

impl RecordKey {
    pub fn of(entry: &ArchiveEntry) -> Result<Self, UnkeyableRecord> {
        for part in [&entry.chain, &entry.position, &entry.hash] {
            if part.is_empty() || part.contains('/') {
                return Err(UnkeyableRecord {
                    chain: entry.chain.clone(),
                    position: entry.position.clone(),
                    part: part.clone(),
                });
            }
        }
        Ok(Self {
            day: day_of(entry.at),
            chain: entry.chain.clone(),
            position: entry.position.clone(),
            hash: entry.hash.clone(),
        })
    }

    /// `records/<day>/<chain>/<position>/<hash>`; `None` for any other key.
    pub fn parse(key: &str) -> Option<Self> {
        let mut parts = key.strip_prefix(RECORDS)?.split('/');
        let (day, chain, position, hash) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || [day, chain, position, hash].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Self {
            day: day.to_owned(),
            chain: chain.to_owned(),
            position: position.to_owned(),
            hash: hash.to_owned(),
        })
    }

    pub fn key(&self) -> String {
        format!("{RECORDS}{}/{}/{}/{}", self.day, self.chain, self.position, self.hash)
    }

    /// The record's identity in the table, whatever its hash.
    fn slot(&self) -> (String, String) {
        (self.chain.clone(), self.position.clone())
    }
}

/// The UTC date of `at`, `YYYY-MM-DD`: the day a record belongs to.
pub fn day_of(at: Timestamp) -> String {
    let date = at.datetime().to_offset(UtcOffset::UTC).date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// What archiving a batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    pub written: usize,
    /// Already in the copy: a redelivery.
    pub present: usize,
}

/// Archiving stopped at `index` (records before it are in the copy).
#[derive(Debug, thiserror::Error)]
#[error("audit record {index} of the batch could not be archived: {error}")]
pub struct ArchiveFailure {
    pub index: usize,
    pub error: StoreError,
}

/// Copies `entries` (a stream batch, in order) into the write-once store, a few at a
/// time. On a failure, reports the first record not known to be in the copy, so a
/// retry starts there; the ones after it may be written again, which `put_once` makes
/// harmless.
pub async fn archive(store: &dyn WriteOnceStore, entries: &[ArchiveEntry]) -> Result<ArchiveReport, ArchiveFailure> {
    let results: Vec<Result<bool, StoreError>> = stream::iter(entries.iter())
        .map(|entry| async move {
            let key = RecordKey::of(entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let body = serde_json::to_vec(&entry.item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            store.put_once(&key.key(), body).await
        })
        .buffered(PARALLEL_PUTS)
        .collect()
        .await;
    let mut report = ArchiveReport::default();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(true) => report.written += 1,
            Ok(false) => report.present += 1,
            Err(error) => return Err(ArchiveFailure { index, error }),
        }
    }
    Ok(report)
}

/// The head (last record) of one chain on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub chain: String,
    pub position: String,
    pub hash: String,
}

/// A day of the copy in one object: every chain's head that day and their SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDigest {
    pub day: String,
    /// Records of the day the digest covers.
    pub records: usize,
    /// One per chain, in chain order.
    pub heads: Vec<ChainHead>,
    /// SHA-256 of the lines `<chain> <position> <hash>\n` of `heads`, in order.
    pub digest: String,
}

impl DayDigest {
    /// The digest of `day` from the keys of its records (others are ignored).
    pub fn of(day: &str, keys: &[RecordKey]) -> Self {
        let mut heads: BTreeMap<&str, &RecordKey> = BTreeMap::new();
        let mut records = 0;
        for key in keys.iter().filter(|k| k.day == day) {
            records += 1;
            let head = heads.entry(key.chain.as_str()).or_insert(key);
            if key.position > head.position {
                *head = key;
            }
        }
        let heads: Vec<ChainHead> = heads
            .into_values()
            .map(|k| ChainHead {
                chain: k.chain.clone(),
                position: k.position.clone(),
                hash: k.hash.clone(),
            })
            .collect();
        let lines: String = heads
            .iter()
            .map(|h| format!("{} {} {}\n", h.chain, h.position, h.hash))
            .collect();
        Self {
            day: day.to_owned(),
            records,
            digest: sha256_hex(lines.as_bytes()),
            heads,
        }
    }

    pub fn key(&self) -> String {
        format!("{DIGESTS}{}", self.day)
    }
}

/// Every record key in the copy (of one day when `day` is given).
pub async fn record_keys(store: &dyn WriteOnceStore, day: Option<&str>) -> Result<Vec<RecordKey>, StoreError> {
    let prefix = match day {
        Some(d) => format!("{RECORDS}{d}/"),
        None => RECORDS.to_owned(),
    };
    Ok(store
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|k| RecordKey::parse(k))
        .collect())
}

/// What writing a day's digest found.
#[derive(Debug, PartialEq, Eq)]
pub enum DigestWrite {
    Written(DayDigest),
    /// The day already had this digest.
    Present(DayDigest),
    /// The day already had a digest, and the copy no longer gives it (records of the day
    /// were archived after it was written). The locked one stays; `verify-audit`
    /// reports the difference.
    Differs {
        locked: DayDigest,
        now: DayDigest,
    },
}

/// Writes `day`'s digest from the copy's records of that day, once.
pub async fn write_digest(store: &dyn WriteOnceStore, day: &str) -> Result<DigestWrite, StoreError> {
    let digest = DayDigest::of(day, &record_keys(store, Some(day)).await?);
    let body = serde_json::to_vec(&digest).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if store.put_once(&digest.key(), body).await? {
        return Ok(DigestWrite::Written(digest));
    }
    let locked = read_digest(store, day)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("digest of {day}: present but unreadable")))?;
    Ok(if locked == digest {
        DigestWrite::Present(digest)
    } else {
        DigestWrite::Differs { locked, now: digest }
    })
}

/// The locked digest of `day`, if written.
pub async fn read_digest(store: &dyn WriteOnceStore, day: &str) -> Result<Option<DayDigest>, StoreError> {
    match store.get(&format!("{DIGESTS}{day}")).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("digest of {day}: {e}"))),
    }
}

/// One difference between the table, the copy and the digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveFinding {
    /// `ORDER#<id>` / `ACCOUNT#<trader>`, or `digest <day>`.
    pub subject: String,
    pub position: Option<String>,
    pub problem: String,
}

/// `ORDER#<id>` as `order <id>`, `ACCOUNT#<trader>` as `account <trader>`: the words
/// the chain checks use.
fn subject_text(chain: &str) -> String {
    match (chain.strip_prefix("ORDER#"), chain.strip_prefix("ACCOUNT#")) {
        (Some(id), _) => format!("order {id}"),
        (_, Some(trader)) => format!("account {trader}"),
        _ => chain.to_owned(),
    }
}

impl std::fmt::Display for ArchiveFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subject = subject_text(&self.subject);
        match &self.position {
            Some(p) => {
                let sequence = p.parse::<u64>().map_or_else(|_| p.clone(), |n| n.to_string());
                write!(f, "{subject} record {sequence}: {}", self.problem)
            }
            None => write!(f, "{subject}: {}", self.problem),
        }
    }
}

/// The table's records (`table`) against the copy's keys (`archived`). A table record
/// younger than `archived_by` may still be on its way (the stream's lag) and is not
/// expected in the copy yet; a copy without its table record is always a finding
/// (records are never deleted).
pub fn compare(
    table: &[RecordKey],
    table_at: &BTreeMap<(String, String), Timestamp>,
    archived: &[RecordKey],
    archived_by: Timestamp,
) -> Vec<ArchiveFinding> {
    let in_copy: BTreeMap<(String, String), Vec<&RecordKey>> = archived.iter().fold(BTreeMap::new(), |mut m, k| {
        m.entry(k.slot()).or_insert_with(Vec::new).push(k);
        m
    });
    let in_table: BTreeMap<(String, String), &RecordKey> = table.iter().map(|k| (k.slot(), k)).collect();
    let mut found = Vec::new();
    for (slot, key) in &in_table {
        let finding = |problem: String| ArchiveFinding {
            subject: slot.0.clone(),
            position: Some(slot.1.clone()),
            problem,
        };
        match in_copy.get(slot) {
            Some(copies) if copies.contains(key) => {}
            Some(copies) => found.push(finding(format!(
                "rewritten in the table: its hash {} is not the write-once copy's {}",
                key.hash,
                copies.iter().map(|c| c.hash.as_str()).collect::<Vec<_>>().join(", ")
            ))),
            None if table_at.get(slot).is_some_and(|at| *at > archived_by) => {}
            None => found.push(finding(format!(
                "not in the write-once copy (expected at {})",
                key.key()
            ))),
        }
    }
    for (slot, copies) in &in_copy {
        if !in_table.contains_key(slot) {
            found.push(ArchiveFinding {
                subject: slot.0.clone(),
                position: Some(slot.1.clone()),
                problem: format!(
                    "deleted from the audit table; the write-once copy keeps it at {}",
                    copies.iter().map(|c| c.key()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    found
}

/// Each locked digest against the copy's records of its day, and every day of the copy
/// that ended before `digests_due` without a digest.
pub fn check_digests(archived: &[RecordKey], digests: &[DayDigest], digests_due: Timestamp) -> Vec<ArchiveFinding> {
    let days: BTreeSet<&str> = archived.iter().map(|k| k.day.as_str()).collect();
    let have: BTreeMap<&str, &DayDigest> = digests.iter().map(|d| (d.day.as_str(), d)).collect();
    let due = day_of(digests_due);
    let mut found = Vec::new();
    for day in days.iter().filter(|d| **d < due.as_str()) {
        if !have.contains_key(day) {
            found.push(ArchiveFinding {
                subject: format!("digest {day}"),
                position: None,
                problem: "the day has archived records and no digest (run `orders-admin audit-digest --day`)".into(),
            });
        }
    }
    for locked in digests {
        let now = DayDigest::of(&locked.day, archived);
        if now.digest != locked.digest {
            let late = now.records.saturating_sub(locked.records);
            found.push(ArchiveFinding {
                subject: format!("digest {}", locked.day),
                position: None,
                problem: format!(
                    "the locked digest {} ({} records, {} chains) is not the copy's {} ({} records, {} chains){}",
                    locked.digest,
                    locked.records,
                    locked.heads.len(),
                    now.digest,
                    now.records,
                    now.heads.len(),
                    if late > 0 {
                        format!(": {late} record(s) archived after the digest")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    found
}
