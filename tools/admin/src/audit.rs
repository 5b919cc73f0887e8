// Long because: verify-audit walks orders and chains both ways in one pass; a third is its tests.
//! `verify-audit`: every audit chain verified and anchored to what it records
//! (SPEC §8; what is compared: `shared::domain::audit`'s header).
//!
//! `--all` walks both ways, so that nothing is checked only from one side:
//! - every order of every trader (traders: the account items of the orders table and
//!   every trader named in the audit table; orders: `list_orders`, paged): its chain
//!   must exist, link, and end at the order's current version, `audit_head` and
//!   state — a deleted last record, a deleted chain, a suffix rewritten with
//!   recomputed hashes are each a finding;
//! - every chain of the audit table (scanned, paged): one whose order does not exist
//!   is a finding unless it is a refused submit's (one `SUBMIT_REJECTED` record);
//! - every account's operator chain (`ACCOUNT#<trader>`), against the anchor the
//!   account item keeps; an account without one is a finding.
//!
//! Each finding names the order (or account), the record where known, and what is
//! wrong; any finding makes the command fail (exit 1), so a scheduled run or CI
//! notices.
//!
//! A scan is not a snapshot, and orders move while it runs. Records are only ever
//! appended, in the transaction that moves their order, so a chain read after its
//! order is never shorter than the order's version; a check that fails on data read
//! at different times is repeated on a fresh read of the order, then of its chain,
//! before it is reported (`fresh_order_check`). A live stack gives no false finding.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::aws::DynamoStore;
use shared::adapters::aws::items::{ACCOUNT_SK, PK, SK, account_audit_from_item, audit_from_item};
use shared::domain::{
    AccountAuditRecord, AuditRecord, ChainBreak, Order, OrderId, TraderId, verify_account_chain, verify_anchored,
    verify_orphan,
};
use shared::ports::{AccountAdmin, AuditLog, OrderStore};

/// One thing wrong with one chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    /// `order <id>`, `account <trader>`, or the item's key when it cannot be read.
    pub subject: String,
    pub sequence: Option<u64>,
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sequence {
            Some(seq) => write!(f, "{} sequence {seq}: {}", self.subject, self.problem),
            None => write!(f, "{}: {}", self.subject, self.problem),
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub orders: usize,
    pub accounts: usize,
    /// Chains of refused submits (no order, by design).
    pub refused: usize,
    pub records: usize,
    pub broken: Vec<Broken>,
}

fn order_subject(order: &OrderId) -> String {
    format!("order {order}")
}

fn broken(subject: &str, e: &ChainBreak) -> Broken {
    Broken {
        subject: subject.to_owned(),
        sequence: e.sequence(),
        problem: e.to_string(),
    }
}

/// Every problem with one order's chain (records in sequence order; `order` as
/// stored, `None` when there is none): each record whose hash does not match its
/// content, and the first other break (a gap, a re-hashed edit, a missing tail, a
/// head that is not the order's, a chain without an order).
pub fn check_order(id: &OrderId, order: Option<&Order>, records: &[AuditRecord]) -> Vec<Broken> {
    let subject = order_subject(id);
    let mut found: Vec<Broken> = records
        .iter()
        .filter(|r| r.compute_hash() != r.hash)
        .map(|r| broken(&subject, &ChainBreak::Altered { sequence: r.sequence }))
        .collect();
    let result = match order {
        Some(o) => verify_anchored(o, records),
        None => verify_orphan(records),
    };
    if let Err(e) = result {
        if !matches!(e, ChainBreak::Altered { .. }) || found.is_empty() {
            found.push(broken(&subject, &e));
        }
    }
    found
}

/// True when a failed check may come from reading the order and its chain at
/// different times: the chain ran past the order (it moved after the order was read),
/// or the order was not found but its chain was (created after the order was read).
fn may_be_a_moving_read(order: Option<&Order>, records: &[AuditRecord]) -> bool {
    match order {
        Some(o) => records.last().is_some_and(|h| h.sequence > o.version),
        None => !records.is_empty(),
    }
}

