// Long because: the outbox pass and the operator events share their fakes (slow, flaky, refusing buses) and fixtures.
//! The publish use case's tests: the effects of each change and the outbox pass over
//! failing events and queues.

use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::*;
use crate::adapters::memory::{MemoryEvents, MemoryIntakeStore, MemoryQueue, MemoryStore};
use crate::domain::TradingState;
use crate::domain::{Order, OrderId, Timestamp, TraderId, validate_order};
use crate::ports::{IntakeStore, QueueError, ReceivedMessage, TradingStateEvent, WorkingOrder};

fn order() -> Order {
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
        "limit_price": "150.25", "client_order_id": "c-1"});
    let draft = validate_order(&body).unwrap();
    let trader = TraderId::parse("alice").unwrap();
    Order::pending(OrderId::new(), trader, draft, Decimal::from(1503), Timestamp::now())
}

fn w<'a>(orders: &'a MemoryStore, intake: &'a MemoryIntakeStore) -> Waits<'a> {
    Waits { orders, intake }
}

/// `publish_changes` with orders and a working index that hold nothing.
async fn publish_fresh(events: &MemoryEvents, queue: &dyn WorkQueue, changes: &[OrderChange]) -> Outcome {
    publish_changes(
        events,
        queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        changes,
    )
    .await
}

fn moved(o: &Order, status: OrderStatus) -> Order {
    let mut next = o.clone();
    next.status = status;
    next.version += 1;
    next
}

fn change(seq: &str, kind: ChangeKind, old: Option<&Order>, new: Option<&Order>) -> OrderChange {
    OrderChange {
        sequence_number: seq.into(),
        kind,
        old: old.cloned(),
        new: new.cloned(),
    }
}

/// A lifecycle: created, submitted, cancel requested, an untouched rewrite, cancelled.
fn lifecycle() -> Vec<OrderChange> {
    let pending = order();
    let submitted = moved(&pending, OrderStatus::Submitted);
    let requested = moved(&submitted, OrderStatus::CancelRequested);
    let cancelled = moved(&requested, OrderStatus::Cancelled);
    vec![
        change("1", ChangeKind::Insert, None, Some(&pending)),
        change("2", ChangeKind::Modify, Some(&pending), Some(&submitted)),
        change("3", ChangeKind::Modify, Some(&submitted), Some(&requested)),
        change("4", ChangeKind::Modify, Some(&requested), Some(&requested)),
        change("5", ChangeKind::Modify, Some(&requested), Some(&cancelled)),
    ]
}

#[tokio::test]
async fn every_versioned_change_is_announced_and_work_the_batch_shows_done_is_not_backed_up() {
    let (events, queue) = (MemoryEvents::new(), MemoryQueue::new());
    let changes = lifecycle();
    let out = publish_fresh(&events, &queue, &changes).await;
    // The claim (record 2) and the cancel's confirmation (record 5) are in the batch:
    // the fast path's messages got there, so neither backstop goes out.
    assert_eq!(
        out,
        Outcome {
            events: 4,
            messages: 0,
            failed: None
        }
    );

    let published = events.published();
    let moves: Vec<_> = published
        .iter()
        .map(|e| (e.previous_status, e.new_status, e.version))
        .collect();
    use OrderStatus::*;
    assert_eq!(
        moves,
        [
            (None, Pending, 1),
            (Some(Pending), Submitted, 2),
            (Some(Submitted), CancelRequested, 3),
            (Some(CancelRequested), Cancelled, 4)
        ]
    );
    assert_eq!(published[0].client_order_id.as_deref(), Some("c-1"));
    assert!(queue.is_empty());
}

