//! The fan-out handler on EventBridge events as Lambda delivers them.

use std::sync::Arc;

use fanout::{BusEvent, Fanout, FanoutError};
use shared::adapters::memory::{FixedClock, MemoryConnections, MemoryPusher};
use shared::app::live_routes::connect;
use shared::domain::{Timestamp, TraderId};

fn bus_event(trader: &str, detail_type: &str) -> BusEvent {
    serde_json::from_value(serde_json::json!({
        "version": "0", "id": "e-1", "detail-type": detail_type, "source": "orders",
        "time": "2026-11-27T10:00:00Z", "region": "us-east-1", "resources": ["order/x"],
        "detail": {"order_id": "01M89CR8R9WRJ3P3W4H1SDS5EG", "trader_id": trader, "client_order_id": null,
            "symbol": "AAPL", "side": "buy", "previous_status": "PENDING", "new_status": "SUBMITTED",
            "filled_quantity": "0", "average_price": null, "version": 2, "timestamp": "2026-11-27T10:00:00.120Z"}
    }))
    .unwrap()
}

async fn setup() -> (Fanout, Arc<MemoryPusher>) {
    let now = Timestamp::parse("2026-11-27T10:00:01Z").unwrap();
    let conns = Arc::new(MemoryConnections::new());
    for (t, c) in [("alice", "a1"), ("bob", "b1")] {
        connect(conns.as_ref(), &TraderId::parse(t).unwrap(), c, None, now)
            .await
            .unwrap();
    }
    let pusher = Arc::new(MemoryPusher::new());
    let handler = Fanout {
        connections: conns,
        pusher: pusher.clone(),
        clock: Arc::new(FixedClock::new(now)),
    };
    (handler, pusher)
}

#[tokio::test]
async fn a_status_event_reaches_its_traders_connection_only() {
    let (handler, pusher) = setup().await;
    let report = handler
        .handle(bus_event("alice", "Order Status Changed"))
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let got = pusher.received("a1");
    assert_eq!(got[0]["order_id"], "01M89CR8R9WRJ3P3W4H1SDS5EG");
    assert_eq!(got[0]["cursor"], "2026-11-27T10:00:00.12Z");
    assert!(pusher.received("b1").is_empty());
}

#[tokio::test]
async fn a_failed_delivery_fails_the_invocation_so_lambda_retries_it() {
    let (handler, pusher) = setup().await;
    pusher.make_failing("a1");
    let err = handler
        .handle(bus_event("alice", "Order Status Changed"))
        .await
        .unwrap_err();
    assert!(matches!(err, FanoutError::Live { .. }), "{err}");
    assert!(err.to_string().contains("a1"), "{err}");
}

#[tokio::test]
async fn other_events_and_unreadable_details_are_errors_not_drops() {
    let (handler, _) = setup().await;
    let err = handler
        .handle(bus_event("alice", "Trading State Changed"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an `Order Status Changed` event"), "{err}");
    let mut bad = bus_event("alice", "Order Status Changed");
    bad.detail["version"] = serde_json::json!("two");
    let err = handler.handle(bad).await.unwrap_err();
    assert!(matches!(err, FanoutError::BadDetail { .. }), "{err}");
}

/// The schedule's event (as EventBridge and tools/mapper's --schedule send it) runs
/// the sweep: a connection whose token has expired is closed although its trader has
/// no event.
#[tokio::test]
async fn the_scheduled_event_sweeps_the_connections_whose_token_expired() {
    let now = Timestamp::parse("2026-11-27T10:00:01Z").unwrap();
    let conns = Arc::new(MemoryConnections::new());
    let alice = TraderId::parse("alice").unwrap();
    connect(
        conns.as_ref(),
        &alice,
        "a1",
        Some(now.plus_seconds(-1)),
        now.plus_seconds(-60),
    )
    .await
    .unwrap();
    connect(conns.as_ref(), &alice, "a2", None, now).await.unwrap();
    let pusher = Arc::new(MemoryPusher::new());
    let handler = Fanout {
        connections: conns.clone(),
        pusher: pusher.clone(),
        clock: Arc::new(FixedClock::new(now)),
    };
    let scheduled: BusEvent = serde_json::from_value(serde_json::json!({
        "version": "0", "id": "s-1", "source": "aws.events", "detail-type": "Scheduled Event",
        "time": "2026-11-27T10:00:00Z", "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:1:rule/sweep"],
        "detail": {}
    }))
    .unwrap();
    assert!(scheduled.is_schedule());
    assert!(!bus_event("alice", "Order Status Changed").is_schedule());
    let report = handler.sweep().await.unwrap();
    assert_eq!((report.closed, report.gone), (1, 0));
    assert_eq!(pusher.closed(), vec!["a1".to_owned()]);
    assert_eq!(conns.ids(), vec!["a2".to_owned()]);
}
