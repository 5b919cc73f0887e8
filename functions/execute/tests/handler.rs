//! The execute handler on the sample SQS event (`events/execute-sqs.json`) over the
//! in-memory ports: only the messages that failed are reported, each failed one is
//! given a backoff, and an unreadable message is failed (never dropped); a batch's
//! orders run at once, each order's messages one after the other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use execute::Execute;
use rust_decimal::Decimal;
use shared::adapters::memory::{MemoryQueue, MemoryStore, MemoryVenue};
use shared::app::fixtures::place_limit_buy;
use shared::domain::{Order, OrderId, OrderStatus, TraderId};
use shared::ports::{AttentionKind, AttentionLog, AuditLog, OrderStore, SystemClock, Venue, VenueError, VenueOrder};

const EVENT: &str = include_str!("../../../events/execute-sqs.json");

fn event(bodies: &[String]) -> SqsEvent {
    let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    let template = v["Records"][0].clone();
    v["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut r = template.clone();
            r["messageId"] = format!("m-{i}").into();
            r["receiptHandle"] = format!("h-{i}").into();
            r["body"] = body.clone().into();
            r
        })
        .collect();
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn reports_only_the_failed_messages_and_backs_them_off() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    let a = place_limit_buy(store.as_ref(), &demo, "1", "150").await;
    let venue = Arc::new(MemoryVenue::new());
    venue.set_price("AAPL", Decimal::from(100));
    let queue = Arc::new(MemoryQueue::new());
    let h = Execute {
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
        store: store.clone(),
        venue: venue.clone(),
        queue: queue.clone(),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        backoff_base_ms: execute::BACKOFF_BASE_MS,
        policy: Default::default(),
    };
    let good = format!(r#"{{"kind":"execute","trader_id":"demo","order_id":"{}"}}"#, a.order_id);
    let out = h.handle(event(&[good.clone(), "not json".into()])).await;
    let failed: Vec<_> = out
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec!["m-1".to_owned()]);
    // Placed (the venue filled it; the venue intake books its executions).
    let placed = store.get_order(&demo, &a.order_id).await.unwrap().unwrap();
    assert_eq!(placed.status, OrderStatus::Submitted);
    assert_eq!(venue.count(&a.order_id), 1);

    // The venue down: the message fails and is hidden for a backoff.
    let b = place_limit_buy(store.as_ref(), &demo, "1", "150").await;
    venue.set_unavailable(true);
    let body = format!(r#"{{"kind":"execute","trader_id":"demo","order_id":"{}"}}"#, b.order_id);
    let out = h.handle(event(&[body])).await;
    assert_eq!(out.batch_item_failures.len(), 1);
    let changes = queue.visibility_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, "h-0");
    assert!((2..=3).contains(&changes[0].1), "first backoff {:?}", changes[0]);
    let waiting = store.get_order(&demo, &b.order_id).await.unwrap().unwrap();
    assert_eq!(waiting.reason, None, "retries left: not stalled yet");

    // The last delivery the queue allows: the order says why it is stuck.
    let mut last = event(&[format!(
        r#"{{"kind":"execute","trader_id":"demo","order_id":"{}"}}"#,
        b.order_id
    )]);
    last.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "8".into());
    let out = h.handle(last).await;
    assert_eq!(out.batch_item_failures.len(), 1, "still failed, so SQS dead-letters it");
    let stalled = store.get_order(&demo, &b.order_id).await.unwrap().unwrap();
    assert_eq!(stalled.status, waiting.status);
    assert_eq!(stalled.version, waiting.version + 1);
    let reason = stalled.reason.unwrap();
    assert!(
        reason.contains("dead-letter queue") && reason.contains("venue temporarily unavailable"),
        "{reason}"
    );
    let trail = store.records(&b.order_id).await.unwrap();
    assert_eq!(trail.last().unwrap().action, "STALL");
    // And in the day's stalled list for operators (issue 22), with the same reason.
    let day = trail.last().unwrap().at.datetime().date();
    let listed = store
        .attention_records(AttentionKind::Stalled, day, 10, None)
        .await
        .unwrap();
    assert_eq!(listed.records.len(), 1, "{listed:?}");
    let record = &listed.records[0];
    assert_eq!(
        (record.order_id, &record.trader_id, record.from_status, record.to_status),
        (b.order_id, &demo, waiting.status, waiting.status)
    );
    assert_eq!(record.reason, reason);
}

/// The memory venue, slowed down, noting which orders are at it at once.
struct SlowVenue {
    inner: MemoryVenue,
    at_venue: Mutex<Vec<OrderId>>,
    most_at_once: Mutex<usize>,
    overlap_in_one_order: Mutex<bool>,
}