/// The bodies of the messages `queue` holds, and every send's delay.
async fn sent(queue: &MemoryQueue) -> (Vec<String>, Vec<u32>) {
    let bodies = queue
        .receive(10, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    (bodies, queue.send_delays())
}

#[tokio::test]
async fn an_order_that_still_waits_when_read_gets_its_backstop_late_and_one_that_moved_on_none() {
    let pending = order();
    let requested = moved(&moved(&pending, OrderStatus::Submitted), OrderStatus::CancelRequested);
    let inserted = [change("1", ChangeKind::Insert, None, Some(&pending))];
    let asked = [change(
        "7",
        ChangeKind::Modify,
        Some(&moved(&pending, OrderStatus::Submitted)),
        Some(&requested),
    )];
    let expect = |of: &str| {
        format!(
            r#"{{"kind":"backstop","trader_id":"alice","order_id":"{}","of":"{of}"}}"#,
            pending.order_id
        )
    };

    // Still PENDING when read (the fast path's send failed): the backstop, 5 s late.
    let (events, queue, orders) = (MemoryEvents::new(), MemoryQueue::new(), MemoryStore::new());
    orders.overwrite_order(pending.clone());
    let out = publish_changes(&events, &queue, w(&orders, &MemoryIntakeStore::new()), &inserted).await;
    assert_eq!((out.events, out.messages, out.failed), (1, 1, None));
    assert_eq!(sent(&queue).await, (vec![expect("execute")], vec![BACKSTOP_DELAY_SECS]));

    // Claimed by the time it is read: nothing.
    let queue = MemoryQueue::new();
    orders.overwrite_order(moved(&pending, OrderStatus::Submitted));
    let out = publish_changes(&events, &queue, w(&orders, &MemoryIntakeStore::new()), &inserted).await;
    assert_eq!((out.messages, out.failed), (0, None));
    assert!(queue.is_empty());

    // A cancel the venue has not confirmed yet: backed up.
    let queue = MemoryQueue::new();
    orders.overwrite_order(requested.clone());
    let out = publish_changes(&events, &queue, w(&orders, &MemoryIntakeStore::new()), &asked).await;
    assert_eq!(out.messages, 1);
    assert_eq!(sent(&queue).await, (vec![expect("cancel")], vec![BACKSTOP_DELAY_SECS]));

    // Confirmed: nothing.
    let queue = MemoryQueue::new();
    orders.overwrite_order(moved(&requested, OrderStatus::Cancelled));
    let out = publish_changes(&events, &queue, w(&orders, &MemoryIntakeStore::new()), &asked).await;
    assert_eq!(out.messages, 0);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_cancel_whose_executor_part_is_done_gets_no_backstop_and_one_not_marked_does() {
    let submitted = moved(&order(), OrderStatus::Submitted);
    let requested = moved(&submitted, OrderStatus::CancelRequested);
    let asked = [change("7", ChangeKind::Modify, Some(&submitted), Some(&requested))];
    let (events, orders, intake) = (MemoryEvents::new(), MemoryStore::new(), MemoryIntakeStore::new());
    // The venue has not ended the order yet: it still waits, as read.
    orders.overwrite_order(requested.clone());
    let working = |cancel_done| WorkingOrder {
        order_id: requested.order_id,
        trader_id: requested.trader_id.clone(),
        venue_order_id: None,
        cancel_done,
    };

    // In the working index, its cancel not sent (the fast path's message is lost):
    // backed up.
    intake.put_working(&working(false)).await.unwrap();
    let queue = MemoryQueue::new();
    let out = publish_changes(&events, &queue, w(&orders, &intake), &asked).await;
    assert_eq!((out.messages, out.failed), (1, None));

    // The executor sent the cancel and the venue shows it under way: the sweep ends the order,
    // nothing for a backstop to do.
    intake.put_working(&working(true)).await.unwrap();
    let queue = MemoryQueue::new();
    let out = publish_changes(&events, &queue, w(&orders, &intake), &asked).await;
    assert_eq!((out.events, out.messages, out.failed), (1, 0, None));
    assert!(queue.is_empty());

    // The mark speaks for cancels only: a replace waiting on the same order is backed up.
    let replacing = moved(&submitted, OrderStatus::ReplaceRequested);
    let replace = [change("8", ChangeKind::Modify, Some(&submitted), Some(&replacing))];
    orders.overwrite_order(replacing.clone());
    let queue = MemoryQueue::new();
    let out = publish_changes(&events, &queue, w(&orders, &intake), &replace).await;
    assert_eq!(out.messages, 1);
}

#[tokio::test]
async fn an_order_that_cannot_be_read_gets_its_backstop() {
    let pending = order();
    let (events, queue, orders) = (MemoryEvents::new(), MemoryQueue::new(), MemoryStore::new());
    orders.overwrite_order(moved(&pending, OrderStatus::Submitted));
    orders.fail_order_reads(true);
    let inserted = [change("1", ChangeKind::Insert, None, Some(&pending))];
    let out = publish_changes(&events, &queue, w(&orders, &MemoryIntakeStore::new()), &inserted).await;
    assert_eq!(out.messages, 1, "a read that fails keeps the backstop");
}

#[tokio::test]
async fn removals_and_inserts_of_non_pending_orders_queue_nothing() {
    let o = moved(&order(), OrderStatus::Submitted);
    let changes = [
        change("1", ChangeKind::Insert, None, Some(&o)),
        change("2", ChangeKind::Remove, Some(&o), None),
    ];
    let (events, queue) = (MemoryEvents::new(), MemoryQueue::new());
    let out = publish_fresh(&events, &queue, &changes).await;
    assert_eq!(
        out,
        Outcome {
            events: 1,
            messages: 0,
            failed: None
        }
    );
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_refused_entry_fails_its_own_record_and_the_bus_down_fails_the_first() {
    let (events, queue) = (MemoryEvents::new(), MemoryQueue::new());
    // Events of records 1, 2, 3, 5: entry 2 is record "3"'s, entry 3 record "5"'s.
    events.refuse_next(&[3, 2]);
    let out = publish_fresh(&events, &queue, &lifecycle()).await;
    let failed = out.failed.unwrap();
    assert_eq!(failed.sequence_number, "3");
    assert!(failed.reason.contains("InternalFailure"), "{}", failed.reason);
    assert_eq!(out.events, 2);

    events.fail_next(1);
    let out = publish_fresh(&events, &queue, &lifecycle()).await;
    assert_eq!(out.failed.map(|f| f.sequence_number).as_deref(), Some("1"));
    assert_eq!(out.events, 0);
}

/// Sends succeed until `ok` of them went through.
struct FlakyQueue {
    ok: AtomicU32,
}

#[async_trait]
impl WorkQueue for FlakyQueue {
    async fn send(&self, _m: &WorkMessage, _d: u32) -> Result<(), QueueError> {
        self.ok
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| QueueError::Unavailable("injected".into()))
    }
    async fn receive(&self, _max: u32, _wait: u32) -> Result<Vec<ReceivedMessage>, QueueError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _r: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn change_visibility(&self, _r: &str, _s: u32) -> Result<(), QueueError> {
        Ok(())
    }
}

#[tokio::test]
async fn an_unqueued_message_fails_its_record_even_when_its_event_went_out() {
    let events = MemoryEvents::new();
    let queue = FlakyQueue { ok: AtomicU32::new(1) };
    // Three orders created; none in the store (a read that finds nothing keeps the backstop).
    let out = publish_fresh(&events, &queue, &inserts(3)).await;
    let failed = out.failed.unwrap();
    assert_eq!(failed.sequence_number, "001", "the backstop of record 001 was refused");
    assert!(
        failed.reason.starts_with("work message not queued"),
        "{}",
        failed.reason
    );
    assert_eq!((out.events, out.messages), (3, 1));
}

/// Publishes after a pause per call.
struct SlowEvents {
    inner: MemoryEvents,
    pause: std::time::Duration,
}

#[async_trait]
impl StatusEvents for SlowEvents {
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError> {
        tokio::time::sleep(self.pause).await;
        self.inner.publish(events).await
    }

    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError> {
        self.inner.publish_trading_states(events).await
    }

    async fn publish_reconciliations(&self, events: &[ReconciliationEvent]) -> Result<(), PublishError> {
        self.inner.publish_reconciliations(events).await
    }
}

/// `n` orders created, one change each.
fn inserts(n: usize) -> Vec<OrderChange> {
    (0..n)
        .map(|i| change(&format!("{i:03}"), ChangeKind::Insert, None, Some(&order())))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_batch_stops_before_the_deadline_and_names_the_first_change_not_done() {
    use std::time::Duration;
    let changes = inserts(25);
    let slow = || SlowEvents {
        inner: MemoryEvents::new(),
        pause: Duration::from_millis(300),
    };
    let now = tokio::time::Instant::now;

    // Time for one round: the second is not started (300 ms left < 400 ms reserve).
    let (events, queue) = (slow(), MemoryQueue::new());
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        Some(now() + Duration::from_millis(600)),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!(
        out.failed.as_ref().map(|f| f.sequence_number.as_str()),
        Some("010"),
        "{out:?}"
    );
    assert!(out.failed.unwrap().reason.contains("deadline"));
    assert_eq!((out.events, out.messages), (10, 10));
    assert_eq!(events.inner.published().len(), 10);

    // A round that starts but cannot finish is cut off at the deadline.
    let (events, queue) = (slow(), MemoryQueue::new());
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        Some(now() + Duration::from_millis(450)),
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(out.failed.map(|f| f.sequence_number), Some("010".to_owned()));
    assert_eq!(out.events, 10);

    // Less than the reserve from the start: the first round still runs.
    let (events, queue) = (slow(), MemoryQueue::new());
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        Some(now() + Duration::from_millis(350)),
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(out.failed.map(|f| f.sequence_number), Some("010".to_owned()));
    assert_eq!(out.events, 10, "a batch always makes progress");

    // Time enough: every change, as publish_changes would.
    let (events, queue) = (slow(), MemoryQueue::new());
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        Some(now() + Duration::from_secs(5)),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!((out.events, out.messages, out.failed), (25, 25, None));
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        None,
        Duration::ZERO,
    )
    .await;
    assert_eq!((out.events, out.failed), (25, None));
}

/// Refuses the third entry of its second call.
struct SecondCallRefuses {
    inner: MemoryEvents,
    calls: AtomicU32,
}

#[async_trait]
impl StatusEvents for SecondCallRefuses {
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 1 {
            self.inner.refuse_next(&[2]);
        }
        self.inner.publish(events).await
    }

    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError> {
        self.inner.publish_trading_states(events).await
    }

    async fn publish_reconciliations(&self, events: &[ReconciliationEvent]) -> Result<(), PublishError> {
        self.inner.publish_reconciliations(events).await
    }
}

#[tokio::test]
async fn a_failure_in_a_later_round_names_its_own_change() {
    let changes = inserts(15);
    let (events, queue) = (
        SecondCallRefuses {
            inner: MemoryEvents::new(),
            calls: AtomicU32::new(0),
        },
        MemoryQueue::new(),
    );
    let out = publish_before(
        &events,
        &queue,
        w(&MemoryStore::new(), &MemoryIntakeStore::new()),
        &changes,
        None,
        std::time::Duration::ZERO,
    )
    .await;
    assert_eq!(out.failed.map(|f| f.sequence_number), Some("012".to_owned()));
    assert_eq!(out.events, 14, "round 1 and round 2 but its refused entry");
}

fn reconciled(n: u64) -> ReconciliationEvent {
    let o = order();
    ReconciliationEvent {
        reconciliation_id: format!("{:013}#{}", 1_795_838_706_000 + n, o.order_id),
        order_id: o.order_id,
        trader_id: o.trader_id,
        venue_order_id: format!("v-{n}"),
        venue_status: "canceled".into(),
        from_status: OrderStatus::CancelRequested,
        to_status: OrderStatus::Cancelled,
        corrected: true,
        reason: "The venue reports the order canceled".into(),
        at: Timestamp::now(),
    }
}

fn operator_records() -> Vec<OperatorRecord> {
    let halt = TradingStateEvent {
        scope: "deployment".into(),
        trader_id: None,
        previous_state: TradingState::Active,
        state: TradingState::Halted,
        audit_sequence: 2,
    };
    vec![
        OperatorRecord {
            sequence_number: "10".into(),
            changes_before: 0,
            event: OperatorEvent::Reconciled(reconciled(1)),
        },
        OperatorRecord {
            sequence_number: "20".into(),
            changes_before: 1,
            event: OperatorEvent::TradingState(halt),
        },
        OperatorRecord {
            sequence_number: "30".into(),
            changes_before: 3,
            event: OperatorEvent::Reconciled(reconciled(2)),
        },
    ]
}

#[tokio::test]
async fn reconciliation_findings_and_trading_states_are_each_published_as_their_own_events() {
    let events = MemoryEvents::new();
    let records = operator_records();
    assert_eq!(publish_operator_events(&events, &records).await, Ok(3));
    let published = events.published_reconciliations();
    assert_eq!(published, [reconciled_of(&records[0]), reconciled_of(&records[2])]);
    assert_eq!(events.published_trading_states().len(), 1);
    assert!(events.published().is_empty(), "no status event stands in for them");
}

fn reconciled_of(r: &OperatorRecord) -> ReconciliationEvent {
    match &r.event {
        OperatorEvent::Reconciled(e) => e.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refused_reconciliation_entry_names_its_own_record_and_the_bus_down_the_first() {
    let records = operator_records();
    // The second reconciliation entry (record "30") refused: PutEvents' FailedEntryCount.
    let events = MemoryEvents::new();
    events.refuse_next(&[1]);
    let (i, failure) = publish_operator_events(&events, &records).await.unwrap_err();
    assert_eq!((i, failure.sequence_number.as_str()), (2, "30"));
    assert!(
        failure.reason.starts_with("reconciliation event not published") && failure.reason.contains("InternalFailure"),
        "{}",
        failure.reason
    );
    assert_eq!(events.published_reconciliations(), [reconciled_of(&records[0])]);

    // The bus down for every call: the first record of the batch, whichever kind it is.
    let events = MemoryEvents::new();
    events.fail_next(2);
    let (i, failure) = publish_operator_events(&events, &records).await.unwrap_err();
    assert_eq!((i, failure.sequence_number.as_str()), (0, "10"));

    // Only the reconciliations' call fails: its first record, not the trading state's.
    let only_second = vec![records[1].clone(), records[2].clone()];
    let events = MemoryEvents::new();
    events.refuse_next(&[0]);
    let (i, failure) = publish_operator_events(&events, &only_second).await.unwrap_err();
    assert_eq!((i, failure.sequence_number.as_str()), (1, "30"));
    assert_eq!(events.published_trading_states().len(), 1);
}
