use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;
use crate::domain::{Account, Order, OrderDraft, OrderId, Timestamp, TraderId, validate_order};
use crate::ports::StoreError;

#[test]
fn orders_round_trip_through_items() {
    // Every optional field set, and a fractional quantity (market/day only).
    for body in [
        serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "stop_limit",
        "quantity": "10", "limit_price": "150.25", "stop_price": "149", "time_in_force": "gtc",
        "client_order_id": "c-1"}),
        serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "10.5"}),
    ] {
        let draft: OrderDraft = validate_order(&body).unwrap();
        let mut o = Order::pending(
            OrderId::new(),
            TraderId::parse("alice").unwrap(),
            draft,
            Decimal::from(1578),
            Timestamp::now(),
        );
        o.audit_head = "ab".repeat(32);
        o.reason = Some("because".into());
        o.average_fill_price = Some(Decimal::from_str("150.1").unwrap());
        o.placement_deadline = Some(Timestamp::now().plus_seconds(5));
        o.booked_notional = Some(Decimal::from_str("1576.05").unwrap());
        assert_eq!(order_from_item(&order_to_item(&o)).unwrap(), o);
    }
}

#[test]
fn an_order_item_written_before_the_executor_fields_reads_them_as_unknown() {
    let draft = validate_order(&serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market",
        "quantity": "1"}))
    .unwrap();
    let mut o = Order::pending(
        OrderId::new(),
        TraderId::parse("alice").unwrap(),
        draft,
        Decimal::ONE,
        Timestamp::now(),
    );
    o.placement_deadline = Some(Timestamp::now());
    let mut item = order_to_item(&o);
    item.remove("placement_deadline");
    item.remove("booked_notional");
    let read = order_from_item(&item).unwrap();
    assert_eq!((read.placement_deadline, read.booked_notional), (None, None));
    item.insert("placement_deadline".into(), s("soon"));
    assert_eq!(
        order_from_item(&item),
        Err(StoreError::Corrupt(
            "order attribute `placement_deadline` is missing or malformed".into()
        ))
    );
}

#[test]
fn a_missing_attribute_is_named() {
    let mut item = account_to_item(&Account::new(TraderId::parse("bob").unwrap(), Decimal::ONE));
    item.remove("cash");
    assert_eq!(
        account_from_items(&[item]),
        Err(StoreError::Corrupt(
            "account attribute `cash` is missing or malformed".into()
        ))
    );
}
