// Long because: one decoder per item kind the orders and audit streams carry, sharing the image conversion, with their tests.
//! Records of the orders table's DynamoDB stream (as Lambda delivers them) decoded
//! into the publish use case's input. Only order items (`SK` = `ORDER#<id>`) are
//! changes to publish; every other item kind is skipped here. Images are turned
//! into the SDK's attribute maps and read by `items::order_from_item`, the one
//! order decoder. Two other item kinds become events of their own: an account item
//! whose trading state changed (`trading_state_change`) and an operator record of the
//! reconciliation sweep when it is written (`reconciliation`). Records of the audit
//! table's stream are decoded by `audit_change` for the archive function (the
//! write-once copy).

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;

use super::items::{
    ACCOUNT_SK, AUDIT_SEQ, Item, PK, SK, archive_entry, attention_from_item, order_from_item, trading_state_from_item,
};
use crate::domain::Order;
use crate::domain::{ChangeKind, OrderChange, TraderId};
use crate::ports::{ArchiveEntry, AttentionKind, ReconciliationEvent, TradingStateEvent};

/// Order items' sort key prefix.
const ORDER_PREFIX: &str = "ORDER#";

/// A record of an order item that cannot be read. Retrying will not help: the
/// caller reports the record failed (so it is never skipped) and logs why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream record {sequence_number}: {detail}")]
pub struct UnreadableRecord {
    pub sequence_number: String,
    pub detail: String,
}

/// The record's sequence number: the `itemIdentifier` of a partial batch failure.
pub fn sequence_number(record: &EventRecord) -> &str {
    record.change.sequence_number.as_deref().unwrap_or_default()
}

/// The order change a record carries; `None` for a record of another item kind.
pub fn order_change(record: &EventRecord) -> Result<Option<OrderChange>, UnreadableRecord> {
    let bad = |detail: String| UnreadableRecord {
        sequence_number: sequence_number(record).to_owned(),
        detail,
    };
    let keys = image(&record.change.keys).map_err(&bad)?;
    let new = image(&record.change.new_image).map_err(&bad)?;
    let old = image(&record.change.old_image).map_err(&bad)?;
    let sort_key = [&keys, &new, &old].into_iter().find_map(|i| match i.get(SK) {
        Some(AttributeValue::S(sk)) => Some(sk.as_str()),
        _ => None,
    });
    if !sort_key.is_some_and(|sk| sk.starts_with(ORDER_PREFIX)) {
        return Ok(None);
    }
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        other => return Err(bad(format!("unknown eventName `{other}`"))),
    };
    let decode = |item: &Item, which: &str| -> Result<Option<Order>, UnreadableRecord> {
        if item.is_empty() {
            return Ok(None);
        }
        order_from_item(item)
            .map(Some)
            .map_err(|e| bad(format!("{which}: {e}")))
    };
    let change = OrderChange {
        sequence_number: sequence_number(record).to_owned(),
        kind,
        old: decode(&old, "OldImage")?,
        new: decode(&new, "NewImage")?,
    };
    let missing = match kind {
        ChangeKind::Insert => change.new.is_none().then_some("an INSERT without NewImage"),
        ChangeKind::Modify if change.old.is_none() || change.new.is_none() => Some("a MODIFY without both images"),
        _ => None,
    };
    match missing {
        Some(what) => Err(bad(format!("{what}: the stream must carry NEW_AND_OLD_IMAGES"))),
        None => Ok(Some(change)),
    }
}

/// A record of the audit table's stream (keys and new images).
#[derive(Clone, Debug, PartialEq)]
pub enum AuditChange {
    /// A record appended: what the write-once copy keeps.
    Appended(ArchiveEntry),
    /// A record modified or removed in place, which the table's policies forbid: it
    /// happened anyway (someone with the power to lift them). The copy keeps the
    /// original; the archive function raises it as an alarm.
    Tampered {
        event: String,
        chain: String,
        position: String,
    },
}

/// The audit change a record of the audit table's stream carries.
pub fn audit_change(record: &EventRecord) -> Result<AuditChange, UnreadableRecord> {
    let bad = |detail: String| UnreadableRecord {
        sequence_number: sequence_number(record).to_owned(),
        detail,
    };
    let keys = image(&record.change.keys).map_err(&bad)?;
    let key = |name: &str| match keys.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(bad(format!("the record's Keys have no string {name}"))),
    };
    match record.event_name.as_str() {
        "INSERT" => {
            let new = image(&record.change.new_image).map_err(&bad)?;
            if new.is_empty() {
                return Err(bad(
                    "an INSERT without NewImage: the audit stream must carry NEW_IMAGE".into()
                ));
            }
            archive_entry(&new)
                .map(AuditChange::Appended)
                .map_err(|e| bad(format!("NewImage: {e}")))
        }
        "MODIFY" | "REMOVE" => Ok(AuditChange::Tampered {
            event: record.event_name.clone(),
            chain: key(PK)?,
            position: key(SK)?,
        }),
        other => Err(bad(format!("unknown eventName `{other}`"))),
    }
}

