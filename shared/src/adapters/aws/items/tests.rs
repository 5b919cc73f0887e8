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

#[test]
fn a_stored_restricted_symbol_that_is_not_a_symbol_is_corrupt_not_ignored() {
    let mut item = account_to_item(&Account::new(TraderId::parse("bob").unwrap(), Decimal::ONE));
    item.insert("restricted_symbols".into(), s("GME,not a symbol"));
    assert_eq!(
        account_from_items(&[item]),
        Err(StoreError::Corrupt(
            "account attribute `restricted_symbols` is missing or malformed".into()
        ))
    );
}

#[test]
fn the_notional_window_round_trips_and_a_malformed_entry_is_corrupt() {
    use crate::domain::{NotionalEntry, NotionalWindow};
    let trader = TraderId::parse("bob").unwrap();
    let w = NotionalWindow::new(
        vec![
            NotionalEntry {
                at_ms: 1_800_000_000_000,
                notional: Decimal::from_str("1502.50").unwrap(),
            },
            NotionalEntry {
                at_ms: 1_800_000_000_600,
                notional: Decimal::from_str("0.0001").unwrap(),
            },
        ],
        6,
    );
    let item = notional_to_item(&trader, &w);
    // Written as the next version.
    assert_eq!(
        notional_from_item(&item),
        Ok(NotionalWindow::new(w.entries().to_vec(), 7))
    );
    let empty = notional_to_item(&trader, &NotionalWindow::default());
    assert_eq!(notional_from_item(&empty).map(|w| w.entries().len()), Ok(0));
    for bad in ["1800000000000", "x:1", "1800000000000:abc", "1800000000000:1,"] {
        let mut item = item.clone();
        item.insert("entries".into(), s(bad));
        assert_eq!(
            notional_from_item(&item),
            Err(StoreError::Corrupt(
                "notional window attribute `entries` is missing or malformed".into()
            )),
            "{bad}"
        );
    }
}

#[test]
fn a_duplicate_fingerprint_item_without_its_order_is_corrupt() {
    let trader = TraderId::parse("bob").unwrap();
    let mut item = duplicate_to_item(&trader, "fp", &OrderId::new(), Timestamp::now(), 5);
    assert!(duplicate_from_item(&item).is_ok());
    item.remove("order_id");
    assert!(matches!(duplicate_from_item(&item), Err(StoreError::Corrupt(_))));
}
