//! The live-update use cases (issue 18) over the in-memory ports: the fan-out reaches
//! every live connection of the event's trader and no one else's, in stream order,
//! forgets Gone and expired connections, closes one that missed an event and stops
//! the batch where it cannot; subscribe replays from a cursor.

use rust_decimal::Decimal;
use shared::adapters::memory::{MemoryConnections, MemoryOrderChanges, MemoryPusher};
use shared::app::fanout::{fan_out, sweep};
use shared::app::live::{CONNECTION_LIFETIME_SECS, LiveError, REPLAY_LIMIT, REPLAY_OVERLAP_SECS, parse_cursor};
use shared::app::live_routes::{connect, disconnect, subscribe};
use shared::domain::{ChangeKind, Order, OrderChange, OrderId, OrderStatus, Timestamp, TraderId, validate_order};
use shared::ports::{Connections, LiveConnection, StatusEvent};

fn trader(name: &str) -> TraderId {
    TraderId::parse(name).unwrap()
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn order(of: &str, updated: &str) -> Order {
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
        "limit_price": "150.25"});
    let draft = validate_order(&body).unwrap();
    let mut o = Order::pending(OrderId::new(), trader(of), draft, Decimal::from(1503), at(updated));
    o.updated_at = at(updated);
    o
}

/// The stream's change that took an order of `of` from version - 1 (PENDING) to
/// `version` (SUBMITTED), record `seq`.
fn change_of(o: &Order, seq: u32) -> OrderChange {
    let mut old = o.clone();
    old.version = o.version - 1;
    old.status = OrderStatus::Pending;
    OrderChange {
        sequence_number: format!("{seq:05}"),
        kind: ChangeKind::Modify,
        old: Some(old),
        new: Some(o.clone()),
    }
}

fn submitted(of: &str, version: u64) -> Order {
    let mut o = order(of, "2026-11-27T10:00:00Z");
    o.version = version;
    o.status = OrderStatus::Submitted;
    o
}

fn change(of: &str, version: u64) -> OrderChange {
    change_of(&submitted(of, version), 1)
}

/// `n` versions (2..) of one order of `of`, records `first..`.
fn versions(of: &str, n: u64, first: u32) -> Vec<OrderChange> {
    let o = submitted(of, 2);
    (0..n)
        .map(|k| {
            let mut v = o.clone();
            v.version = 2 + k;
            change_of(&v, first + k as u32)
        })
        .collect()
}

fn versions_received(pusher: &MemoryPusher, connection: &str) -> Vec<u64> {
    pusher
        .received(connection)
        .iter()
        .filter_map(|m| m["version"].as_u64())
        .collect()
}

const NOW: &str = "2026-11-27T10:00:01Z";

#[tokio::test]
async fn an_event_reaches_every_connection_of_its_trader_and_no_other() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    for (t, c) in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")] {
        connect(&conns, &trader(t), c, None, at(NOW)).await.unwrap();
    }
    let c = change("alice", 2);
    let e = StatusEvent::of(Some(OrderStatus::Pending), c.new.as_ref().unwrap());
    let out = fan_out(&conns, &pusher, &[c], at(NOW)).await;
    assert_eq!((out.events, out.report.delivered, out.stopped), (1, 2, None));
    for c in ["a1", "a2"] {
        let got = pusher.received(c);
        assert_eq!(got.len(), 1, "{c}");
        assert_eq!(got[0]["type"], "order_update");
        assert_eq!(got[0]["replay"], false);
        assert_eq!(got[0]["order_id"], e.order_id.to_string());
        assert_eq!(got[0]["version"], 2);
        assert_eq!(got[0]["trader_id"], "alice");
        assert_eq!(got[0]["cursor"], e.timestamp.to_string());
        assert_eq!(got[0]["new_status"], "SUBMITTED");
        assert_eq!(got[0]["previous_status"], "PENDING");
    }
    assert!(pusher.received("b1").is_empty());
}

