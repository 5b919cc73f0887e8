//! The write-once copy of the audit trail (`shared::app::archive`) against the
//! in-memory store: keys, idempotent archiving, a failed write, digests, and the
//! comparison `verify-audit` makes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::adapters::memory::MemoryWriteOnce;
use shared::app::archive::*;
use shared::domain::{Timestamp, sha256_hex};
use shared::ports::WriteOnceStore;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn entry(chain: &str, seq: u64, day: &str, hash: &str) -> ArchiveEntry {
    ArchiveEntry {
        chain: chain.into(),
        position: format!("{seq:020}"),
        at: at(&format!("{day}T12:00:00Z")),
        hash: hash.into(),
        item: json!({"PK": {"S": chain}, "hash": {"S": hash}}),
    }
}

fn keys(entries: &[ArchiveEntry]) -> Vec<RecordKey> {
    entries.iter().map(|e| RecordKey::of(e).unwrap()).collect()
}

#[test]
fn keys_parse_back_and_refuse_slashes() {
    let e = entry("ORDER#01ABC", 3, "2026-11-27", "aa11");
    let key = RecordKey::of(&e).unwrap();
    assert_eq!(key.key(), "records/2026-11-27/ORDER#01ABC/00000000000000000003/aa11");
    assert_eq!(RecordKey::parse(&key.key()), Some(key));
    assert_eq!(RecordKey::parse("records/2026-11-27/ORDER#1/3"), None);
    assert_eq!(RecordKey::parse("digests/2026-11-27"), None);
    let bad = ArchiveEntry {
        chain: "ORDER#a/b".into(),
        ..e
    };
    assert!(RecordKey::of(&bad).is_err());
}

#[test]
fn the_day_is_utc() {
    assert_eq!(day_of(at("2026-11-27T23:59:59Z")), "2026-11-27");
    assert_eq!(day_of(at("2026-11-28T01:00:00+05:00")), "2026-11-27");
}

#[tokio::test]
async fn archiving_twice_writes_once() {
    let store = MemoryWriteOnce::default();
    let batch = [
        entry("ORDER#1", 1, "2026-11-27", "h1"),
        entry("ORDER#1", 2, "2026-11-27", "h2"),
    ];
    assert_eq!(
        archive(&store, &batch).await.unwrap(),
        ArchiveReport { written: 2, present: 0 }
    );
    assert_eq!(
        archive(&store, &batch).await.unwrap(),
        ArchiveReport { written: 0, present: 2 }
    );
    let stored = store
        .get(&RecordKey::of(&batch[1]).unwrap().key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap(), batch[1].item);
}

#[tokio::test]
async fn a_failed_write_names_the_first_record_not_archived() {
    let store = MemoryWriteOnce::default();
    let batch = [
        entry("ORDER#1", 1, "2026-11-27", "h1"),
        entry("ORDER#2", 1, "2026-11-27", "h2"),
        entry("ORDER#3", 1, "2026-11-27", "h3"),
    ];
    store.fail_key(&RecordKey::of(&batch[1]).unwrap().key());
    let failure = archive(&store, &batch).await.unwrap_err();
    assert_eq!(failure.index, 1);
    assert!(
        store
            .get(&RecordKey::of(&batch[0]).unwrap().key())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_digest_names_each_chains_head_and_is_written_once() {
    let store = MemoryWriteOnce::default();
    let batch = [
        entry("ORDER#1", 1, "2026-11-27", "a1"),
        entry("ORDER#1", 2, "2026-11-27", "a2"),
        entry("ORDER#2", 1, "2026-11-27", "b1"),
        entry("ORDER#2", 2, "2026-11-28", "b2"),
    ];
    archive(&store, &batch).await.unwrap();
    let DigestWrite::Written(d) = write_digest(&store, "2026-11-27").await.unwrap() else {
        panic!("the first digest of a day is written")
    };
    assert_eq!(d.records, 3);
    let heads: Vec<(&str, &str)> = d.heads.iter().map(|h| (h.chain.as_str(), h.hash.as_str())).collect();
    assert_eq!(heads, [("ORDER#1", "a2"), ("ORDER#2", "b1")]);
    let lines = format!("ORDER#1 {:020} a2\nORDER#2 {:020} b1\n", 2, 1);
    assert_eq!(d.digest, sha256_hex(lines.as_bytes()));
    assert!(matches!(
        write_digest(&store, "2026-11-27").await.unwrap(),
        DigestWrite::Present(_)
    ));

    // A record of the day archived late: the locked digest stays, the difference shows.
    archive(&store, &[entry("ORDER#3", 1, "2026-11-27", "c1")])
        .await
        .unwrap();
    let DigestWrite::Differs { locked, now } = write_digest(&store, "2026-11-27").await.unwrap() else {
        panic!("a late record changes the day's digest")
    };
    assert_eq!((locked, now.records), (d.clone(), 4));
    let all = record_keys(&store, None).await.unwrap();
    let found = check_digests(&all, &[d], at("2026-11-29T03:00:00Z"));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].problem.contains("no digest"), "2026-11-28 has none: {found:?}");
    assert!(
        found[1].problem.contains("1 record(s) archived after the digest"),
        "{found:?}"
    );
}

#[test]
fn a_day_not_yet_due_needs_no_digest() {
    let archived = keys(&[entry("ORDER#1", 1, "2026-11-27", "a1")]);
    assert!(check_digests(&archived, &[], at("2026-11-27T23:00:00Z")).is_empty());
    assert_eq!(check_digests(&archived, &[], at("2026-11-28T00:00:01Z")).len(), 1);
}

#[test]
fn compare_finds_deleted_rewritten_and_missing_records() {
    let copy = keys(&[
        entry("ORDER#1", 1, "2026-11-27", "a1"),
        entry("ORDER#1", 2, "2026-11-27", "a2"),
        entry("ORDER#2", 1, "2026-11-27", "b1"),
    ]);
    let old = at("2026-11-27T12:00:00Z");
    let by = at("2026-11-27T13:00:00Z");
    let table_at = |t: &[RecordKey]| {
        t.iter()
            .map(|k| ((k.chain.clone(), k.position.clone()), old))
            .collect::<BTreeMap<_, _>>()
    };

    let same = copy.clone();
    assert!(compare(&same, &table_at(&same), &copy, by).is_empty());

    // The tail deleted, the head rewritten with a new hash, a record never archived.
    let table = keys(&[
        entry("ORDER#1", 1, "2026-11-27", "a1"),
        entry("ORDER#2", 1, "2026-11-27", "b1-rewritten"),
        entry("ORDER#3", 1, "2026-11-27", "c1"),
    ]);
    let found = compare(&table, &table_at(&table), &copy, by);
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{text:?}");
    assert!(
        text.iter().any(|t| t.starts_with("order 2 record 1: rewritten")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("order 3 record 1: not in the write-once copy"))
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("order 1 record 2: deleted from the audit table"))
    );

    // A record younger than the stream's lag is not expected yet.
    let mut young = table_at(&table);
    young.insert(("ORDER#3".into(), format!("{:020}", 1)), at("2026-11-27T13:00:01Z"));
    assert_eq!(compare(&table, &young, &copy, by).len(), 2);
}
