//! The WebSocket routes on API Gateway's proxy events: connect under the authorized
//! trader, subscribe with a cursor (replay), refusals as `error` messages.

use std::sync::Arc;

use live::{Live, WsEvent};
use rust_decimal::Decimal;
use serde_json::json;
use shared::adapters::memory::{FixedClock, MemoryConnections, MemoryOrderChanges, MemoryPusher};
use shared::domain::{Order, OrderId, Timestamp, TraderId, validate_order};
use shared::ports::Connections;

const NOW: &str = "2026-11-27T10:00:01Z";

fn event(route: &str, trader: Option<&str>, body: Option<&str>) -> WsEvent {
    let mut ctx = json!({"routeKey": route, "connectionId": "c1", "eventType": "MESSAGE", "stage": "live",
        "connectedAt": 1, "domainName": "abc.execute-api.us-east-1.amazonaws.com"});
    if let Some(t) = trader {
        ctx["authorizer"] = json!({"principalId": t, "trader_id": t, "expires_at": "1900000000"});
    }
    serde_json::from_value(json!({"requestContext": ctx, "body": body, "isBase64Encoded": false})).unwrap()
}

struct Rig {
    live: Live,
    conns: Arc<MemoryConnections>,
    orders: Arc<MemoryOrderChanges>,
    pusher: Arc<MemoryPusher>,
}

fn rig() -> Rig {
    let conns = Arc::new(MemoryConnections::new());
    let orders = Arc::new(MemoryOrderChanges::new());
    let pusher = Arc::new(MemoryPusher::new());
    let live = Live {
        connections: conns.clone(),
        orders: orders.clone(),
        pusher: pusher.clone(),
        clock: Arc::new(FixedClock::new(Timestamp::parse(NOW).unwrap())),
    };
    Rig {
        live,
        conns,
        orders,
        pusher,
    }
}

fn order(trader: &str, updated: &str) -> Order {
    let body = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "150.25"});
    let t = Timestamp::parse(updated).unwrap();
    Order::pending(
        OrderId::new(),
        TraderId::parse(trader).unwrap(),
        validate_order(&body).unwrap(),
        Decimal::ONE,
        t,
    )
}

#[tokio::test]
async fn connect_records_the_connection_under_the_authorized_trader_until_the_token_expires() {
    let r = rig();
    assert_eq!(
        r.live.handle(event("$connect", Some("alice"), None)).await.status_code,
        200
    );
    let stored = r.conns.of_trader(&TraderId::parse("alice").unwrap()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].connection_id, "c1");
    // The token (exp 1900000000) outlives 2 hours from NOW: the 2-hour limit applies.
    assert_eq!(stored[0].expires_at, Timestamp::parse(NOW).unwrap().plus_seconds(7200));
    assert_eq!(
        r.live
            .handle(event("$disconnect", Some("alice"), None))
            .await
            .status_code,
        200
    );
    assert!(r.conns.ids().is_empty());
}

#[tokio::test]
async fn a_route_without_an_authorized_trader_is_refused() {
    let r = rig();
    assert_eq!(r.live.handle(event("$connect", None, None)).await.status_code, 403);
    assert!(r.conns.ids().is_empty());
}

#[tokio::test]
async fn subscribe_with_a_cursor_replays_only_the_traders_orders() {
    let r = rig();
    let mine = order("alice", "2026-11-27T10:00:00.5Z");
    r.orders.put(mine.clone());
    r.orders.put(order("bob", "2026-11-27T10:00:00.6Z"));
    let body = r#"{"action": "subscribe", "cursor": "2026-11-27T10:00:00Z"}"#;
    assert_eq!(
        r.live
            .handle(event("subscribe", Some("alice"), Some(body)))
            .await
            .status_code,
        200
    );
    let got = r.pusher.received("c1");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["order_id"], mine.order_id.to_string());
    assert_eq!(got[0]["replay"], true);
    assert_eq!(got[1]["type"], "subscribed");
}

#[tokio::test]
async fn a_bad_subscribe_gets_an_error_message_saying_what_to_send() {
    let r = rig();
    let cases = [
        (
            r#"{"action": "subscribe", "cursor": "yesterday"}"#,
            "cursor `yesterday` is not one this stream sent",
        ),
        ("not json", "the message must be {\"action\": \"subscribe\""),
        (r#"{"action": "subscribe", "cursr": "x"}"#, "unknown field `cursr`"),
    ];
    for (body, expected) in cases {
        assert_eq!(
            r.live
                .handle(event("subscribe", Some("alice"), Some(body)))
                .await
                .status_code,
            400,
            "{body}"
        );
        let last = r.pusher.received("c1").pop().unwrap();
        assert_eq!(last["type"], "error");
        assert!(last["detail"].as_str().unwrap().contains(expected), "{body}: {last}");
    }
}
