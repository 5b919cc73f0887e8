//! The messages the code sends are the ones infra/asyncapi.yaml documents: for each
//! kind, the serialized fields are exactly the payload's `properties`, all `required`
//! ones present, and the `type` is the payload's const. (tools/check_asyncapi.py then
//! validates every message an end-to-end run receives against the schemas.)

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::Value;
use shared::app::live::LiveMessage;
use shared::domain::{Order, OrderId, Timestamp, TraderId, validate_order};
use shared::ports::StatusEvent;
use yaml_serde::Value as Y;

fn doc() -> Y {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/asyncapi.yaml");
    yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn names(v: &Y) -> BTreeSet<String> {
    match v {
        Y::Mapping(m) => m.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        Y::Sequence(s) => s.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        _ => BTreeSet::new(),
    }
}

fn order() -> Order {
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
        "limit_price": "150.25"});
    let t = Timestamp::parse("2026-11-27T10:00:00.12Z").unwrap();
    Order::pending(
        OrderId::new(),
        TraderId::parse("alice").unwrap(),
        validate_order(&body).unwrap(),
        Decimal::ONE,
        t,
    )
}

#[test]
fn every_message_the_code_sends_has_exactly_the_documented_fields() {
    let doc = doc();
    let o = order();
    let cases = [
        ("orderUpdate", LiveMessage::live(&StatusEvent::of(None, &o))),
        ("orderUpdate", LiveMessage::replayed(&o)),
        (
            "subscribed",
            LiveMessage::Subscribed {
                cursor: None,
                replayed: 0,
                complete: true,
            },
        ),
        ("error", LiveMessage::Error { detail: "x".into() }),
    ];
    for (component, message) in cases {
        let payload = &doc["components"]["messages"][component]["payload"];
        let sent: Value = serde_json::from_slice(&message.to_bytes().unwrap()).unwrap();
        let fields: BTreeSet<String> = sent.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            fields,
            names(&payload["properties"]),
            "{component}: fields vs documented properties"
        );
        assert!(
            names(&payload["required"]).is_subset(&fields),
            "{component}: a required field is missing"
        );
        assert_eq!(
            sent["type"].as_str(),
            payload["properties"]["type"]["const"].as_str(),
            "{component}: type"
        );
    }
}
