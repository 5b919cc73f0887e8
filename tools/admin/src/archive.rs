//! `verify-audit`'s second half: the audit table against its write-once copy and the
//! copy's daily digests (`shared::app::archive`). A record deleted from the table, or
//! rewritten there with a new hash (its order item and the later records rewritten to
//! match, so that the chain and its anchor still verify), differs from the locked copy;
//! a day's digest that the copy no longer gives shows records archived after it.
//!
//! The table is read first, then the copy: a record appended in between is in the copy
//! only, so every record found only in the copy is read again from the table before it
//! is called deleted. A record younger than `grace` (the stream's lag) is not yet
//! expected in the copy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::aws::S3WriteOnce;
use shared::adapters::aws::items::{PK, SK, archive_entry};
use shared::app::archive::{
    ArchiveFinding, DIGESTS, DayDigest, RecordKey, check_digests, compare, day_of, read_digest, record_keys,
};
use shared::app::archive::{DigestWrite, write_digest};
use shared::domain::Timestamp;
use shared::ports::WriteOnceStore;

/// A day's digest is written at 00:15 UTC the day after; one older than this past its
/// day's end and still missing is a finding.
const DIGEST_DUE_SECS: i64 = 3 * 3600;

/// What was compared and what differs.
#[derive(Debug, Default)]
pub struct CopyCheck {
    pub table_records: usize,
    pub archived: usize,
    pub digests: usize,
    pub findings: Vec<ArchiveFinding>,
}

type Item = std::collections::HashMap<String, AttributeValue>;

