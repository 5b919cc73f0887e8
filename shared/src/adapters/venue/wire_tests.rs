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

fn activity(fields: serde_json::Value) -> Result<VenueExecution, String> {
    let mut json = serde_json::json!({
        "activity_type": "FILL", "cum_qty": "2", "id": "20220202135509981::2d7be4ff-d1f3-43e9-856a-0f5cf5c5088e",
        "leaves_qty": "0", "order_id": "b5abe576-6a8a-49f3-a353-46b72c1ccae9", "order_status": "filled",
        "price": "174.785", "qty": "2", "side": "buy", "symbol": "AAPL",
        "transaction_time": "2022-02-02T18:55:09.981482Z", "type": "fill"
    });
    if let (serde_json::Value::Object(base), serde_json::Value::Object(extra)) = (&mut json, fields) {
        base.extend(extra);
    }
    let parsed: FillActivity = serde_json::from_value(json).map_err(|e| e.to_string())?;
    VenueExecution::try_from(parsed)
}

#[test]
fn a_fill_activity_is_the_venues_execution_with_its_own_id_price_and_time() {
    // The document's example of `TradingActivities`, with a sub-cent price.
    let e = activity(serde_json::json!({})).unwrap();
    assert_eq!(
        e.execution_id,
        "20220202135509981::2d7be4ff-d1f3-43e9-856a-0f5cf5c5088e"
    );
    assert_eq!(e.venue_order_id, "b5abe576-6a8a-49f3-a353-46b72c1ccae9");
    assert_eq!(e.client_order_id, None, "a FILL activity does not carry it");
    assert_eq!((e.side, e.symbol.as_str()), (Side::Buy, "AAPL"));
    assert_eq!(e.price, Decimal::from_str("174.785").unwrap(), "not rounded");
    assert_eq!(
        (e.qty, e.cum_qty, e.leaves_qty),
        (Decimal::TWO, Decimal::TWO, Decimal::ZERO)
    );
    assert_eq!(
        e.transaction_time,
        Timestamp::parse("2022-02-02T18:55:09.981Z").unwrap()
    );
    let short = activity(serde_json::json!({"side": "sell_short"})).unwrap();
    assert_eq!(short.side, Side::Sell);
}

#[test]
fn a_fill_activity_that_cannot_be_booked_is_refused_by_name() {
    for (fields, says) in [
        (serde_json::json!({"price": "0"}), "price"),
        (serde_json::json!({"qty": null}), "qty"),
        (serde_json::json!({"cum_qty": "1"}), "cum_qty"),
        (serde_json::json!({"side": "up"}), "side"),
        (serde_json::json!({"transaction_time": "today"}), "transaction_time"),
        (serde_json::json!({"activity_type": "DIV"}), "activity_type"),
    ] {
        let err = activity(fields.clone()).unwrap_err();
        assert!(err.contains(says), "{fields}: {err}");
    }
}

#[test]
fn a_listed_order_carries_its_replacement() {
    let id = OrderId::new().to_string();
    let listed: OrderResponse = serde_json::from_value(serde_json::json!({
        "id": "old-1", "client_order_id": id, "status": "replaced", "filled_qty": "1", "filled_avg_price": "10",
        "replaced_by": "new-2", "submitted_at": "2024-01-02T15:00:00.123456Z"
    }))
    .unwrap();
    let order = VenueOrderRef::from(listed);
    assert_eq!(order.status, VenueStatus::Replaced);
    assert_eq!(order.replaced_by.as_deref(), Some("new-2"));
    assert_eq!(
        (order.client_order_id, order.filled_quantity),
        (id, rust_decimal::Decimal::ONE)
    );
}

fn order_of(body: serde_json::Value, reserved: Decimal) -> Order {
    let draft = validate_order(&body).unwrap_or_else(|e| panic!("{e:?}"));
    let trader = TraderId::parse("t-1").unwrap();
    Order::pending(OrderId::new(), trader, draft, reserved, Timestamp::now())
}

#[test]
fn a_market_buy_goes_to_the_venue_as_a_limit_at_its_reservation_price_rounded_down_to_the_tick() {
    // 10 AAPL reserved at 190.12 × 1.05 = 199.626 → 1996.26 held: limit 199.62.
    let order = order_of(
        serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "10",
            "time_in_force": "day"}),
        Decimal::new(199626, 2),
    );
    let sent = serde_json::to_value(OrderRequest::from(&order)).unwrap();
    assert_eq!(sent["type"], "limit");
    assert_eq!(sent["limit_price"], "199.62");
    assert_eq!(sent["time_in_force"], "day");
    assert!(sent.get("stop_price").is_none());
    // Below $1 the tick is 4 dp: 3 shares holding 2.00 → 0.6666.
    let penny = order_of(
        serde_json::json!({"symbol": "PENY", "side": "buy", "type": "market", "quantity": "3",
            "time_in_force": "gtc"}),
        Decimal::new(200, 2),
    );
    let sent = serde_json::to_value(OrderRequest::from(&penny)).unwrap();
    assert_eq!(
        (sent["type"].as_str(), sent["limit_price"].as_str()),
        (Some("limit"), Some("0.6666"))
    );
}

#[test]
fn a_stop_buy_goes_as_a_stop_limit_at_its_reservation_price_and_sells_and_fractions_go_as_they_are() {
    // 4 shares, stop 100, collar 5 %: 420.00 held → limit 105.00.
    let stop = order_of(
        serde_json::json!({"symbol": "MSFT", "side": "buy", "type": "stop", "quantity": "4",
            "stop_price": "100", "time_in_force": "gtc"}),
        Decimal::new(42000, 2),
    );
    let sent = serde_json::to_value(OrderRequest::from(&stop)).unwrap();
    assert_eq!(
        (
            sent["type"].as_str(),
            sent["limit_price"].as_str(),
            sent["stop_price"].as_str()
        ),
        (Some("stop_limit"), Some("105"), Some("100"))
    );
    let sell = order_of(
        serde_json::json!({"symbol": "MSFT", "side": "sell", "type": "market", "quantity": "4",
            "time_in_force": "day"}),
        Decimal::ZERO,
    );
    let sent = serde_json::to_value(OrderRequest::from(&sell)).unwrap();
    assert_eq!(sent["type"], "market");
    assert!(sent.get("limit_price").is_none());
    // Alpaca takes fractional quantities only as market orders: left as they are.
    let fractional = order_of(
        serde_json::json!({"symbol": "MSFT", "side": "buy", "type": "market", "quantity": "0.5",
            "time_in_force": "day"}),
        Decimal::new(21000, 2),
    );
    let sent = serde_json::to_value(OrderRequest::from(&fractional)).unwrap();
    assert_eq!(sent["type"], "market");
    assert!(sent.get("limit_price").is_none());
}
