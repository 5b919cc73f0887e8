//! What the counted calls bill: DynamoDB request units computed from item sizes
//! (the DynamoDB size rules: attribute names plus values; writes bill 1 WRU per KB,
//! transactional writes 2 per KB for every item in the transaction, condition checks
//! included; strongly consistent reads 1 RRU per 4 KB, eventually consistent half),
//! and EventBridge events (billed per entry in 64 KB chunks, not per PutEvents call).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::counter::Captured;

/// Size in bytes of one DynamoDB JSON attribute value (`{"S": ...}`, `{"N": ...}`...).
fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(n)) => number_size(n),
        ("B", Value::String(b)) => b.len() * 3 / 4,
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::len).sum(),
        ("NS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(number_size).sum(),
        ("BS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(|b| b.len() * 3 / 4).sum(),
        ("L", Value::Array(a)) => 3 + a.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 0,
    }
}

/// A number is stored as up to 38 significant digits, two per byte, plus one byte.
fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

/// Size in bytes of a DynamoDB JSON item.
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The key of an item of a table, as a lookup key.
pub type ItemRef = (String, String);

fn item_ref(table: &Value, key: &Value) -> ItemRef {
    (table.as_str().unwrap_or_default().to_owned(), key.to_string())
}

/// Items whose size a write bills but whose body the request does not carry
/// (updates, deletes, condition checks): looked up once the run is over.
pub fn items_to_look_up(captured: &[Captured]) -> Vec<(String, Map<String, Value>)> {
    let mut out = Vec::new();
    let mut push = |table: &Value, key: &Value| {
        if let (Some(t), Some(k)) = (table.as_str(), key.as_object()) {
            out.push((t.to_owned(), k.clone()));
        }
    };
    for c in captured {
        match c.op.1.as_str() {
            "UpdateItem" | "DeleteItem" => push(&c.request["TableName"], &c.request["Key"]),
            "TransactWriteItems" => {
                for t in c.request["TransactItems"].as_array().into_iter().flatten() {
                    for kind in ["Update", "Delete", "ConditionCheck"] {
                        push(&t[kind]["TableName"], &t[kind]["Key"]);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Billed units of some calls.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub wru: f64,
    pub rru: f64,
    pub events: f64,
}

impl Units {
    pub fn add(&mut self, o: Units) {
        self.wru += o.wru;
        self.rru += o.rru;
        self.events += o.events;
    }
}

fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Units billed by `captured`, sizing updated items by `sizes` (missing: 1 byte, the
/// minimum unit).
pub fn units(captured: &[Captured], sizes: &HashMap<ItemRef, usize>) -> Units {
    let size_of = |table: &Value, key: &Value| sizes.get(&item_ref(table, key)).copied().unwrap_or(1);
    let mut u = Units::default();
    for c in captured {
        let r = &c.request;
        let consistent = r["ConsistentRead"].as_bool().unwrap_or(false);
        match c.op.1.as_str() {
            "PutItem" => u.wru += write_units(r["Item"].as_object().map(item_size).unwrap_or(1)),
            "UpdateItem" | "DeleteItem" => u.wru += write_units(size_of(&r["TableName"], &r["Key"])),
            "GetItem" => {
                let size = c.response["Item"].as_object().map(item_size).unwrap_or(0);
                u.rru += read_units(size, consistent);
            }
            "Query" | "Scan" => {
                let size: usize = c.response["Items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .map(item_size)
                    .sum();
                u.rru += read_units(size, consistent);
            }
            "TransactWriteItems" => {
                for t in r["TransactItems"].as_array().into_iter().flatten() {
                    let size = if let Some(item) = t["Put"]["Item"].as_object() {
                        item_size(item)
                    } else {
                        ["Update", "Delete", "ConditionCheck"]
                            .iter()
                            .map(|k| &t[*k])
                            .find(|x| x.is_object())
                            .map(|x| size_of(&x["TableName"], &x["Key"]))
                            .unwrap_or(1)
                    };
                    u.wru += 2.0 * write_units(size);
                }
            }
            "PutEvents" => {
                for e in r["Entries"].as_array().into_iter().flatten() {
                    u.events += (e.to_string().len().div_ceil(64 * 1024)).max(1) as f64;
                }
            }
            _ => {}
        }
    }
    u
}

/// What kind of item a key names: its table's role and the leading segments of its
/// keys (`TRADER#…`/`ORDER#…` → `order`; an item keyed by anything but a trader, by
/// its partition key's first segment), so the write units can be told by item.
pub fn item_kind(table: &Value, key: &Value) -> String {
    let table = table.as_str().unwrap_or_default();
    if table.to_lowercase().contains("audit") {
        // Its sort key is the record's sequence: the order's version it records.
        let seq = key["SK"]["S"].as_str().unwrap_or_default().trim_start_matches('0');
        return format!("audit record, version {seq}");
    }
    let part = |k: &str| {
        key[k]["S"]
            .as_str()
            .unwrap_or_default()
            .split('#')
            .next()
            .unwrap_or_default()
            .to_lowercase()
    };
    let sk = key["SK"]["S"].as_str().unwrap_or_default();
    match (part("PK").as_str(), sk) {
        (_, "ACCOUNT") => "account".into(),
        (_, sk) if sk.starts_with("ACCOUNT#POS#") => "position".into(),
        (_, sk) if sk.starts_with("ACCOUNT#NOTIONAL") => "notional window".into(),
        ("trader", _) => part("SK"),
        (pk, _) => pk.to_owned(),
    }
}

/// The key attributes of an item (`PK`, `SK`) as a key object.
fn key_of(item: &Value) -> Value {
    serde_json::json!({ "PK": item["PK"], "SK": item["SK"] })
}

/// Write units by item kind and by how they were written (`true`: inside a
/// transaction), with the number of items: where the write units go.
pub fn write_units_by_item(
    captured: &[Captured],
    sizes: &HashMap<ItemRef, usize>,
) -> std::collections::BTreeMap<(String, bool), (f64, f64)> {
    let size_of = |table: &Value, key: &Value| sizes.get(&item_ref(table, key)).copied().unwrap_or(1);
    let mut out: std::collections::BTreeMap<(String, bool), (f64, f64)> = Default::default();
    let mut add = |kind: String, txn: bool, wru: f64| {
        let e = out.entry((kind, txn)).or_default();
        e.0 += wru;
        e.1 += 1.0;
    };
    for c in captured {
        let r = &c.request;
        match c.op.1.as_str() {
            "PutItem" => {
                let size = r["Item"].as_object().map(item_size).unwrap_or(1);
                add(
                    item_kind(&r["TableName"], &key_of(&r["Item"])),
                    false,
                    write_units(size),
                );
            }
            "UpdateItem" | "DeleteItem" => add(
                item_kind(&r["TableName"], &r["Key"]),
                false,
                write_units(size_of(&r["TableName"], &r["Key"])),
            ),
            "TransactWriteItems" => {
                for t in r["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(item) = t["Put"]["Item"].as_object() {
                        let kind = item_kind(&t["Put"]["TableName"], &key_of(&t["Put"]["Item"]));
                        add(kind, true, 2.0 * write_units(item_size(item)));
                    } else if let Some(x) = ["Update", "Delete", "ConditionCheck"]
                        .iter()
                        .map(|k| &t[*k])
                        .find(|x| x.is_object())
                    {
                        let kind = item_kind(&x["TableName"], &x["Key"]);
                        add(kind, true, 2.0 * write_units(size_of(&x["TableName"], &x["Key"])));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A global secondary index of a table: its name, its key attributes, and the
/// attributes it projects (`None`: all of them).
#[derive(Clone, Debug)]
pub struct Index {
    pub name: String,
    pub keys: Vec<String>,
    pub projects: Option<Vec<String>>,
}

impl Index {
    /// The item as this index holds it, if the item is in it (sparse: every key
    /// attribute present).
    fn entry(&self, item: &Map<String, Value>, table_keys: &[String]) -> Option<Map<String, Value>> {
        if !self.keys.iter().all(|k| item.contains_key(k)) {
            return None;
        }
        Some(match &self.projects {
            None => item.clone(),
            Some(attrs) => item
                .iter()
                .filter(|(k, _)| self.keys.contains(k) || table_keys.contains(k) || attrs.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Write units this index bills for one change of an item (DynamoDB's rules: an
    /// item entering or leaving the index is one write; a change of the index's key
    /// is two, the old entry's delete and the new one's put; a change of projected
    /// attributes only is one, sized by the larger entry; nothing projected changed,
    /// none), and the number of index writes.
    pub fn change_units(
        &self,
        old: Option<&Map<String, Value>>,
        new: Option<&Map<String, Value>>,
        table_keys: &[String],
    ) -> (f64, f64) {
        let old = old.and_then(|i| self.entry(i, table_keys));
        let new = new.and_then(|i| self.entry(i, table_keys));
        match (old, new) {
            (None, None) => (0.0, 0.0),
            (Some(e), None) | (None, Some(e)) => (write_units(item_size(&e)), 1.0),
            (Some(o), Some(n)) if self.keys.iter().any(|k| o.get(k) != n.get(k)) => {
                (write_units(item_size(&o)) + write_units(item_size(&n)), 2.0)
            }
            (Some(o), Some(n)) if o != n => (write_units(item_size(&o).max(item_size(&n))), 1.0),
            _ => (0.0, 0.0),
        }
    }
}

/// Write units the indexes bill for the changes of a stream's records (Lambda's
/// DynamoDB stream event records, with old and new images), by index: (WRU, writes).
pub fn index_units(
    indexes: &[Index],
    table_keys: &[String],
    records: &[Value],
) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for r in records {
        let old = r["dynamodb"]["OldImage"].as_object();
        let new = r["dynamodb"]["NewImage"].as_object();
        for ix in indexes {
            let (wru, writes) = ix.change_units(old, new, table_keys);
            if writes > 0.0 {
                let e = out.entry(ix.name.clone()).or_default();
                e.0 += wru;
                e.1 += writes;
            }
        }
    }
    out
}

/// Records a looked-up item's size under its reference.
pub fn remember(sizes: &mut HashMap<ItemRef, usize>, table: &str, key: &Map<String, Value>, size: usize) {
    sizes.insert(
        item_ref(&Value::String(table.to_owned()), &Value::Object(key.clone())),
        size,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_the_dynamodb_rules() {
        let item = json!({"PK": {"S": "TRADER#a"}, "n": {"N": "12345"}, "ok": {"BOOL": true}});
        // 2 + 8, 1 + (3 digits-pairs + 1), 2 + 1
        assert_eq!(item_size(item.as_object().unwrap()), 10 + 5 + 3);
        assert_eq!(number_size("0.001"), 2);
    }

    #[test]
    fn an_index_bills_two_writes_when_its_key_changes_and_one_otherwise() {
        let ix = Index {
            name: "GSI1".into(),
            keys: vec!["GSI1PK".into(), "GSI1SK".into()],
            projects: None,
        };
        let keys = vec!["PK".to_owned(), "SK".to_owned()];
        let item = |status: &str, filled: &str| {
            json!({"PK": {"S": "T#a"}, "SK": {"S": "ORDER#1"}, "GSI1PK": {"S": status}, "GSI1SK": {"S": "ORDER#1"},
                "filled": {"N": filled}})
            .as_object()
            .cloned()
            .unwrap()
        };
        let (pending, submitted) = (item("PENDING", "0"), item("SUBMITTED", "0"));
        assert_eq!(ix.change_units(None, Some(&pending), &keys), (1.0, 1.0));
        assert_eq!(ix.change_units(Some(&pending), Some(&submitted), &keys), (2.0, 2.0));
        assert_eq!(
            ix.change_units(Some(&submitted), Some(&item("SUBMITTED", "5")), &keys),
            (1.0, 1.0)
        );
        assert_eq!(ix.change_units(Some(&submitted), Some(&submitted), &keys), (0.0, 0.0));
        // Not in the index (sparse): nothing.
        let other = json!({"PK": {"S": "T#a"}, "SK": {"S": "FILL#1"}})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(ix.change_units(None, Some(&other), &keys), (0.0, 0.0));
        // Keys only: a change of an attribute it does not project bills nothing.
        let keys_only = Index {
            projects: Some(Vec::new()),
            ..ix
        };
        assert_eq!(
            keys_only.change_units(Some(&submitted), Some(&item("SUBMITTED", "5")), &keys),
            (0.0, 0.0)
        );
    }

    #[test]
    fn a_transaction_bills_two_units_per_kb_of_every_item() {
        let big = "x".repeat(1500);
        let captured = Captured {
            op: ("dynamodb".into(), "TransactWriteItems".into()),
            request: json!({"TransactItems": [
                {"Put": {"TableName": "t", "Item": {"PK": {"S": big}}}},
                {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "a"}}}},
            ]}),
            response: Value::Null,
        };
        let u = units(&[captured], &HashMap::new());
        assert_eq!(u.wru, 2.0 * 2.0 + 2.0);
    }
}