/// Reads `id` afresh (the order, then its chain) and checks it; repeated while the
/// reads may have straddled a change of the order.
pub async fn fresh_order_check(
    store: &DynamoStore,
    trader: &TraderId,
    id: &OrderId,
) -> anyhow::Result<(Option<Order>, Vec<AuditRecord>, Vec<Broken>)> {
    let mut attempt = 0;
    loop {
        let order = store.get_order(trader, id).await?;
        let records = store.records(id).await?;
        let found = check_order(id, order.as_ref(), &records);
        attempt += 1;
        if found.is_empty() || attempt == 3 || !may_be_a_moving_read(order.as_ref(), &records) {
            return Ok((order, records, found));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks an account's operator chain against its anchor, afresh when the first
/// reads disagree (an operator change between them).
async fn check_account(
    store: &DynamoStore,
    trader: &TraderId,
    scanned: Option<Vec<AccountAuditRecord>>,
) -> anyhow::Result<Vec<Broken>> {
    let subject = format!("account {trader}");
    let mut records = scanned;
    for attempt in 0..3 {
        let anchor = store.account_anchor(trader).await?;
        let chain = match records.take() {
            Some(r) => r,
            None => store.account_records(trader).await?,
        };
        match verify_account_chain(trader, anchor.as_ref(), &chain) {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if attempt == 2 => {
                let mut found: Vec<Broken> = chain
                    .iter()
                    .filter(|r| r.compute_hash() != r.hash)
                    .map(|r| broken(&subject, &ChainBreak::Altered { sequence: r.sequence }))
                    .collect();
                if !matches!(e, ChainBreak::Altered { .. }) || found.is_empty() {
                    found.push(broken(&subject, &e));
                }
                return Ok(found);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok(Vec::new())
}

fn key_text(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    let part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    format!("item {} / {}", part(PK), part(SK))
}

fn sdk<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(&e))
}

/// The audit table, read whole: order chains, account chains, and what cannot be read.
#[derive(Default)]
struct AuditScan {
    orders: BTreeMap<OrderId, Vec<AuditRecord>>,
    accounts: BTreeMap<TraderId, Vec<AccountAuditRecord>>,
}

async fn scan_audit(client: &Client, table: &str, summary: &mut Summary) -> anyhow::Result<AuditScan> {
    let mut scan = AuditScan::default();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)
            .with_context(|| format!("scanning the audit table {table}"))?;
        for item in page.items() {
            summary.records += 1;
            let pk = item.get(PK).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
            let read = if pk.starts_with("ACCOUNT#") {
                account_audit_from_item(item).map(|r| scan.accounts.entry(r.trader_id.clone()).or_default().push(r))
            } else {
                audit_from_item(item).map(|r| scan.orders.entry(r.order_id).or_default().push(r))
            };
            if let Err(e) = read {
                summary.broken.push(Broken {
                    subject: key_text(item),
                    sequence: None,
                    problem: format!("the audit record cannot be read: {e}"),
                });
            }
        }
        start = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        if start.is_none() {
            break;
        }
    }
    for records in scan.orders.values_mut() {
        records.sort_by_key(|r| r.sequence);
        // Records of changes: their snapshots are rebuilt from the chain, as the
        // store's reader does.
        shared::domain::expand_chain(records);
    }
    for records in scan.accounts.values_mut() {
        records.sort_by_key(|r| r.sequence);
    }
    Ok(scan)
}

/// Every trader with an account item in the orders table.
async fn account_holders(client: &Client, table: &str) -> anyhow::Result<BTreeSet<TraderId>> {
    let mut traders = BTreeSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .filter_expression("#sk = :account")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":account", AttributeValue::S(ACCOUNT_SK.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)
            .with_context(|| format!("scanning the orders table {table} for accounts"))?;
        for item in page.items() {
            let pk = item.get(PK).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
            if let Some(t) = pk.strip_prefix("TRADER#").and_then(|t| TraderId::parse(t).ok()) {
                traders.insert(t);
            }
        }
        start = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(traders)
}

/// Orders read per `list_orders` page.
const PAGE: u32 = 100;

/// Verifies every chain of the audit table and every order and account of the
/// orders table (module header).
pub async fn verify_all(
    client: &Client,
    store: &DynamoStore,
    orders_table: &str,
    audit_table: &str,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut scan = scan_audit(client, audit_table, &mut summary).await?;
    let holders = account_holders(client, orders_table).await?;
    let mut traders = holders.clone();
    traders.extend(
        scan.orders
            .values()
            .filter_map(|r| r.first())
            .map(|r| r.trader_id.clone()),
    );
    let accounts: BTreeSet<TraderId> = holders.into_iter().chain(scan.accounts.keys().cloned()).collect();
    traders.extend(scan.accounts.keys().cloned());

    // Every order of every trader, against its chain.
    for trader in &traders {
        let mut after = None;
        loop {
            let page = match store.list_orders(trader, None, PAGE, after).await {
                Ok(p) => p,
                Err(e) => {
                    summary.broken.push(Broken {
                        subject: format!("trader {trader}"),
                        sequence: None,
                        problem: format!("the orders cannot be read: {e}"),
                    });
                    break;
                }
            };
            for order in &page.orders {
                summary.orders += 1;
                let records = scan.orders.remove(&order.order_id).unwrap_or_default();
                if check_order(&order.order_id, Some(order), &records).is_empty() {
                    continue;
                }
                let (_, _, found) = fresh_order_check(store, trader, &order.order_id).await?;
                summary.broken.extend(found);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }

    // Chains whose order was not walked: refused submits, orders created since, or
    // chains without an order.
    for (id, records) in std::mem::take(&mut scan.orders) {
        let Some(trader) = records.first().map(|r| r.trader_id.clone()) else {
            continue;
        };
        if check_order(&id, None, &records).is_empty() {
            summary.refused += 1;
            continue;
        }
        let (order, _, found) = fresh_order_check(store, &trader, &id).await?;
        if order.is_some() {
            summary.orders += 1;
        } else if found.is_empty() {
            summary.refused += 1;
        }
        summary.broken.extend(found);
    }

    // Every account's operator chain, against its anchor.
    // (Traders known only from a refused submit's record may have no account.)
    for trader in &accounts {
        summary.accounts += 1;
        let scanned = scan.accounts.remove(trader);
        summary.broken.extend(check_account(store, trader, scanned).await?);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{AuditEntry, GENESIS_HASH, Timestamp, validate_order};

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
                    after: None,
                    reason: None,
                    request_id: None,
                    idempotency_key: None,
                    changes: None,
                }
                .seal(seq, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    /// The order `records` end at, as it would be stored: version n, the head's hash,
    /// and the head's `after` snapshot (set to the order's).
    fn anchored(records: &mut [AuditRecord]) -> Order {
        let draft = validate_order(&serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market",
            "quantity": "1"}))
        .unwrap();
        let head = records.len() - 1;
        let mut order = Order::pending(
            records[head].order_id,
            records[head].trader_id.clone(),
            draft,
            "100".parse().unwrap(),
            Timestamp::now(),
        );
        order.version = records.len() as u64;
        records[head].after = Some(serde_json::to_value(&order).unwrap());
        records[head].hash = records[head].compute_hash();
        order.audit_head = records[head].hash.clone();
        order
    }

    #[test]
    fn every_altered_record_is_named_with_its_sequence() {
        let mut c = chain(4);
        let id = c[0].order_id;
        let order = anchored(&mut c);
        assert!(check_order(&id, Some(&order), &c).is_empty());
        c[1].reason = Some("edited".into());
        c[3].actor = "mallory".into();
        let found: Vec<Option<u64>> = check_order(&id, Some(&order), &c).iter().map(|b| b.sequence).collect();
        assert_eq!(found, vec![Some(2), Some(4)]);
        assert!(
            check_order(&id, Some(&order), &c)[0]
                .to_string()
                .contains(&format!("order {id} sequence 2"))
        );
    }

    #[test]
    fn a_rehashed_edit_and_a_gap_are_named_too() {
        let mut c = chain(4);
        let id = c[0].order_id;
        let order = anchored(&mut c);
        c[1].reason = Some("edited".into());
        c[1].hash = c[1].compute_hash();
        let broken = check_order(&id, Some(&order), &c);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].sequence, Some(3), "{broken:?}");

        let mut c = chain(3);
        let order = anchored(&mut c);
        c.remove(1);
        assert_eq!(check_order(&id, Some(&order), &c)[0].sequence, Some(3));
    }

    #[test]
    fn a_deleted_tail_or_chain_and_an_orphan_chain_are_named() {
        let mut c = chain(3);
        let id = c[0].order_id;
        let order = anchored(&mut c);
        c.pop();
        let found = check_order(&id, Some(&order), &c);
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!(
                "order {id} sequence 2: the chain ends at record 2 but the order is at version 3: \
                 the records after 2 are missing"
            )]
        );
        assert_eq!(
            check_order(&id, Some(&order), &[])
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [format!(
                "order {id}: the order exists but has no audit records (its chain was deleted)"
            )]
        );
        let found = check_order(&id, None, &c);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .problem
                .starts_with("no order exists for this chain of 2 record(s)"),
            "{found:?}"
        );
    }

    #[test]
    fn only_reads_that_straddle_a_change_are_read_again() {
        let mut c = chain(3);
        let order = anchored(&mut c);
        let mut behind = order.clone();
        behind.version = 2;
        assert!(
            may_be_a_moving_read(Some(&behind), &c),
            "the order moved after it was read"
        );
        assert!(
            may_be_a_moving_read(None, &c),
            "the order was created after it was read"
        );
        let mut tampered = c.clone();
        tampered[2].reason = Some("edited".into());
        assert!(
            !may_be_a_moving_read(Some(&order), &tampered),
            "nothing moved: report it"
        );
    }
}
