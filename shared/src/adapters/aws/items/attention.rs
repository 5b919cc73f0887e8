//! Operators' records (`ports::Attention`) in the orders table:
//! `OPS#<kind>#<yyyy-mm-dd>` / `<13-digit unix ms>#<order id>` (a Query of one
//! partition lists a day's records of a kind in time order), removed by TTL after
//! `Attention::LIFETIME_SECS`. A mismatch recorded once a day has a marker
//! `OPSONCE#<yyyy-mm-dd>` / `<once key>`. Neither starts its sort key with `ORDER#`, so
//! the stream's consumers (publish, fan-out) pass over them.

use time::Date;

use super::keys::*;
use super::reader::{Reader, corrupt, put_opt};
use crate::ports::{Attention, AttentionKind, StoreError};

pub fn attention_pk(kind: AttentionKind, day: Date) -> String {
    format!("OPS#{}#{day}", kind.as_str())
}

/// The marker of `once` on the record's day (kept as long as the record).
pub fn attention_once_item(a: &Attention, once: &str) -> Item {
    let mut item = key(format!("OPSONCE#{}", a.day()), once.to_owned());
    item.insert(EXPIRES_AT.into(), n(a.at.unix_seconds() + Attention::LIFETIME_SECS));
    item
}

pub fn attention_to_item(a: &Attention) -> Item {
    let mut item = key(attention_pk(a.kind, a.day()), a.position());
    item.insert("kind".into(), s(a.kind.as_str()));
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("order_id".into(), s(a.order_id.to_string()));
    item.insert("at".into(), s(a.at.to_string()));
    item.insert("from_status".into(), s(a.from_status.as_str()));
    item.insert("to_status".into(), s(a.to_status.as_str()));
    put_opt(&mut item, "venue_status", a.venue_status.clone().map(s));
    put_opt(&mut item, "venue_order_id", a.venue_order_id.clone().map(s));
    item.insert("reason".into(), s(a.reason.clone()));
    item.insert(
        "corrected".into(),
        aws_sdk_dynamodb::types::AttributeValue::Bool(a.corrected),
    );
    item.insert(EXPIRES_AT.into(), n(a.at.unix_seconds() + Attention::LIFETIME_SECS));
    item
}

pub fn attention_from_item(item: &Item) -> Result<Attention, StoreError> {
    const WHAT: &str = "operator record";
    let r = Reader::new(item, WHAT);
    let kind = AttentionKind::parse(r.str("kind")?).ok_or_else(|| corrupt(WHAT, "kind"))?;
    Ok(Attention {
        kind,
        trader_id: r.parse("trader_id")?,
        order_id: r.parse("order_id")?,
        at: r.time("at")?,
        from_status: r.parse("from_status")?,
        to_status: r.parse("to_status")?,
        venue_status: r.opt_str("venue_status").map(str::to_owned),
        venue_order_id: r.opt_str("venue_order_id").map(str::to_owned),
        reason: r.str("reason")?.to_owned(),
        corrected: match item.get("corrected") {
            Some(aws_sdk_dynamodb::types::AttributeValue::Bool(b)) => *b,
            _ => return Err(corrupt(WHAT, "corrected")),
        },
    })
}
