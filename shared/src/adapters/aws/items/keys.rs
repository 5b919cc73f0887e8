//! Keys of the orders and audit tables, and the attribute value helpers every item uses.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::reader::Reader;
use crate::domain::{
    ClientOrderId, IdempotencyKey, NotionalEntry, NotionalWindow, OrderId, OrderStatus, Symbol, Timestamp, TraderId,
};
use crate::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const ACCOUNT_SK: &str = "ACCOUNT";
pub const POSITION_PREFIX: &str = "ACCOUNT#POS#";

pub fn trader_pk(t: &TraderId) -> String {
    format!("TRADER#{t}")
}
pub fn order_sk(id: &OrderId) -> String {
    format!("ORDER#{id}")
}
pub fn position_sk(symbol: &Symbol) -> String {
    format!("{POSITION_PREFIX}{symbol}")
}
pub fn fill_prefix(order: &OrderId) -> String {
    format!("FILL#{order}#")
}
pub fn status_pk(t: &TraderId, status: OrderStatus) -> String {
    format!("TRADER#{t}#{status}")
}
pub fn idempotency_sk(key: &IdempotencyKey) -> String {
    format!("IDEMP#{key}")
}
pub fn client_order_sk(c: &ClientOrderId) -> String {
    format!("CLIENT#{c}")
}
/// The client order id item: which order of the trader last took this id.
pub fn client_order_to_item(trader: &TraderId, c: &ClientOrderId, order: &OrderId) -> Item {
    let mut item = key(trader_pk(trader), client_order_sk(c));
    item.insert("order_id".into(), s(order.to_string()));
    item
}
pub fn client_order_from_item(item: &Item) -> Result<OrderId, StoreError> {
    Reader::new(item, "client order id").parse("order_id")
}
/// Duplicate detection's item of an order fingerprint (its SHA-256: fingerprints hold
/// symbols and prices, keys stay short and fixed).
pub fn duplicate_sk(fingerprint: &str) -> String {
    format!("DUP#{}", crate::domain::sha256_hex(fingerprint.as_bytes()))
}
/// The item names the latest order with the fingerprint, when it was placed, and until
/// when (ms) it refuses another; TTL removes it a day after that.
pub fn duplicate_to_item(
    trader: &TraderId,
    fingerprint: &str,
    order: &OrderId,
    placed_at: Timestamp,
    window_secs: u32,
) -> Item {
    let until = placed_at.plus_seconds(i64::from(window_secs));
    let mut item = key(trader_pk(trader), duplicate_sk(fingerprint));
    item.insert("order_id".into(), s(order.to_string()));
    item.insert("placed_at".into(), s(placed_at.to_string()));
    item.insert("until_ms".into(), n(until.unix_millis()));
    item.insert(EXPIRES_AT.into(), n(until.unix_seconds() + 86_400));
    item
}
pub fn duplicate_from_item(item: &Item) -> Result<(OrderId, Timestamp), StoreError> {
    let r = Reader::new(item, "duplicate fingerprint");
    Ok((r.parse("order_id")?, r.time("placed_at")?))
}
/// The trader's rolling-minute notional (`NotionalWindow`): one item, its entries as
/// `<unix ms>:<notional>` joined by `,`, and `ver`, the count of writes, which the
/// submit that writes it next conditions on. Its sort key starts with the account's,
/// so the `Query` that reads the account reads it too.
pub const NOTIONAL_SK: &str = "ACCOUNT#NOTIONAL";
pub fn notional_to_item(trader: &TraderId, w: &NotionalWindow) -> Item {
    let mut item = key(trader_pk(trader), NOTIONAL_SK.into());
    let entries: Vec<String> = w
        .entries()
        .iter()
        .map(|e| format!("{}:{}", e.at_ms, e.notional))
        .collect();
    item.insert("entries".into(), s(entries.join(",")));
    item.insert("ver".into(), n(w.version + 1));
    // Nothing in it counts a minute after its newest entry; TTL removes it a day later.
    let newest = w.entries().iter().map(|e| e.at_ms).max().unwrap_or_default();
    item.insert(EXPIRES_AT.into(), n(newest / 1000 + 86_400));
    item
}
pub fn notional_from_item(item: &Item) -> Result<NotionalWindow, StoreError> {
    let r = Reader::new(item, "notional window");
    let bad = || super::reader::corrupt("notional window", "entries");
    let entries = match r.str("entries")? {
        "" => Vec::new(),
        raw => raw
            .split(',')
            .map(|e| {
                let (at, notional) = e.split_once(':').ok_or_else(bad)?;
                Ok(NotionalEntry {
                    at_ms: at.parse().map_err(|_| bad())?,
                    notional: notional.parse().map_err(|_| bad())?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    };
    Ok(NotionalWindow::new(entries, r.u64("ver")?))
}
pub fn rate_sk(window_start: i64) -> String {
    format!("RATE#{window_start}")
}
/// The TTL attribute of the orders table (idempotency records, rate counters).
pub const EXPIRES_AT: &str = "expires_at";
/// The minute of an order's last change, the `TraderChanges` index's range key.
pub const CHANGED_MINUTE: &str = "changed_minute";
/// `t` cut to its minute, as `changed_minute` holds it: `2026-11-27T10:00` (RFC 3339's
/// first 16 characters, so text order is time order).
pub fn changed_minute(t: Timestamp) -> String {
    let text = t.to_string();
    text.get(..16).unwrap_or(&text).to_owned()
}
pub fn audit_pk(order: &OrderId) -> String {
    format!("ORDER#{order}")
}
/// The chain of an account's operator changes (`AccountAuditRecord`).
pub fn account_audit_pk(trader: &TraderId) -> String {
    format!("ACCOUNT#{trader}")
}
/// Attributes of the account item that anchor its operator chain.
pub const AUDIT_SEQ: &str = "audit_seq";
pub const AUDIT_HEAD: &str = "audit_head";
/// The trading state attribute (controls): on an account item (the trader's own, or
/// the deployment principal's) and on the deployment's state shards.
pub const TRADING_STATE: &str = "trading_state";
/// How many copies of the deployment's trading state submits check. Every submit's
/// transaction carries a `ConditionCheck` on one of them (by trader), and DynamoDB
/// makes two transactions that hold the same item conflict (TransactionConflict),
/// so one item would serialize every submit of the deployment; a change writes all of
/// them in one transaction (with the principal's item and audit record: 18 of the 100
/// items a transaction may hold), so after its commit every copy says the same.
pub const DEPLOYMENT_STATE_SHARDS: u32 = 16;
/// The deployment state shard submits of `trader` check.
pub fn deployment_state_sk(trader: &TraderId) -> String {
    // FNV-1a: stable across builds and processes (std's hasher is randomly keyed).
    let hash = trader.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    trading_shard_sk((hash % u64::from(DEPLOYMENT_STATE_SHARDS)) as u32)
}
pub fn trading_shard_sk(shard: u32) -> String {
    format!("TRADING#{shard:02}")
}

pub fn audit_sk(sequence: u64) -> String {
    format!("{sequence:020}")
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