#[tokio::test]
async fn each_connection_gets_an_orders_versions_in_stream_order_and_only_its_traders() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    for (t, c) in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")] {
        connect(&conns, &trader(t), c, None, at(NOW)).await.unwrap();
    }
    // Interleaved as the stream carries them: alice v2, bob v2, alice v3, bob v3, ...
    let (a, b) = (versions("alice", 5, 0), versions("bob", 5, 100));
    let batch: Vec<OrderChange> = a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect();
    let out = fan_out(&conns, &pusher, &batch, at(NOW)).await;
    assert_eq!((out.events, out.report.delivered, out.stopped), (10, 15, None));
    for c in ["a1", "a2", "b1"] {
        assert_eq!(versions_received(&pusher, c), vec![2, 3, 4, 5, 6], "{c}");
    }
    assert!(pusher.received("a1").iter().all(|m| m["trader_id"] == "alice"));
    assert!(pusher.received("b1").iter().all(|m| m["trader_id"] == "bob"));
}

#[tokio::test]
async fn changes_without_a_new_version_send_nothing() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    connect(&conns, &trader("alice"), "a1", None, at(NOW)).await.unwrap();
    let mut same = change("alice", 3);
    if let Some(old) = same.old.as_mut() {
        old.version = 3;
    }
    let removed = OrderChange {
        kind: ChangeKind::Remove,
        new: None,
        ..change("alice", 3)
    };
    let out = fan_out(&conns, &pusher, &[same, removed], at(NOW)).await;
    assert_eq!((out.events, out.report.delivered), (0, 0));
    assert!(pusher.received("a1").is_empty());
}

#[tokio::test]
async fn a_connection_stored_under_the_trader_but_naming_another_is_never_sent_to() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    let forged = LiveConnection {
        connection_id: "b1".into(),
        trader_id: trader("bob"),
        connected_at: at(NOW),
        expires_at: at(NOW).plus_seconds(60),
    };
    conns.insert_under(&trader("alice"), forged);
    let out = fan_out(&conns, &pusher, &[change("alice", 2)], at(NOW)).await;
    assert_eq!((out.report.delivered, out.report.foreign), (0, 1));
    assert!(pusher.received("b1").is_empty());
}

#[tokio::test]
async fn gone_connections_are_forgotten_and_the_others_still_served() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    connect(&conns, &trader("alice"), "a1", None, at(NOW)).await.unwrap();
    connect(&conns, &trader("alice"), "a2", None, at(NOW)).await.unwrap();
    pusher.make_gone("a1");
    let out = fan_out(&conns, &pusher, &versions("alice", 2, 0), at(NOW)).await;
    assert_eq!((out.report.delivered, out.report.gone, out.stopped), (2, 1, None));
    assert_eq!(conns.ids(), vec!["a2".to_owned()]);
    assert_eq!(versions_received(&pusher, "a2"), vec![2, 3]);
}

#[tokio::test]
async fn a_connection_that_misses_an_event_is_closed_and_sent_nothing_after_it() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    connect(&conns, &trader("alice"), "a1", None, at(NOW)).await.unwrap();
    connect(&conns, &trader("alice"), "a2", None, at(NOW)).await.unwrap();
    let batch = versions("alice", 3, 0);
    // a2 takes v2, then is throttled for v3: closed, so it never sees v4 without v3.
    let first = fan_out(&conns, &pusher, &batch[..1], at(NOW)).await;
    assert_eq!(first.report.delivered, 2);
    pusher.refuse_pushes("a2");
    let out = fan_out(&conns, &pusher, &batch[1..], at(NOW)).await;
    assert_eq!((out.report.delivered, out.report.closed, out.stopped), (2, 1, None));
    assert_eq!(versions_received(&pusher, "a1"), vec![2, 3, 4]);
    assert_eq!(versions_received(&pusher, "a2"), vec![2], "nothing after the missed v3");
    assert_eq!(pusher.closed(), vec!["a2".to_owned()], "closed: its client resumes");
    assert_eq!(conns.ids(), vec!["a1".to_owned()], "and forgotten");
}