/// The trading state change a record of an account item carries (issue 19): the
/// trading state differs between the old and new images (absent: `active`). The
/// deployment's state is on an account item whose trader id starts with `@` (its
/// principal; no trader's id does). `None` for any other record.
pub fn trading_state_change(record: &EventRecord) -> Result<Option<TradingStateEvent>, UnreadableRecord> {
    let bad = |detail: String| UnreadableRecord {
        sequence_number: sequence_number(record).to_owned(),
        detail,
    };
    let new = image(&record.change.new_image).map_err(&bad)?;
    if !matches!(new.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK) {
        return Ok(None);
    }
    let old = image(&record.change.old_image).map_err(&bad)?;
    let state = |i: &Item| trading_state_from_item(i).map_err(|e| bad(e.to_string()));
    let (before, after) = (state(&old)?, state(&new)?);
    if before == after {
        return Ok(None);
    }
    let trader = match new.get(PK) {
        Some(AttributeValue::S(pk)) => pk.strip_prefix("TRADER#").and_then(|t| TraderId::parse(t).ok()),
        _ => None,
    }
    .ok_or_else(|| bad("an account item without a TRADER# key".into()))?;
    let audit_sequence = match new.get(AUDIT_SEQ) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| bad(format!("{AUDIT_SEQ} is not a number")))?,
        _ => 0,
    };
    let deployment = trader.as_str().starts_with('@');
    Ok(Some(TradingStateEvent {
        scope: if deployment { "deployment" } else { "trader" }.to_owned(),
        trader_id: (!deployment).then_some(trader),
        previous_state: before,
        state: after,
        audit_sequence,
    }))
}

/// The `Order Reconciled` event of a record that inserts an operator record of the
/// reconciliation sweep (`OPS#reconciliation#<day>`, written in the same transaction
/// as the correction it describes, or on its own for a mismatch left for an
/// operator): so each record is published once it is committed, and only then.
/// `None` for any other record, including the record's later removal by TTL. A
/// record that cannot be read is reported, as an unreadable order is.
pub fn reconciliation(record: &EventRecord) -> Result<Option<ReconciliationEvent>, UnreadableRecord> {
    let bad = |detail: String| UnreadableRecord {
        sequence_number: sequence_number(record).to_owned(),
        detail,
    };
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    // The keys first (two attributes): most records are orders' and stop here.
    let keys = image(&record.change.keys).map_err(&bad)?;
    let prefix = format!("OPS#{}#", AttentionKind::Reconciliation.as_str());
    if !matches!(keys.get(PK), Some(AttributeValue::S(pk)) if pk.starts_with(&prefix)) {
        return Ok(None);
    }
    let new = image(&record.change.new_image).map_err(&bad)?;
    if new.is_empty() {
        return Err(bad(
            "an INSERT of a reconciliation record without NewImage: the stream must carry NEW_AND_OLD_IMAGES".into(),
        ));
    }
    let found = attention_from_item(&new).map_err(|e| bad(format!("NewImage: {e}")))?;
    match ReconciliationEvent::of(&found) {
        Ok(Some(event)) => Ok(Some(event)),
        Ok(None) => Err(bad(format!(
            "a record of kind `{}` under a reconciliation key",
            found.kind.as_str()
        ))),
        Err(field) => Err(bad(format!("NewImage: a reconciliation record without `{field}`"))),
    }
}

/// A stream image (DynamoDB JSON, `{"S": "..."}` per attribute) as an SDK item.
fn image(image: &impl Serialize) -> Result<Item, String> {
    match serde_json::to_value(image).map_err(|e| e.to_string())? {
        Value::Null => Ok(Item::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(name, v)| {
                attribute(&v)
                    .map(|a| (name.clone(), a))
                    .map_err(|e| format!("`{name}`: {e}"))
            })
            .collect(),
        other => Err(format!("an image is not a map: {other}")),
    }
}

