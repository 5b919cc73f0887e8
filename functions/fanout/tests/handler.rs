//! The fan-out handler on the orders table's stream as Lambda delivers it (the sample
//! `events/publish-stream.json`: an order's INSERT, an account change, then two more
//! versions of the order) and on the sweep's schedule.

use std::sync::Arc;

use fanout::{Fanout, Invocation, ScheduledEvent, batch_response};
use shared::adapters::memory::{FixedClock, MemoryConnections, MemoryPusher};
use shared::app::live_routes::connect;
use shared::domain::{Timestamp, TraderId};

const EVENT: &str = include_str!("../../../events/publish-stream.json");
const ORDER: &str = "01JDZ8Q4Y6P7X2M3N4B5C6D7E8";

fn stream() -> Invocation {
    serde_json::from_str(EVENT).unwrap()
}

fn batch(invocation: Invocation) -> aws_lambda_events::event::dynamodb::Event {
    match invocation {
        Invocation::Stream(e) => e,
        Invocation::Scheduled(s) => panic!("a stream event read as the schedule: {s:?}"),
    }
}

async fn setup() -> (Fanout, Arc<MemoryConnections>, Arc<MemoryPusher>) {
    let now = Timestamp::parse("2026-11-27T10:00:01Z").unwrap();
    let conns = Arc::new(MemoryConnections::new());
    for (t, c) in [("demo", "d1"), ("bob", "b1")] {
        connect(conns.as_ref(), &TraderId::parse(t).unwrap(), c, None, now)
            .await
            .unwrap();
    }
    let pusher = Arc::new(MemoryPusher::new());
    let handler = Fanout {
        connections: conns.clone(),
        pusher: pusher.clone(),
        clock: Arc::new(FixedClock::new(now)),
    };
    (handler, conns, pusher)
}

#[tokio::test]
async fn a_batch_sends_each_order_version_once_in_order_to_its_traders_connections_only() {
    let (handler, _, pusher) = setup().await;
    let outcome = handler.handle(&batch(stream())).await;
    assert_eq!((outcome.events, outcome.stopped.as_ref()), (3, None));
    let got = pusher.received("d1");
    let seen: Vec<_> = got
        .iter()
        .map(|m| {
            (
                m["order_id"].as_str().unwrap(),
                m["version"].as_u64().unwrap(),
                m["new_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (ORDER, 1, "PENDING"),
            (ORDER, 2, "SUBMITTED"),
            (ORDER, 3, "CANCEL_REQUESTED")
        ]
    );
    assert_eq!(got[1]["previous_status"], "PENDING");
    assert!(got.iter().all(|m| m["cursor"].is_string() && m["replay"] == false));
    assert!(pusher.received("b1").is_empty(), "another trader's connection");
    assert!(batch_response(outcome.stopped.as_ref()).batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_connection_neither_sent_to_nor_closed_names_the_record_to_retry_from() {
    let (handler, conns, pusher) = setup().await;
    pusher.make_failing("d1");
    let outcome = handler.handle(&batch(stream())).await;
    let response = batch_response(outcome.stopped.as_ref());
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(ids, vec!["1100000000017454423001"], "the first event's record");
    assert!(conns.ids().contains(&"d1".to_owned()), "kept for the retry");
}

#[tokio::test]
async fn a_connection_that_misses_an_event_is_closed_and_the_batch_goes_on() {
    let (handler, conns, pusher) = setup().await;
    pusher.refuse_pushes("d1");
    let outcome = handler.handle(&batch(stream())).await;
    assert_eq!(outcome.stopped, None);
    assert_eq!(outcome.report.closed, 1);
    assert_eq!(pusher.closed(), vec!["d1".to_owned()]);
    assert_eq!(conns.ids(), vec!["b1".to_owned()]);
}

/// An unreadable record is skipped (publish is the one that stops at it): the records
/// after it still go out, and the batch is not retried for it.
#[tokio::test]
async fn an_unreadable_order_record_is_skipped_and_the_ones_after_it_go_out() {
    let (handler, _, pusher) = setup().await;
    let mut raw: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    raw["Records"][2]["dynamodb"]["NewImage"]["version"] = serde_json::json!({"S": "two"});
    let Invocation::Stream(event) = serde_json::from_value(raw).unwrap() else {
        panic!("not a stream event")
    };
    let outcome = handler.handle(&event).await;
    assert_eq!(outcome.stopped, None, "not retried for a record no retry can read");
    let versions: Vec<_> = pusher
        .received("d1")
        .iter()
        .filter_map(|m| m["version"].as_u64())
        .collect();
    assert_eq!(versions, vec![1, 3], "every readable version, in order");
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
    let scheduled: Invocation = serde_json::from_value(serde_json::json!({
        "version": "0", "id": "s-1", "source": "aws.events", "detail-type": "Scheduled Event",
        "time": "2026-11-27T10:00:00Z", "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:1:rule/sweep"],
        "detail": {}
    }))
    .unwrap();
    let Invocation::Scheduled(scheduled) = scheduled else {
        panic!("the schedule read as a stream batch")
    };
    let report = handler.sweep(&scheduled).await.unwrap();
    assert_eq!((report.closed, report.gone), (1, 0));
    assert_eq!(pusher.closed(), vec!["a1".to_owned()]);
    assert_eq!(conns.ids(), vec!["a2".to_owned()]);
}

#[tokio::test]
async fn another_bus_event_is_refused_not_taken_for_the_sweep() {
    let (handler, _, pusher) = setup().await;
    let other: ScheduledEvent = serde_json::from_value(serde_json::json!({
        "id": "e-1", "source": "orders", "detail-type": "Order Status Changed", "detail": {}
    }))
    .unwrap();
    let err = handler.sweep(&other).await.unwrap_err();
    assert!(err.to_string().contains("not the sweep's `Scheduled Event`"), "{err}");
    assert!(pusher.closed().is_empty());
}