#[tokio::test]
async fn a_connection_that_can_be_neither_sent_to_nor_closed_stops_its_traders_events_there() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    for (t, c) in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")] {
        connect(&conns, &trader(t), c, None, at(NOW)).await.unwrap();
    }
    // bob v2 (00100), alice v2 (00000), bob v3 (00101), alice v3 (00001), ...
    let (a, b) = (versions("alice", 3, 0), versions("bob", 3, 100));
    let batch: Vec<OrderChange> = b.into_iter().zip(a).flat_map(|(x, y)| [x, y]).collect();
    pusher.make_failing("a2");
    let out = fan_out(&conns, &pusher, &batch, at(NOW)).await;
    let stopped = out.stopped.expect("stopped at alice's first event");
    assert_eq!(stopped.sequence_number, "00000");
    assert!(stopped.reason.contains("a2"), "{}", stopped.reason);
    assert_eq!(versions_received(&pusher, "b1"), vec![2, 3, 4], "other traders go on");
    assert_eq!(
        versions_received(&pusher, "a1"),
        vec![2],
        "alice's stop at the failed event"
    );
    assert_eq!(conns.ids().len(), 3, "a connection that could not be closed is kept");
    // Lambda retries from the record named: everything from it goes out again, in order.
    pusher.heal("a2");
    let from = batch
        .iter()
        .position(|c| c.sequence_number == stopped.sequence_number)
        .unwrap();
    let retry = fan_out(&conns, &pusher, &batch[from..], at(NOW)).await;
    assert_eq!(retry.stopped, None);
    assert_eq!(versions_received(&pusher, "a2"), vec![2, 3, 4]);
    assert_eq!(
        versions_received(&pusher, "a1"),
        vec![2, 2, 3, 4],
        "a repeat, then in order"
    );
}

#[tokio::test]
async fn a_connections_table_that_cannot_be_read_stops_the_batch_at_the_traders_first_event() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    connect(&conns, &trader("alice"), "a1", None, at(NOW)).await.unwrap();
    conns.fail_reads(true);
    let out = fan_out(&conns, &pusher, &versions("alice", 2, 7), at(NOW)).await;
    assert_eq!(out.stopped.map(|s| s.sequence_number), Some("00007".to_owned()));
    assert!(pusher.received("a1").is_empty());
}

#[tokio::test]
async fn a_connection_lasts_two_hours_or_until_its_token_expires() {
    let conns = MemoryConnections::new();
    let c = connect(&conns, &trader("alice"), "a1", None, at(NOW)).await.unwrap();
    assert_eq!(c.expires_at, at(NOW).plus_seconds(CONNECTION_LIFETIME_SECS));
    let soon = at(NOW).plus_seconds(300);
    let c = connect(&conns, &trader("alice"), "a2", Some(soon), at(NOW))
        .await
        .unwrap();
    assert_eq!(c.expires_at, soon);
    let late = at(NOW).plus_seconds(CONNECTION_LIFETIME_SECS * 3);
    let c = connect(&conns, &trader("alice"), "a3", Some(late), at(NOW))
        .await
        .unwrap();
    assert_eq!(c.expires_at, at(NOW).plus_seconds(CONNECTION_LIFETIME_SECS));
    disconnect(&conns, &trader("alice"), "a3").await.unwrap();
    assert_eq!(conns.of_trader(&trader("alice")).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_connection_whose_token_expired_is_closed_not_sent_to() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    let token_exp = at(NOW).plus_seconds(10);
    connect(&conns, &trader("alice"), "a1", Some(token_exp), at(NOW))
        .await
        .unwrap();
    let later = at(NOW).plus_seconds(11);
    let out = fan_out(&conns, &pusher, &[change("alice", 2)], later).await;
    assert_eq!((out.report.delivered, out.report.expired), (0, 1));
    assert!(pusher.received("a1").is_empty());
    assert_eq!(pusher.closed(), vec!["a1".to_owned()]);
    assert!(conns.ids().is_empty());
}

#[tokio::test]
async fn the_sweep_closes_and_forgets_the_connections_past_their_expiry_and_only_those() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    let soon = |s| Some(at(NOW).plus_seconds(s));
    for (t, c, exp) in [
        ("alice", "a1", soon(10)),
        ("alice", "a2", None),
        ("bob", "b1", soon(5)),
        ("bob", "b2", soon(1)),
    ] {
        connect(&conns, &trader(t), c, exp, at(NOW)).await.unwrap();
    }
    // b2 is already gone at API Gateway: closed all the same, and forgotten.
    pusher.make_gone("b2");
    let report = sweep(&conns, &pusher, at(NOW).plus_seconds(10)).await.unwrap();
    assert_eq!((report.closed, report.gone), (2, 1));
    let mut closed = pusher.closed();
    closed.sort();
    assert_eq!(closed, vec!["a1".to_owned(), "b1".to_owned()]);
    assert_eq!(conns.ids(), vec!["a2".to_owned()], "the live connection stays");
    assert!(pusher.received("a2").is_empty(), "a sweep sends nothing");
}

