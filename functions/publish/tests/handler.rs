//! The publish handler on the sample stream event (`events/publish-stream.json`):
//! an order created, submitted and cancel-requested, with an account change
//! between (skipped), over the in-memory ports.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Context, LambdaEvent};
use publish::Publish;
use serde_json::{Value, json};
use shared::adapters::memory::{MemoryEvents, MemoryQueue};
use shared::domain::{OrderStatus, TradingState};
use shared::ports::WorkQueue;

const EVENT: &str = include_str!("../../../events/publish-stream.json");

fn sample() -> Value {
    serde_json::from_str(EVENT).unwrap()
}

fn lambda_event(v: Value) -> LambdaEvent<Event> {
    LambdaEvent::new(serde_json::from_value(v).unwrap(), Context::default())
}

fn seq(v: &Value, i: usize) -> String {
    v["Records"][i]["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn setup() -> (Arc<MemoryEvents>, Arc<MemoryQueue>, Publish) {
    let (events, queue) = (Arc::new(MemoryEvents::new()), Arc::new(MemoryQueue::new()));
    let handler = Publish {
        events: events.clone(),
        queue: queue.clone(),
        orders: Arc::new(shared::adapters::memory::MemoryStore::new()),
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
    };
    (events, queue, handler)
}

#[tokio::test]
async fn every_order_change_is_published_and_work_still_waiting_is_backed_up() {
    let (events, queue, h) = setup();
    let out = h.handle(lambda_event(sample())).await.unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), json!({"batchItemFailures": []}));

    let moves: Vec<_> = events
        .published()
        .iter()
        .map(|e| (e.previous_status, e.new_status, e.version))
        .collect();
    use OrderStatus::*;
    assert_eq!(
        moves,
        [
            (None, Pending, 1),
            (Some(Pending), Submitted, 2),
            (Some(Submitted), CancelRequested, 3)
        ]
    );
    // The claim is in the batch (the execute message got there); the cancel may not
    // have (the order is not in this store, so it reads as waiting): its backstop, late.
    let work: Vec<(Value, Value)> = queue
        .receive(10, 0)
        .await
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str::<Value>(&m.body).unwrap())
        .map(|v| (v["kind"].clone(), v["of"].clone()))
        .collect();
    assert_eq!(work, [(json!("backstop"), json!("cancel"))]);
    assert_eq!(queue.send_delays(), [shared::ports::BACKSTOP_DELAY_SECS]);
}

#[tokio::test]
async fn a_refused_event_reports_its_record_for_the_retry() {
    let (events, _queue, h) = setup();
    // Entry 1 is the SUBMITTED event, from record 2 (the account change is record 1).
    events.refuse_next(&[1]);
    let v = sample();
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 2)}]})
    );
}

#[tokio::test]
async fn an_unreadable_order_record_is_reported_after_the_ones_before_it_are_handled() {
    let (events, _queue, h) = setup();
    let mut v = sample();
    v["Records"][3]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 3)}]})
    );
    assert_eq!(events.published().len(), 2);
}

/// `n` copies of the sample's first record (an order created), sequence numbers 1..=n.
fn inserts(n: usize) -> Value {
    let first = sample()["Records"][0].clone();
    let records: Vec<Value> = (1..=n)
        .map(|i| {
            let mut r = first.clone();
            r["dynamodb"]["SequenceNumber"] = json!(format!("{i:03}"));
            r
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn near_its_deadline_the_handler_reports_the_first_record_it_did_not_start() {
    let (events, queue, h) = setup();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = Context::default();
    // Two seconds left: less than a round's worst case (publish::ROUND_RESERVE). The
    // first round (10 records) runs, the second does not start.
    context.deadline = now_ms + 2_000;
    let out = h
        .handle(LambdaEvent::new(serde_json::from_value(inserts(12)).unwrap(), context))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "011"}]})
    );
    assert_eq!(events.published().len(), 10);
    assert_eq!(queue.receive(10, 0).await.unwrap().len(), 10);
}

#[tokio::test]
async fn with_time_left_the_handler_handles_the_whole_batch() {
    let (events, _queue, h) = setup();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = Context::default();
    context.deadline = now_ms + 30_000;
    let out = h
        .handle(LambdaEvent::new(serde_json::from_value(sample()).unwrap(), context))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), json!({"batchItemFailures": []}));
    assert_eq!(events.published().len(), 3);
}

/// An operator's halt (the deployment principal's account item) followed by an order.
const CONTROL_EVENT: &str = include_str!("../../../events/publish-trading-state.json");

