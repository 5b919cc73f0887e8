//! Alpaca JSON mapping: what the venue may send, and what we send it.

use std::str::FromStr;

use super::*;
use crate::domain::{Timestamp, TraderId, validate_order};

fn body(status: &str, filled_qty: serde_json::Value, avg: serde_json::Value, client: &str) -> OrderResponse {
    let json = serde_json::json!({
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": client,
        "status": status,
        "filled_qty": filled_qty,
        "filled_avg_price": avg,
        "qty": "10",
        "symbol": "AAPL",
        "asset_class": "us_equity",
        "extended_hours": false
    });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn decimals_come_as_strings_or_numbers_and_stay_exact() {
    let id = OrderId::new().to_string();
    let as_strings = VenueOrder::try_from(body("partially_filled", "3".into(), "190.1234".into(), &id)).unwrap();
    let number: serde_json::Value = serde_json::from_str("190.1234").unwrap();
    let as_numbers = VenueOrder::try_from(body("partially_filled", 3.into(), number, &id)).unwrap();
    assert_eq!(as_strings.filled_quantity, Decimal::from(3));
    assert_eq!(as_strings.average_fill_price, Decimal::from_str("190.1234").ok());
    assert_eq!(as_strings, as_numbers);
    assert_eq!(as_strings.status, VenueStatus::PartiallyFilled);
}

#[test]
fn a_null_average_before_any_fill() {
    let id = OrderId::new().to_string();
    let o = VenueOrder::try_from(body("new", "0".into(), serde_json::Value::Null, &id)).unwrap();
    assert_eq!((o.filled_quantity, o.average_fill_price), (Decimal::ZERO, None));
}

#[test]
fn an_unknown_status_is_kept_not_a_panic() {
    let id = OrderId::new().to_string();
    let o = VenueOrder::try_from(body("brand_new_state", "0".into(), serde_json::Value::Null, &id)).unwrap();
    assert_eq!(o.status, VenueStatus::Unknown("brand_new_state".into()));
    assert!(o.status.is_open(), "unknown means look again later");
    assert_eq!(o.status.as_alpaca(), "brand_new_state");
}

#[test]
fn every_known_status_round_trips() {
    for s in [
        "pending_new",
        "accepted",
        "new",
        "partially_filled",
        "filled",
        "done_for_day",
        "canceled",
        "expired",
        "replaced",
        "pending_cancel",
        "pending_replace",
        "rejected",
        "suspended",
        "stopped",
        "calculated",
        "held",
    ] {
        let status = VenueStatus::from_alpaca(s);
        assert!(!matches!(status, VenueStatus::Unknown(_)), "{s}");
        assert_eq!(status.as_alpaca(), s);
    }
    assert_eq!(VenueStatus::from_alpaca("accepted_for_bidding"), VenueStatus::Accepted);
}

#[test]
fn garbage_decimals_and_foreign_client_ids_are_refused() {
    let json = serde_json::json!({"id": "x", "client_order_id": OrderId::new().to_string(), "status": "new",
        "filled_qty": "three"});
    assert!(serde_json::from_value::<OrderResponse>(json).is_err());
    let foreign = body("new", "0".into(), serde_json::Value::Null, "my-own-id");
    assert!(VenueOrder::try_from(foreign).is_err());
}

#[test]
fn the_request_sends_decimals_as_strings_and_the_order_id_as_client_id() {
    let draft = validate_order(
        &serde_json::json!({"symbol": "AAPL", "side": "sell", "type": "stop_limit",
        "quantity": "2.000", "limit_price": "150.25", "stop_price": "151", "time_in_force": "gtc"}),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let trader = TraderId::parse("t-1").unwrap();
    let order = Order::pending(OrderId::new(), trader, draft, Decimal::ZERO, Timestamp::now());
    let sent = serde_json::to_value(OrderRequest::from(&order)).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"symbol": "AAPL", "qty": "2", "side": "sell", "type": "stop_limit",
            "time_in_force": "gtc", "limit_price": "150.25", "stop_price": "151",
            "client_order_id": order.order_id.to_string()})
    );
}

#[test]
fn error_messages_come_from_alpaca_json_or_the_raw_body() {
    assert_eq!(
        error_message(br#"{"code":40310000,"message":"insufficient qty"}"#),
        "insufficient qty"
    );
    assert_eq!(error_message(b"<html>bad gateway</html>"), "<html>bad gateway</html>");
    assert_eq!(error_message(b""), "no message");
}

#[test]
fn a_replaced_order_names_its_replacement() {
    let client = OrderId::new();
    let raw = serde_json::json!({"id": "v-1", "client_order_id": client.to_string(), "status": "replaced",
        "filled_qty": "0", "filled_avg_price": null, "replaced_by": "v-2", "replaces": null});
    let parsed: OrderResponse = serde_json::from_value(raw).unwrap();
    assert_eq!(parsed.replaced_by.as_deref(), Some("v-2"));
    let order = VenueOrder::try_from(parsed).unwrap();
    assert_eq!(order.status, VenueStatus::Replaced);
    assert_eq!(order.reason.as_deref(), Some("replaced by venue order v-2"));
}