fn attribute(v: &Value) -> Result<AttributeValue, String> {
    let Some((tag, inner)) = v.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
        return Err(format!("not a typed attribute value: {v}"));
    };
    let text = |x: &Value| {
        x.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{tag} is not a string"))
    };
    let texts = |x: &Value| -> Result<Vec<String>, String> {
        x.as_array()
            .ok_or_else(|| format!("{tag} is not a list"))?
            .iter()
            .map(text)
            .collect()
    };
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(text(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL is not a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().unwrap_or(true)),
        "SS" => AttributeValue::Ss(texts(inner)?),
        "NS" => AttributeValue::Ns(texts(inner)?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or("L is not a list")?
                .iter()
                .map(attribute)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(
            inner
                .as_object()
                .ok_or("M is not a map")?
                .iter()
                .map(|(k, x)| attribute(x).map(|a| (k.clone(), a)))
                .collect::<Result<HashMap<_, _>, _>>()?,
        ),
        // Order items hold no binary attributes; nothing here needs to read one.
        other => return Err(format!("attribute type {other} is not read from the stream")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::aws::items::order_to_item;
    use crate::domain::{OrderId, OrderStatus, Timestamp, TraderId, validate_order};
    use aws_lambda_events::event::dynamodb::Event;
    use rust_decimal::Decimal;

    fn json_of(item: &Item) -> Value {
        let attr = |a: &AttributeValue| match a {
            AttributeValue::S(s) => serde_json::json!({ "S": s }),
            AttributeValue::N(n) => serde_json::json!({ "N": n }),
            AttributeValue::Bool(b) => serde_json::json!({ "BOOL": b }),
            other => panic!("unexpected {other:?}"),
        };
        Value::Object(item.iter().map(|(k, v)| (k.clone(), attr(v))).collect())
    }

    fn record(name: &str, keys: Value, old: Option<Value>, new: Option<Value>) -> EventRecord {
        let mut dynamodb = serde_json::json!({"ApproximateCreationDateTime": 1.7e9, "Keys": keys,
            "SequenceNumber": "42", "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"});
        if let Some(o) = old {
            dynamodb["OldImage"] = o;
        }
        if let Some(n) = new {
            dynamodb["NewImage"] = n;
        }
        let event = serde_json::json!({"Records": [{"eventID": "e", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": dynamodb}]});
        let mut parsed: Event = serde_json::from_value(event).unwrap();
        parsed.records.remove(0)
    }

    fn order() -> Order {
        let body = serde_json::json!({"symbol": "MSFT", "side": "sell", "type": "market", "quantity": "3.5"});
        let draft = validate_order(&body).unwrap();
        let mut o = Order::pending(
            OrderId::new(),
            TraderId::parse("bob").unwrap(),
            draft,
            Decimal::ZERO,
            Timestamp::now(),
        );
        o.audit_head = "cd".repeat(32);
        o
    }

    #[test]
    fn an_order_modify_decodes_both_images_with_the_items_decoder() {
        let old = order();
        let mut new = old.clone();
        new.status = OrderStatus::Submitted;
        new.version += 1;
        let (oi, ni) = (order_to_item(&old), order_to_item(&new));
        let keys = serde_json::json!({"PK": {"S": "TRADER#bob"}, "SK": {"S": format!("ORDER#{}", old.order_id)}});
        let r = record("MODIFY", keys, Some(json_of(&oi)), Some(json_of(&ni)));
        let change = order_change(&r).unwrap().unwrap();
        assert_eq!(change.kind, ChangeKind::Modify);
        assert_eq!(change.sequence_number, "42");
        assert_eq!((change.old, change.new), (Some(old), Some(new)));
    }

    #[test]
    fn other_items_are_skipped_and_a_broken_order_is_named() {
        let keys = serde_json::json!({"PK": {"S": "TRADER#bob"}, "SK": {"S": "ACCOUNT"}});
        let r = record("MODIFY", keys, Some(serde_json::json!({"cash": {"N": "1"}})), None);
        assert_eq!(order_change(&r), Ok(None));

        let mut item = order_to_item(&order());
        item.remove("version");
        let keys = serde_json::json!({"PK": {"S": "TRADER#bob"}, "SK": {"S": "ORDER#x"}});
        let err = order_change(&record("INSERT", keys, None, Some(json_of(&item)))).unwrap_err();
        assert_eq!(err.sequence_number, "42");
        assert!(err.detail.contains("`version`"), "{}", err.detail);
    }

    #[test]
    fn nested_attribute_values_convert() {
        let v =
            serde_json::json!({"M": {"a": {"L": [{"N": "1"}, {"NULL": true}, {"BOOL": false}]}, "b": {"SS": ["x"]}}});
        let a = attribute(&v).unwrap();
        let AttributeValue::M(m) = a else { panic!("{a:?}") };
        assert_eq!(m["b"], AttributeValue::Ss(vec!["x".into()]));
        assert_eq!(
            m["a"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::Null(true),
                AttributeValue::Bool(false)
            ])
        );
        assert!(attribute(&serde_json::json!({"B": "AA=="})).is_err());
    }

    fn finding(kind: AttentionKind, corrected: bool) -> crate::ports::Attention {
        let at = Timestamp::parse("2026-11-28T04:05:06.789Z").unwrap();
        crate::ports::Attention {
            kind,
            trader_id: TraderId::parse("bob").unwrap(),
            order_id: OrderId::new(),
            at,
            from_status: OrderStatus::CancelRequested,
            to_status: if corrected {
                OrderStatus::Cancelled
            } else {
                OrderStatus::CancelRequested
            },
            venue_status: Some("canceled".into()),
            venue_order_id: Some("v-1".into()),
            reason: "The venue reports the order canceled".into(),
            corrected,
        }
    }

    fn inserted(item: &Item) -> EventRecord {
        let keys = serde_json::json!({"PK": json_of(item)["PK"], "SK": json_of(item)["SK"]});
        record("INSERT", keys, None, Some(json_of(item)))
    }

    #[test]
    fn an_inserted_reconciliation_record_is_its_event_with_the_records_position_as_dedupe_key() {
        use crate::adapters::aws::items::attention_to_item;
        for corrected in [true, false] {
            let a = finding(AttentionKind::Reconciliation, corrected);
            let event = reconciliation(&inserted(&attention_to_item(&a))).unwrap().unwrap();
            assert_eq!(
                event,
                ReconciliationEvent {
                    reconciliation_id: format!("1795838706789#{}", a.order_id),
                    order_id: a.order_id,
                    trader_id: a.trader_id.clone(),
                    venue_order_id: "v-1".into(),
                    venue_status: "canceled".into(),
                    from_status: a.from_status,
                    to_status: a.to_status,
                    corrected,
                    reason: a.reason.clone(),
                    at: a.at,
                }
            );
            // Not an order change: the order's own item carries its status event.
            assert_eq!(order_change(&inserted(&attention_to_item(&a))), Ok(None));
        }
    }

    #[test]
    fn stalls_markers_removals_and_orders_are_not_reconciliations() {
        use crate::adapters::aws::items::{attention_once_item, attention_to_item};
        let a = finding(AttentionKind::Reconciliation, true);
        let stalled = finding(AttentionKind::Stalled, false);
        assert_eq!(reconciliation(&inserted(&attention_to_item(&stalled))), Ok(None));
        assert_eq!(reconciliation(&inserted(&attention_once_item(&a, "x#books"))), Ok(None));
        let item = attention_to_item(&a);
        let keys = serde_json::json!({"PK": json_of(&item)["PK"], "SK": json_of(&item)["SK"]});
        // Removed by TTL 30 days later: nothing to announce.
        assert_eq!(
            reconciliation(&record("REMOVE", keys, Some(json_of(&item)), None)),
            Ok(None)
        );
        let o = order();
        let keys = serde_json::json!({"PK": {"S": "TRADER#bob"}, "SK": {"S": format!("ORDER#{}", o.order_id)}});
        let r = record("INSERT", keys, None, Some(json_of(&order_to_item(&o))));
        assert_eq!(reconciliation(&r), Ok(None));
    }

    #[test]
    fn a_broken_reconciliation_record_is_reported_with_what_it_lacks() {
        use crate::adapters::aws::items::attention_to_item;
        let a = finding(AttentionKind::Reconciliation, true);
        for (field, needle) in [
            ("reason", "`reason`"),
            ("venue_order_id", "`venue_order_id`"),
            ("corrected", "corrected"),
        ] {
            let mut item = attention_to_item(&a);
            item.remove(field);
            let err = reconciliation(&inserted(&item)).unwrap_err();
            assert_eq!(err.sequence_number, "42");
            assert!(err.detail.contains(needle), "{field}: {}", err.detail);
        }
        let mut item = attention_to_item(&a);
        item.insert("kind".into(), AttributeValue::S("stalled".into()));
        let err = reconciliation(&inserted(&item)).unwrap_err();
        assert!(
            err.detail.contains("`stalled` under a reconciliation key"),
            "{}",
            err.detail
        );
    }
}
