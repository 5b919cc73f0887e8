//! Sizes of the items the counted updates touched, read once the run is over
//! (uncounted): an update bills the size of the item it leaves.

use std::collections::HashMap;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::counter::Tally;
use crate::report::Phase;

/// A DynamoDB attribute value as DynamoDB JSON (what `units` sizes).
fn av_json(v: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let b64 = |b: &[u8]| "x".repeat(b.len().div_ceil(3) * 4);
    match v {
        A::S(s) => json!({ "S": s }),
        A::N(n) => json!({ "N": n }),
        A::B(b) => json!({ "B": b64(b.as_ref()) }),
        A::Bool(b) => json!({ "BOOL": b }),
        A::Null(_) => json!({ "NULL": true }),
        A::Ss(l) => json!({ "SS": l }),
        A::Ns(l) => json!({ "NS": l }),
        A::Bs(l) => json!({ "BS": l.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() }),
        A::L(l) => json!({ "L": l.iter().map(av_json).collect::<Vec<_>>() }),
        A::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), av_json(v))).collect::<serde_json::Map<_, _>>() }),
        _ => Value::Null,
    }
}

/// Sizes of the items that counted updates touched (read after the run, uncounted).
pub(super) async fn item_sizes(
    ddb: &aws_sdk_dynamodb::Client,
    phases: &[Phase],
) -> anyhow::Result<HashMap<crate::units::ItemRef, usize>> {
    let mut all = Tally::default();
    for p in phases {
        all.add(&p.calls);
    }
    let mut sizes = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for (table, key) in crate::units::items_to_look_up(&all.captured) {
        if !seen.insert((table.clone(), Value::Object(key.clone()).to_string())) {
            continue;
        }
        let mut get = ddb.get_item().table_name(&table);
        for (name, v) in &key {
            let av = match (v.get("S"), v.get("N")) {
                (Some(Value::String(s)), _) => aws_sdk_dynamodb::types::AttributeValue::S(s.clone()),
                (_, Some(Value::String(n))) => aws_sdk_dynamodb::types::AttributeValue::N(n.clone()),
                _ => bail!("unexpected key attribute {name} = {v} in {table}"),
            };
            get = get.key(name, av);
        }
        let size = match get.send().await.with_context(|| format!("GetItem {table}"))?.item {
            Some(item) => crate::units::item_size(&item.iter().map(|(k, v)| (k.clone(), av_json(v))).collect()),
            None => 1,
        };
        crate::units::remember(&mut sizes, &table, &key, size);
    }
    Ok(sizes)
}
