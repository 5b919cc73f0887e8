//! Operators' records (issue 22): a record a transition carries commits with it or not
//! at all; a day's records of a kind list newest first, a page at a time; a mismatch is
//! recorded once a day. The dead-letter queue: its depth is read without receiving,
//! and a redrive moves its messages back to the work queue, bounded per call.

use std::time::Duration;

use shared::app::{AuditContext, plan_transition};
use shared::domain::{OrderEvent, OrderId, OrderStatus, Timestamp};
use shared::ports::{Attention, AttentionKind, StoreError, WorkMessage};

use crate::cases::{funded, step, submit};
use crate::fixture::{Fixture, unique_trader};

fn stall_record(order: &shared::domain::Order, at: Timestamp, reason: &str) -> Attention {
    Attention {
        kind: AttentionKind::Stalled,
        trader_id: order.trader_id.clone(),
        order_id: order.order_id,
        at,
        from_status: order.status,
        to_status: order.status,
        venue_status: None,
        venue_order_id: None,
        reason: reason.into(),
        corrected: false,
    }
}

pub async fn an_operators_record_commits_with_its_transition_or_not_at_all(f: Fixture) {
    let (_, acct) = funded(&f, 10_000).await;
    let a = step(&f, &submit(&f, &acct, "1", "100").await, OrderEvent::Claim).await;
    let b = step(&f, &submit(&f, &acct, "1", "100").await, OrderEvent::Claim).await;
    // A day of its own far in the past, so other tests' records are not in it.
    let base = Timestamp::from_unix_millis(946_684_800_000 + (ulid::Ulid::new().0 % 1_000_000) as i64 * 86_400_000)
        .expect("a time");
    let day = base.datetime().date();
    let stall = |order: &shared::domain::Order, offset_ms: i64, reason: &str| {
        let at = Timestamp::from_unix_millis(base.unix_millis() + offset_ms).expect("a time");
        let mut w = plan_transition(
            order,
            &OrderEvent::Stall { reason: reason.into() },
            None,
            &AuditContext::system("execute"),
            at,
        )
        .expect("a stall is allowed");
        w.attention = Some(stall_record(order, at, reason));
        w
    };
    f.store.transition(stall(&a, 1_000, "first")).await.expect("commit");
    f.store.transition(stall(&b, 2_000, "second")).await.expect("commit");
    // From a stale read: refused, and its record is not written either.
    assert_eq!(
        f.store.transition(stall(&a, 3_000, "stale")).await,
        Err(StoreError::Conflict)
    );

    let first = f
        .attention
        .attention_records(AttentionKind::Stalled, day, 1, None)
        .await
        .expect("list");
    assert_eq!(first.records.len(), 1);
    assert_eq!(
        (first.records[0].order_id, first.records[0].reason.as_str()),
        (b.order_id, "second")
    );
    assert_eq!(
        first.records[0],
        stall_record(&b, first.records[0].at, "second"),
        "read back whole"
    );
    let next = first.next.expect("a second page");
    let second = f
        .attention
        .attention_records(AttentionKind::Stalled, day, 10, Some(&next))
        .await
        .expect("list");
    let reasons: Vec<&str> = second.records.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["first"], "newest first; the stale one never written");
    assert_eq!(second.next, None);
    let other = f
        .attention
        .attention_records(AttentionKind::Reconciliation, day, 10, None)
        .await
        .expect("list");
    assert!(other.records.is_empty(), "kinds are listed apart");
    let order = f.store.get_order(&a.trader_id, &a.order_id).await.expect("read");
    assert_eq!(order.map(|o| o.reason), Some(Some("first".to_owned())));
}

pub async fn a_mismatch_is_recorded_once_a_day(f: Fixture) {
    let trader = unique_trader();
    let base = Timestamp::from_unix_millis(978_307_200_000 + (ulid::Ulid::new().0 % 1_000_000) as i64 * 86_400_000)
        .expect("a time");
    let order_id = OrderId::new();
    let record = |offset_ms: i64| Attention {
        kind: AttentionKind::Reconciliation,
        trader_id: trader.clone(),
        order_id,
        at: Timestamp::from_unix_millis(base.unix_millis() + offset_ms).expect("a time"),
        from_status: OrderStatus::Submitted,
        to_status: OrderStatus::Submitted,
        venue_status: Some("canceled".into()),
        venue_order_id: Some("v-1".into()),
        reason: "books differ".into(),
        corrected: false,
    };
    let once = format!("{order_id}#books");
    assert!(
        f.attention
            .record_attention_once(&record(0), &once)
            .await
            .expect("record")
    );
    assert!(
        !f.attention
            .record_attention_once(&record(5_000), &once)
            .await
            .expect("record")
    );
    // The next day it is recorded again.
    assert!(
        f.attention
            .record_attention_once(&record(86_400_000), &once)
            .await
            .expect("record")
    );
    let day = base.datetime().date();
    let listed = f
        .attention
        .attention_records(AttentionKind::Reconciliation, day, 10, None)
        .await
        .expect("list");
    assert_eq!(listed.records.len(), 1, "{listed:?}");
    assert_eq!(listed.records[0], record(0), "the first one, read back whole");
}

pub async fn dead_letters_are_counted_and_moved_back_to_the_work_queue(f: Fixture) {
    let trader = unique_trader();
    let messages: Vec<WorkMessage> = (0..3)
        .map(|_| WorkMessage::Execute {
            trader_id: trader.clone(),
            order_id: OrderId::new(),
        })
        .collect();
    assert_eq!(f.dead_letters.dead_letter_depth().await.expect("depth").messages, 0);
    for m in &messages {
        f.dead_letter(m).await;
    }
    assert_eq!(f.dead_letters.dead_letter_depth().await.expect("depth").messages, 3);
    assert!(
        f.queue.receive(10, 0).await.expect("receive").is_empty(),
        "counting received nothing"
    );

    let first = f.dead_letters.redrive_dead_letters(2).await.expect("redrive");
    assert_eq!((first.moved, first.more), (2, true));
    let rest = f.dead_letters.redrive_dead_letters(10).await.expect("redrive");
    assert_eq!((rest.moved, rest.more), (1, false));
    assert_eq!(f.dead_letters.dead_letter_depth().await.expect("depth").messages, 0);

    let mut back = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while back.len() < 3 && tokio::time::Instant::now() < deadline {
        for m in f.queue.receive(10, 1).await.expect("receive") {
            back.push(serde_json::from_str::<WorkMessage>(&m.body).expect("a work message"));
            f.queue.delete(&m.receipt_handle).await.expect("delete");
        }
    }
    back.sort_by_key(|m| m.ids().1.to_string());
    let mut sent = messages.clone();
    sent.sort_by_key(|m| m.ids().1.to_string());
    assert_eq!(back, sent, "each is work again, once");
}
