//! The bus events the publish function sends are the ones infra/asyncapi.yaml documents
//! (channel `bus`): for each, the serialized detail's fields are exactly the documented
//! `detail` properties, all required ones present, and the detail-type is the
//! payload's const. (tools/check_asyncapi.py then validates every bus event an
//! end-to-end run receives against the schemas.)

use std::collections::BTreeSet;

use serde_json::Value;
use shared::domain::{OrderId, OrderStatus, Timestamp, TraderId, TradingState};
use shared::ports::{
    EVENT_DETAIL_TYPE, RECONCILIATION_DETAIL_TYPE, ReconciliationEvent, TRADING_STATE_DETAIL_TYPE, TradingStateEvent,
};
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

/// The envelope part of a bus message's payload (`allOf`'s second): its `detail-type`
/// const and its `detail` schema.
fn documented(doc: &Y, component: &str) -> (String, Y) {
    let part = &doc["components"]["messages"][component]["payload"]["allOf"][1]["properties"];
    (
        part["detail-type"]["const"].as_str().unwrap_or_default().to_owned(),
        part["detail"].clone(),
    )
}

#[test]
fn every_bus_event_has_exactly_the_documented_detail() {
    let doc = doc();
    let t = Timestamp::parse("2026-11-27T10:00:00.12Z").unwrap();
    let order_id = OrderId::new();
    let reconciled = ReconciliationEvent {
        reconciliation_id: format!("{:013}#{order_id}", t.unix_millis()),
        order_id,
        trader_id: TraderId::parse("alice").unwrap(),
        venue_order_id: "v-1".into(),
        venue_status: "expired".into(),
        from_status: OrderStatus::Submitted,
        to_status: OrderStatus::Expired,
        corrected: true,
        reason: "The venue reports the order expired".into(),
        at: t,
    };
    let trading = TradingStateEvent {
        scope: "deployment".into(),
        trader_id: None,
        previous_state: TradingState::Active,
        state: TradingState::Halted,
        audit_sequence: 2,
    };
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
        "limit_price": "150.25"});
    let order = shared::domain::Order::pending(
        order_id,
        TraderId::parse("alice").unwrap(),
        shared::domain::validate_order(&body).unwrap(),
        rust_decimal::Decimal::ONE,
        t,
    );
    let status = shared::ports::StatusEvent::of(None, &order);
    let cases: [(&str, &str, Value); 3] = [
        (
            "orderReconciled",
            RECONCILIATION_DETAIL_TYPE,
            serde_json::to_value(&reconciled).unwrap(),
        ),
        (
            "tradingStateChanged",
            TRADING_STATE_DETAIL_TYPE,
            serde_json::to_value(&trading).unwrap(),
        ),
        (
            "orderStatusChanged",
            EVENT_DETAIL_TYPE,
            serde_json::to_value(&status).unwrap(),
        ),
    ];
    for (component, detail_type, sent) in cases {
        let (documented_type, detail) = documented(&doc, component);
        assert_eq!(documented_type, detail_type, "{component}: detail-type");
        let fields: BTreeSet<String> = sent.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            fields,
            names(&detail["properties"]),
            "{component}: fields vs documented"
        );
        assert!(
            names(&detail["required"]).is_subset(&fields),
            "{component}: a required field is missing"
        );
    }
}