/// The table's records (of `chain` only, when given), read whole and paged.
async fn table_items(client: &Client, table: &str, chain: Option<&str>) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = match chain {
            Some(c) => {
                let out = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("#pk = :chain")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":chain", AttributeValue::S(c.to_owned()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
                    .with_context(|| format!("reading the chain {c} of the audit table {table}"))?;
                let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
                (out.items.unwrap_or_default(), next)
            }
            None => {
                let out = client
                    .scan()
                    .table_name(table)
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
                    .with_context(|| format!("scanning the audit table {table}"))?;
                let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
                (out.items.unwrap_or_default(), next)
            }
        };
        items.extend(page);
        start = next;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The records' keys in the copy, with their times; a record that cannot be keyed is
/// a finding.
type TableKeys = (
    Vec<RecordKey>,
    BTreeMap<(String, String), Timestamp>,
    Vec<ArchiveFinding>,
);

async fn table_keys(client: &Client, table: &str, chain: Option<&str>) -> anyhow::Result<TableKeys> {
    let (mut keys, mut times, mut unreadable) = (Vec::new(), BTreeMap::new(), Vec::new());
    for item in table_items(client, table, chain).await? {
        let keyed = archive_entry(&item)
            .map_err(|e| e.to_string())
            .and_then(|e| RecordKey::of(&e).map(|k| (k, e.at)).map_err(|e| e.to_string()));
        match keyed {
            Ok((key, at)) => {
                times.insert((key.chain.clone(), key.position.clone()), at);
                keys.push(key);
            }
            Err(problem) => unreadable.push(ArchiveFinding {
                subject: text(&item, PK),
                position: Some(text(&item, SK)),
                problem: format!("cannot be keyed in the write-once copy: {problem}"),
            }),
        }
    }
    Ok((keys, times, unreadable))
}

fn text(item: &Item, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// Whether the table holds the record now, with this hash.
async fn in_table_now(client: &Client, table: &str, key: &RecordKey) -> anyhow::Result<bool> {
    let out = client
        .get_item()
        .table_name(table)
        .key(PK, AttributeValue::S(key.chain.clone()))
        .key(SK, AttributeValue::S(key.position.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
        .with_context(|| format!("reading {} {} from the audit table", key.chain, key.position))?;
    Ok(out.item().is_some_and(|i| text(i, "hash") == key.hash))
}

/// Drops "deleted" findings for records the table holds when read again.
async fn confirmed(
    client: &Client,
    table: &str,
    archived: &[RecordKey],
    found: Vec<ArchiveFinding>,
) -> anyhow::Result<Vec<ArchiveFinding>> {
    let mut out = Vec::new();
    for f in found {
        if f.problem.starts_with("deleted from the audit table") {
            let copies: Vec<&RecordKey> = archived
                .iter()
                .filter(|k| k.chain == f.subject && Some(&k.position) == f.position.as_ref())
                .collect();
            let mut there = false;
            for k in copies {
                there |= in_table_now(client, table, k).await?;
            }
            if there {
                continue;
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// `compare`d, with "deleted" findings read again from the table (`confirmed`).
async fn differences(
    client: &Client,
    table: &str,
    (keys, times): (&[RecordKey], &BTreeMap<(String, String), Timestamp>),
    archived: &[RecordKey],
    now: Timestamp,
    grace: Duration,
) -> anyhow::Result<Vec<ArchiveFinding>> {
    let archived_by = now.plus_seconds(-(grace.as_secs() as i64));
    confirmed(client, table, archived, compare(keys, times, archived, archived_by)).await
}

/// The whole table against the whole copy and every digest.
pub async fn check_all(
    copy: &dyn WriteOnceStore,
    client: &Client,
    table: &str,
    grace: Duration,
) -> anyhow::Result<CopyCheck> {
    let now = Timestamp::now();
    let (table_keys, times, mut findings) = table_keys(client, table, None).await?;
    let archived = record_keys(copy, None).await.context("listing the write-once copy")?;
    let mut digests = Vec::new();
    for key in copy.list(DIGESTS).await.context("listing the digests")? {
        let day = key.trim_start_matches(DIGESTS);
        match read_digest(copy, day).await {
            Ok(Some(d)) => digests.push(d),
            Ok(None) => {}
            Err(e) => findings.push(ArchiveFinding {
                subject: format!("digest {day}"),
                position: None,
                problem: format!("cannot be read: {e}"),
            }),
        }
    }
    findings.extend(differences(client, table, (&table_keys, &times), &archived, now, grace).await?);
    findings.extend(check_digests(&archived, &digests, now.plus_seconds(-DIGEST_DUE_SECS)));
    Ok(CopyCheck {
        table_records: table_keys.len(),
        archived: archived.len(),
        digests: digests.len(),
        findings,
    })
}

/// One chain against its copy: the days listed are those of its records in the table
/// and `also` (e.g. the order's creation and last change, where a deleted tail's day is).
pub async fn check_chain(
    copy: &dyn WriteOnceStore,
    client: &Client,
    table: &str,
    chain: &str,
    also: &[Timestamp],
    grace: Duration,
) -> anyhow::Result<CopyCheck> {
    let now = Timestamp::now();
    let (table_keys, times, findings) = table_keys(client, table, Some(chain)).await?;
    let days: BTreeSet<String> = table_keys
        .iter()
        .map(|k| k.day.clone())
        .chain(also.iter().map(|t| day_of(*t)))
        .collect();
    let mut archived = Vec::new();
    for day in &days {
        let prefix = format!("records/{day}/{chain}/");
        for key in copy.list(&prefix).await.context("listing the write-once copy")? {
            archived.extend(RecordKey::parse(&key));
        }
    }
    let mut findings = findings;
    findings.extend(differences(client, table, (&table_keys, &times), &archived, now, grace).await?);
    // The digests of those days must still name this chain's head of each day.
    let mut digests = 0;
    for day in &days {
        if let Some(locked) = read_digest(copy, day).await? {
            digests += 1;
            let head = DayDigest::of(day, &archived).heads;
            if !head.iter().all(|h| locked.heads.contains(h)) {
                findings.push(ArchiveFinding {
                    subject: chain.to_owned(),
                    position: None,
                    problem: format!("its head on {day} is not the one the locked digest of {day} names"),
                });
            }
        }
    }
    Ok(CopyCheck {
        table_records: table_keys.len(),
        archived: archived.len(),
        digests,
        findings,
    })
}

/// The copy `--archive-bucket` names, else the stack output `AUDIT_ARCHIVE_BUCKET_NAME`;
/// `None` with `--no-archive`.
pub fn copy_named(
    bucket: Option<&str>,
    no_archive: bool,
    config: &aws_config::SdkConfig,
) -> anyhow::Result<Option<S3WriteOnce>> {
    if no_archive {
        return Ok(None);
    }
    let bucket = bucket
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("AUDIT_ARCHIVE_BUCKET_NAME")
                .ok()
                .filter(|b| !b.is_empty())
        })
        .context(
            "the audit trail's write-once copy is not named: set AUDIT_ARCHIVE_BUCKET_NAME (a stack output) or \
             pass --archive-bucket NAME (--no-archive checks the table alone)",
        )?;
    Ok(Some(S3WriteOnce::new(S3WriteOnce::client_for(config), bucket)))
}

/// `--archive-grace-secs` (default 60): how long a record may take to reach the copy.
pub fn grace(raw: Option<&str>) -> anyhow::Result<Duration> {
    match raw {
        None => Ok(Duration::from_secs(60)),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= 86_400)
            .map(Duration::from_secs)
            .with_context(|| format!("--archive-grace-secs must be 0 to 86400 seconds, not {raw:?}")),
    }
}

/// `audit-digest --day`: the day's digest, written once.
pub async fn write_day_digest(copy: &dyn WriteOnceStore, day: &str) -> anyhow::Result<()> {
    let valid = day.len() == 10 && Timestamp::parse(&format!("{day}T00:00:00Z")).is_ok();
    anyhow::ensure!(valid, "--day must be a date, YYYY-MM-DD, not {day:?}");
    match write_digest(copy, day).await? {
        DigestWrite::Written(d) => println!(
            "digest of {day} written: {} records, {} chains, sha256 {}",
            d.records,
            d.heads.len(),
            d.digest
        ),
        DigestWrite::Present(d) => println!("digest of {day} already written (the same): sha256 {}", d.digest),
        DigestWrite::Differs { locked, now } => anyhow::bail!(
            "the locked digest of {day} ({} records, sha256 {}) is not what the copy gives now ({} records, \
             sha256 {}): records of the day were archived after it",
            locked.records,
            locked.digest,
            now.records,
            now.digest
        ),
    }
    Ok(())
}
