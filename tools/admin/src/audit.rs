//! `verify-audit --all`: scans the whole audit table, groups the records by order and
//! verifies every order's hash chain (`shared::domain::verify_chain`, SPEC §8). Each
//! broken record is named with its order id, its sequence and what is wrong; any
//! break makes the command fail (exit 1), so a scheduled run or CI notices.
//!
//! A scan is not a snapshot, but records are only ever appended (a record N+1 is
//! written after record N), so a chain read while orders are moving is a valid
//! prefix, never a false break.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::aws::items::{PK, SK, audit_from_item};
use shared::domain::{AuditRecord, ChainBreak, OrderId, verify_chain};

/// One thing wrong with one record.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    /// The order id, or the item's key when the item cannot even be read.
    pub order: String,
    pub sequence: Option<u64>,
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sequence {
            Some(seq) => write!(f, "order {} sequence {seq}: {}", self.order, self.problem),
            None => write!(f, "order {}: {}", self.order, self.problem),
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub orders: usize,
    pub records: usize,
    pub broken: Vec<Broken>,
}

fn sequence_of(b: &ChainBreak) -> Option<u64> {
    match b {
        ChainBreak::Empty => None,
        ChainBreak::Gap { found, .. } => Some(*found),
        ChainBreak::BadLink { sequence }
        | ChainBreak::Altered { sequence }
        | ChainBreak::ForeignRecord { sequence, .. } => Some(*sequence),
    }
}

/// Every problem in one order's records (in sequence order): each record whose hash
/// does not match its content, and the first broken link of the chain when that is
/// something else (a gap, a record re-hashed by whoever edited it).
pub fn check_order(order: &OrderId, records: &[AuditRecord]) -> Vec<Broken> {
    let mut broken: Vec<Broken> = records
        .iter()
        .filter(|r| r.compute_hash() != r.hash)
        .map(|r| Broken {
            order: order.to_string(),
            sequence: Some(r.sequence),
            problem: ChainBreak::Altered { sequence: r.sequence }.to_string(),
        })
        .collect();
    if let Err(e) = verify_chain(records) {
        let sequence = sequence_of(&e);
        if !matches!(e, ChainBreak::Altered { .. }) || broken.is_empty() {
            broken.push(Broken {
                order: order.to_string(),
                sequence,
                problem: e.to_string(),
            });
        }
    }
    broken
}

fn key_text(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    let part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    format!("{} / {}", part(PK), part(SK))
}

/// Scans `table` and verifies every order's chain.
pub async fn verify_all(client: &Client, table: &str) -> anyhow::Result<Summary> {
    let mut chains: BTreeMap<OrderId, Vec<AuditRecord>> = BTreeMap::new();
    let mut summary = Summary::default();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
            .with_context(|| format!("scanning the audit table {table}"))?;
        for item in page.items() {
            summary.records += 1;
            match audit_from_item(item) {
                Ok(record) => chains.entry(record.order_id).or_default().push(record),
                Err(e) => summary.broken.push(Broken {
                    order: key_text(item),
                    sequence: None,
                    problem: format!("the record cannot be read: {e}"),
                }),
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    summary.orders = chains.len();
    for (order, mut records) in chains {
        records.sort_by_key(|r| r.sequence);
        summary.broken.extend(check_order(&order, &records));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{AuditEntry, GENESIS_HASH, Timestamp, TraderId};

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
                }
                .seal(seq, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn every_altered_record_is_named_with_its_sequence() {
        let mut c = chain(4);
        let id = c[0].order_id;
        assert!(check_order(&id, &c).is_empty());
        c[1].reason = Some("edited".into());
        c[3].actor = "mallory".into();
        let found: Vec<Option<u64>> = check_order(&id, &c).iter().map(|b| b.sequence).collect();
        assert_eq!(found, vec![Some(2), Some(4)]);
        assert!(
            check_order(&id, &c)[0]
                .to_string()
                .contains(&format!("order {id} sequence 2"))
        );
    }

    #[test]
    fn a_rehashed_edit_and_a_gap_are_named_too() {
        let mut c = chain(4);
        let id = c[0].order_id;
        c[1].reason = Some("edited".into());
        c[1].hash = c[1].compute_hash();
        let broken = check_order(&id, &c);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].sequence, Some(3), "{broken:?}");

        let mut c = chain(3);
        c.remove(1);
        assert_eq!(check_order(&id, &c)[0].sequence, Some(3));
    }
}