#[tokio::test]
async fn a_trading_state_change_is_published_as_its_own_event() {
    let (events, _queue, h) = setup();
    let v: Value = serde_json::from_str(CONTROL_EVENT).unwrap();
    let out = h.handle(lambda_event(v)).await.unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), json!({"batchItemFailures": []}));
    let published = events.published_trading_states();
    assert_eq!(published.len(), 1);
    let e = &published[0];
    assert_eq!(
        (
            e.scope.as_str(),
            e.trader_id.as_ref(),
            e.previous_state,
            e.state,
            e.audit_sequence
        ),
        ("deployment", None, TradingState::Active, TradingState::Halted, 2)
    );
    assert_eq!(events.published().len(), 1, "the order after it too");
}

#[tokio::test]
async fn an_unpublished_trading_state_change_is_the_record_retried_from() {
    let (events, queue, h) = setup();
    events.fail_next(1);
    let v: Value = serde_json::from_str(CONTROL_EVENT).unwrap();
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 0)}]})
    );
    // Nothing after it went out: the retry starts from the change.
    assert!(events.published().is_empty());
    assert!(queue.receive(10, 0).await.unwrap().is_empty());
}

/// A sweep's correction (the order's move to CANCELLED and its operator record, one
/// transaction), a once-a-day marker (skipped) and a mismatch left for an operator.
const RECONCILIATION_EVENT: &str = include_str!("../../../events/publish-reconciliation.json");

fn reconciliation_sample() -> Value {
    serde_json::from_str(RECONCILIATION_EVENT).unwrap()
}

#[tokio::test]
async fn each_reconciliation_record_is_published_as_its_own_event_beside_the_status_event() {
    let (events, _queue, h) = setup();
    let out = h.handle(lambda_event(reconciliation_sample())).await.unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), json!({"batchItemFailures": []}));
    let moves: Vec<_> = events
        .published()
        .iter()
        .map(|e| (e.previous_status, e.new_status, e.version))
        .collect();
    assert_eq!(moves, [(Some(OrderStatus::CancelRequested), OrderStatus::Cancelled, 4)]);
    let found: Vec<Value> = events
        .published_reconciliations()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(
        found,
        [
            json!({"reconciliation_id": "1795185007250#01JDZ8Q4Y6P7X2M3N4B5C6D7E8",
                "order_id": "01JDZ8Q4Y6P7X2M3N4B5C6D7E8", "trader_id": "demo",
                "venue_order_id": "61e69015-8549-4bfd-b9c3-01e75cb53b5b", "venue_status": "canceled",
                "from_status": "CANCEL_REQUESTED", "to_status": "CANCELLED", "corrected": true,
                "reason": "The venue reports the order canceled: corrected from CANCEL_REQUESTED to CANCELLED",
                "at": "2026-11-20T14:30:07.25Z"}),
            json!({"reconciliation_id": "1795185008500#01JDZ8Q4Y6P7X2M3N4B5C6D7E9",
                "order_id": "01JDZ8Q4Y6P7X2M3N4B5C6D7E9", "trader_id": "demo",
                "venue_order_id": "7a3c2d1e-0b4f-4e5a-9c8d-2f1e0a9b8c7d", "venue_status": "filled",
                "from_status": "SUBMITTED", "to_status": "SUBMITTED", "corrected": false,
                "reason": "Our books of the order do not match the venue's: the venue filled 10, we booked 4",
                "at": "2026-11-20T14:30:08.5Z"}),
        ]
    );
}

#[tokio::test]
async fn a_refused_reconciliation_entry_is_the_record_retried_from() {
    let (events, _queue, h) = setup();
    // The batch's reconciliation events go out first, in one call: its entry 1 is record 3's.
    events.refuse_next(&[1]);
    let v = reconciliation_sample();
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 3)}]})
    );
    assert_eq!(events.published_reconciliations().len(), 1);
    assert_eq!(events.published().len(), 1, "the order change before it is handled");
}

#[tokio::test]
async fn with_the_bus_down_the_first_reconciliation_record_is_retried_from() {
    let (events, queue, h) = setup();
    events.fail_next(1);
    let v = reconciliation_sample();
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 1)}]})
    );
    assert!(events.published_reconciliations().is_empty());
    assert_eq!(events.published().len(), 1, "the order change before it is handled");
    assert!(queue.receive(10, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreadable_reconciliation_record_is_reported_not_skipped() {
    let (events, _queue, h) = setup();
    let mut v = reconciliation_sample();
    v["Records"][3]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("reason");
    let out = h.handle(lambda_event(v.clone())).await.unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": seq(&v, 3)}]})
    );
    assert_eq!(events.published_reconciliations().len(), 1, "the record before it");
    assert_eq!(events.published().len(), 1);
}