impl SlowVenue {
    async fn visit<T>(&self, order: &OrderId, call: impl std::future::Future<Output = T>) -> T {
        {
            let mut at = self.at_venue.lock().unwrap();
            if at.contains(order) {
                *self.overlap_in_one_order.lock().unwrap() = true;
            }
            at.push(*order);
            let mut most = self.most_at_once.lock().unwrap();
            *most = (*most).max(at.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let out = call.await;
        let mut at = self.at_venue.lock().unwrap();
        if let Some(i) = at.iter().position(|o| o == order) {
            at.remove(i);
        }
        out
    }
}

#[async_trait]
impl Venue for SlowVenue {
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError> {
        self.visit(&order.order_id, self.inner.place(order)).await
    }
    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        self.visit(client_order_id, self.inner.find(client_order_id)).await
    }
    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError> {
        self.inner.cancel(venue_order_id).await
    }
}

#[tokio::test]
async fn a_batch_runs_its_orders_at_once_and_each_order_in_batch_order() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(100_000), None).await.unwrap();
    let venue = Arc::new(SlowVenue {
        inner: MemoryVenue::new(),
        at_venue: Mutex::new(Vec::new()),
        most_at_once: Mutex::new(0),
        overlap_in_one_order: Mutex::new(false),
    });
    venue.inner.set_price("AAPL", Decimal::from(100));
    let h = Execute {
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
        store: store.clone(),
        venue: venue.clone(),
        queue: Arc::new(MemoryQueue::new()),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        backoff_base_ms: execute::BACKOFF_BASE_MS,
        policy: Default::default(),
    };
    let mut orders = Vec::new();
    for _ in 0..4 {
        orders.push(place_limit_buy(store.as_ref(), &demo, "1", "150").await.order_id);
    }
    let execute = |o: &OrderId| format!(r#"{{"kind":"execute","trader_id":"demo","order_id":"{o}"}}"#);
    // Each order's message three times, interleaved, with unreadable ones between.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.extend(orders.iter().map(execute));
        bodies.push("{".into());
    }
    let out = h.handle(event(&bodies)).await;

    let failed: Vec<_> = out
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        vec!["m-4", "m-9", "m-14"],
        "only the unreadable ones, in batch order"
    );
    for o in &orders {
        let order = store.get_order(&demo, o).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Submitted, "{o} placed");
        assert_eq!(venue.inner.count(o), 1, "{o} sent once");
    }
    assert!(
        *venue.most_at_once.lock().unwrap() > 1,
        "the batch's orders went to the venue one at a time"
    );
    assert!(
        !*venue.overlap_in_one_order.lock().unwrap(),
        "two messages of one order were at the venue at once"
    );
}

#[tokio::test]
async fn a_cancel_waiting_for_a_placement_comes_back_after_the_window_not_before() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    let a = place_limit_buy(store.as_ref(), &demo, "1", "150").await;
    let venue = Arc::new(MemoryVenue::new());
    venue.delay_next_placement();
    let queue = Arc::new(MemoryQueue::new());
    let h = Execute {
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
        store: store.clone(),
        venue: venue.clone(),
        queue: queue.clone(),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        // A backoff far shorter than the window.
        backoff_base_ms: 1,
        policy: Default::default(),
    };
    let execute = format!(r#"{{"kind":"execute","trader_id":"demo","order_id":"{}"}}"#, a.order_id);
    assert_eq!(h.handle(event(&[execute])).await.batch_item_failures.len(), 1);
    let deps = shared::app::CancelDeps {
        store: store.as_ref(),
        clock: &SystemClock,
        queue: None,
    };
    shared::app::cancel(&deps, &demo, &a.order_id.to_string(), None)
        .await
        .unwrap();
    let cancel = format!(r#"{{"kind":"cancel","trader_id":"demo","order_id":"{}"}}"#, a.order_id);
    assert_eq!(h.handle(event(&[cancel])).await.batch_item_failures.len(), 1);
    let window = execute::ExecutePolicy::default().placement_window().as_secs() as u32;
    let (_, hidden) = queue.visibility_changes().last().cloned().unwrap();
    assert!(
        (window..=window + 1).contains(&hidden),
        "hidden until the window closed: {:?}",
        queue.visibility_changes()
    );
    let order = store.get_order(&demo, &a.order_id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::CancelRequested);
}

/// A venue that answers every call with its rate limit (a 429, or our own budget).
struct RateLimitedVenue;

#[async_trait]
impl Venue for RateLimitedVenue {
    async fn place(&self, _order: &Order) -> Result<VenueOrder, VenueError> {
        Err(limited())
    }
    async fn find(&self, _client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        Err(limited())
    }
    async fn cancel(&self, _venue_order_id: &str) -> Result<(), VenueError> {
        Err(limited())
    }
}

fn limited() -> VenueError {
    VenueError::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
        message: "too many requests".into(),
    }
}

/// SPEC §6: a rate limit never dead-letters or stalls an order, even on the last
/// delivery the queue allows: the message is sent again, delayed until the budget's
/// next window, and this delivery is done with.
#[tokio::test]
async fn a_rate_limited_message_waits_for_the_next_window_and_never_stalls() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    let a = place_limit_buy(store.as_ref(), &demo, "1", "150").await;
    let queue = Arc::new(MemoryQueue::new());
    let h = Execute {
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
        store: store.clone(),
        venue: Arc::new(RateLimitedVenue),
        queue: queue.clone(),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        backoff_base_ms: execute::BACKOFF_BASE_MS,
        policy: Default::default(),
    };
    let body = format!(r#"{{"kind":"execute","trader_id":"demo","order_id":"{}"}}"#, a.order_id);
    let mut last = event(&[body]);
    last.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "8".into());
    let out = h.handle(last).await;
    assert!(out.batch_item_failures.is_empty(), "done with: it is not dead-lettered");
    let delays = queue.send_delays();
    assert_eq!(delays.len(), 1, "sent again once");
    assert!((7..=12).contains(&delays[0]), "waits for the window: {delays:?}");
    assert_eq!(queue.messages().len(), 1);
    assert!(queue.visibility_changes().is_empty());
    let order = store.get_order(&demo, &a.order_id).await.unwrap().unwrap();
    assert_eq!(order.reason, None, "not stalled");
    assert!(
        store
            .records(&a.order_id)
            .await
            .unwrap()
            .iter()
            .all(|r| r.action != "STALL"),
        "no STALL record"
    );
}