#[tokio::test]
async fn a_connection_the_sweep_could_not_close_is_kept_for_the_next_sweep_and_reported() {
    let (conns, pusher) = (MemoryConnections::new(), MemoryPusher::new());
    for c in ["a1", "a2"] {
        connect(&conns, &trader("alice"), c, Some(at(NOW)), at(NOW))
            .await
            .unwrap();
    }
    pusher.make_failing("a1");
    let err = sweep(&conns, &pusher, at(NOW)).await.unwrap_err();
    let LiveError::Undelivered { failed, delivered } = err else {
        panic!("not an Undelivered error: {err:?}")
    };
    assert_eq!((failed.len(), failed[0].0.as_str(), delivered), (1, "a1", 1));
    assert_eq!(conns.ids(), vec!["a1".to_owned()], "kept: the next sweep tries again");
}

#[tokio::test]
async fn subscribe_replays_the_traders_orders_changed_since_the_cursor_then_says_subscribed() {
    let (orders, pusher) = (MemoryOrderChanges::new(), MemoryPusher::new());
    let old = order("alice", "2026-11-27T09:00:00Z");
    let in_overlap = order("alice", "2026-11-27T09:59:30Z");
    let newer = order("alice", "2026-11-27T10:00:05.250Z");
    let others = order("bob", "2026-11-27T10:00:06Z");
    for o in [&old, &in_overlap, &newer, &others] {
        orders.put(o.clone());
    }
    let cursor = parse_cursor(Some("2026-11-27T10:00:00Z")).unwrap();
    let report = subscribe(&orders, &pusher, &trader("alice"), "a1", cursor)
        .await
        .unwrap();
    assert_eq!(report.replayed, 2);
    let got = pusher.received("a1");
    let ids: Vec<_> = got.iter().filter_map(|m| m["order_id"].as_str()).collect();
    assert_eq!(ids, vec![in_overlap.order_id.to_string(), newer.order_id.to_string()]);
    assert!(
        got[..2]
            .iter()
            .all(|m| m["replay"] == true && m["type"] == "order_update")
    );
    assert_eq!(got[1]["cursor"], "2026-11-27T10:00:05.25Z");
    let last = got.last().unwrap();
    assert_eq!(last["type"], "subscribed");
    assert_eq!(last["replayed"], 2);
    assert_eq!(last["complete"], true);
    assert_eq!(last["cursor"], "2026-11-27T10:00:05.25Z");
    const { assert!(REPLAY_OVERLAP_SECS >= 30) };
}

#[tokio::test]
async fn subscribe_without_a_cursor_replays_nothing() {
    let (orders, pusher) = (MemoryOrderChanges::new(), MemoryPusher::new());
    orders.put(order("alice", "2026-11-27T09:00:00Z"));
    let report = subscribe(&orders, &pusher, &trader("alice"), "a1", None).await.unwrap();
    assert_eq!(report.replayed, 0);
    let got = pusher.received("a1");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0],
        serde_json::json!({"type": "subscribed", "cursor": null, "replayed": 0, "complete": true})
    );
}

#[tokio::test]
async fn a_long_replay_stops_at_the_limit_and_says_it_is_incomplete() {
    let (orders, pusher) = (MemoryOrderChanges::new(), MemoryPusher::new());
    for i in 0..(REPLAY_LIMIT + 3) {
        orders.put(order("alice", &format!("2026-11-27T10:{:02}:{:02}Z", i / 60, i % 60)));
    }
    let cursor = parse_cursor(Some("2026-11-27T10:00:00Z")).unwrap();
    let report = subscribe(&orders, &pusher, &trader("alice"), "a1", cursor)
        .await
        .unwrap();
    assert_eq!((report.replayed, report.complete), (REPLAY_LIMIT, false));
    let last = pusher.received("a1").pop().unwrap();
    assert_eq!(last["complete"], false);
}

#[test]
fn a_cursor_that_is_not_a_time_is_refused_with_what_to_send() {
    let err = parse_cursor(Some("yesterday")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cursor `yesterday` is not one this stream sent"),
        "{err}"
    );
    assert_eq!(parse_cursor(Some("")).unwrap(), None);
    assert_eq!(parse_cursor(None).unwrap(), None);
}
