//! Audit items (orders' and accounts' chains, the account's anchor) and the write-once
//! copy's view of them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::keys::*;
use super::reader::{Reader, put_opt};
use crate::domain::{AccountAnchor, AccountAuditRecord, AuditRecord, IdempotencyKey};
use crate::ports::{ArchiveEntry, StoreError};

pub fn audit_to_item(a: &AuditRecord) -> Item {
    let mut item = key(audit_pk(&a.order_id), audit_sk(a.sequence));
    item.insert("order_id".into(), s(a.order_id.to_string()));
    item.insert("sequence".into(), n(a.sequence));
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("actor".into(), s(a.actor.clone()));
    item.insert("action".into(), s(a.action.clone()));
    item.insert("at".into(), s(a.at.to_string()));
    // Snapshots are stored as JSON text so they read back byte for byte; a record of
    // changes stores them instead (its snapshots are rebuilt from the chain).
    match &a.changes {
        Some(c) => {
            item.insert("changes".into(), s(c.to_string()));
        }
        None => {
            put_opt(&mut item, "before", a.before.as_ref().map(|v| s(v.to_string())));
            put_opt(&mut item, "after", a.after.as_ref().map(|v| s(v.to_string())));
        }
    }
    put_opt(&mut item, "reason", a.reason.clone().map(s));
    put_opt(&mut item, "request_id", a.request_id.clone().map(s));
    put_opt(
        &mut item,
        "idempotency_key",
        a.idempotency_key.as_ref().map(|k| s(k.as_str())),
    );
    item.insert("prev_hash".into(), s(a.prev_hash.clone()));
    item.insert("hash".into(), s(a.hash.clone()));
    item
}

pub fn audit_from_item(item: &Item) -> Result<AuditRecord, StoreError> {
    let r = Reader::new(item, "audit record");
    Ok(AuditRecord {
        order_id: r.parse("order_id")?,
        sequence: r.u64("sequence")?,
        trader_id: r.parse("trader_id")?,
        actor: r.str("actor")?.to_owned(),
        action: r.str("action")?.to_owned(),
        at: r.time("at")?,
        before: r.json("before")?,
        after: r.json("after")?,
        reason: r.opt_str("reason").map(str::to_owned),
        request_id: r.opt_str("request_id").map(str::to_owned),
        idempotency_key: r.opt_parse::<IdempotencyKey>("idempotency_key")?,
        prev_hash: r.str("prev_hash")?.to_owned(),
        hash: r.str("hash")?.to_owned(),
        changes: r.json("changes")?,
    })
}

pub fn account_audit_to_item(a: &AccountAuditRecord) -> Item {
    let mut item = key(account_audit_pk(&a.trader_id), audit_sk(a.sequence));
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("sequence".into(), n(a.sequence));
    item.insert("actor".into(), s(a.actor.clone()));
    item.insert("action".into(), s(a.action.clone()));
    item.insert("at".into(), s(a.at.to_string()));
    put_opt(&mut item, "before", a.before.as_ref().map(|v| s(v.to_string())));
    put_opt(&mut item, "after", a.after.as_ref().map(|v| s(v.to_string())));
    item.insert("operation_id".into(), s(a.operation_id.clone()));
    item.insert("prev_hash".into(), s(a.prev_hash.clone()));
    item.insert("hash".into(), s(a.hash.clone()));
    item
}

pub fn account_audit_from_item(item: &Item) -> Result<AccountAuditRecord, StoreError> {
    let r = Reader::new(item, "account audit record");
    Ok(AccountAuditRecord {
        trader_id: r.parse("trader_id")?,
        sequence: r.u64("sequence")?,
        actor: r.str("actor")?.to_owned(),
        action: r.str("action")?.to_owned(),
        at: r.time("at")?,
        before: r.json("before")?,
        after: r.json("after")?,
        operation_id: r.str("operation_id")?.to_owned(),
        prev_hash: r.str("prev_hash")?.to_owned(),
        hash: r.str("hash")?.to_owned(),
    })
}

/// The anchor of an account's operator chain, from the account's items: `None` when
/// there is no account item, genesis when no operator change was recorded on it.
pub fn account_anchor_from_items(items: &[Item]) -> Result<Option<AccountAnchor>, StoreError> {
    let Some(acct) = items
        .iter()
        .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK))
    else {
        return Ok(None);
    };
    let r = Reader::new(acct, "account");
    if !acct.contains_key(AUDIT_SEQ) {
        return Ok(Some(AccountAnchor::genesis()));
    }
    Ok(Some(AccountAnchor {
        sequence: r.u64(AUDIT_SEQ)?,
        head: r.str(AUDIT_HEAD)?.to_owned(),
    }))
}

/// An item as DynamoDB JSON (`{"S": ...}`, `{"N": ...}`, ...), object keys sorted: the
/// same item always gives the same text, whether it came from the stream or a scan.
pub fn item_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

fn attribute_json(v: &AttributeValue) -> Value {
    use base64::Engine as _;
    let b64 =
        |b: &aws_sdk_dynamodb::primitives::Blob| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    let (tag, inner) = match v {
        AttributeValue::S(s) => ("S", Value::String(s.clone())),
        AttributeValue::N(n) => ("N", Value::String(n.clone())),
        AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
        AttributeValue::Null(_) => ("NULL", Value::Bool(true)),
        AttributeValue::B(b) => ("B", b64(b)),
        AttributeValue::Ss(ss) => ("SS", ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => ("NS", ns.iter().cloned().map(Value::String).collect()),
        AttributeValue::Bs(bs) => ("BS", bs.iter().map(b64).collect()),
        AttributeValue::L(l) => ("L", l.iter().map(attribute_json).collect()),
        AttributeValue::M(m) => ("M", item_json(m)),
        // A type newer than this SDK: kept as its debug text, so it still differs from
        // any other value.
        other => ("UNKNOWN", Value::String(format!("{other:?}"))),
    };
    serde_json::json!({ tag: inner })
}

/// An audit item (an order's, a refused submit's, or an account's record) as the
/// write-once copy keeps it.
pub fn archive_entry(item: &Item) -> Result<ArchiveEntry, StoreError> {
    let r = Reader::new(item, "audit record");
    Ok(ArchiveEntry {
        chain: r.str(PK)?.to_owned(),
        position: r.str(SK)?.to_owned(),
        at: r.time("at")?,
        hash: r.str("hash")?.to_owned(),
        item: item_json(item),
    })
}
