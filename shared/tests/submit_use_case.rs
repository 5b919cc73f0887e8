// Long because: the submit use case's scenarios (replies, replays, refusals, rate limit, concurrency, the fast
// path) over one in-memory world.
//! The submit use case over the in-memory adapters: replies, replays, refusals,
//! rate limit, and the concurrency guarantees of SPEC §4–§5.

use std::sync::Arc;

use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::Value;

use shared::adapters::memory::{FixedClock, MemoryQueue, MemoryStore};
use shared::app::{SubmitDeps, SubmitRequest};
use shared::domain::{OrderStatus, Pricing, RiskLimits, Timestamp, TraderId};
use shared::http::submit::{Reply, submit};
use shared::http::{ApiError, Problem};
use shared::ports::{AuditLog, Clock, OrderStore, QueueError, ReceivedMessage, WorkMessage, WorkQueue};

struct World {
    store: Arc<MemoryStore>,
    clock: Arc<FixedClock>,
    pricing: Arc<Pricing>,
    /// The fast path's queue (`None`: none wired).
    queue: Option<Arc<dyn WorkQueue>>,
}

impl World {
    async fn new(trader: &str, cash: i64, limits: Option<RiskLimits>) -> Self {
        let store = Arc::new(MemoryStore::new());
        store
            .fund_account(&TraderId::parse(trader).unwrap(), Decimal::from(cash), limits)
            .await
            .unwrap();
        // Mid-minute, so rate windows are predictable.
        let at = Timestamp::from_unix_millis(1_789_999_990_000).unwrap(); // 10 s into its minute
        Self {
            store,
            clock: Arc::new(FixedClock::new(at)),
            pricing: Arc::new(Pricing::default()),
            queue: None,
        }
    }

    async fn submit(&self, trader: &str, body: &str, key: Option<&str>) -> Result<Reply, ApiError> {
        self.submit_confirming(trader, body, key, None).await
    }

    /// A submit with a `Confirm-Duplicate` header value.
    async fn submit_confirming(
        &self,
        trader: &str,
        body: &str,
        key: Option<&str>,
        confirm: Option<&str>,
    ) -> Result<Reply, ApiError> {
        let deps = SubmitDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            pricing: &self.pricing,
            market_data: None,
            queue: self.queue.as_deref(),
        };
        let req = SubmitRequest {
            trader: TraderId::parse(trader).unwrap(),
            body: body.as_bytes(),
            idempotency_key: key,
            request_id: Some("req-1".into()),
            confirm_duplicate: confirm,
        };
        submit(&deps, req).await
    }

    async fn orders(&self, trader: &str) -> Vec<shared::domain::Order> {
        self.store
            .list_orders(&TraderId::parse(trader).unwrap(), None, 1000, None)
            .await
            .unwrap()
            .orders
    }
}

fn json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap()
}

const LIMIT_BUY: &str =
    r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "150.25"}"#;

#[tokio::test]
async fn an_accepted_order_is_201_pending_and_reserved() {
    let w = World::new("alice", 10_000, None).await;
    let reply = w.submit("alice", LIMIT_BUY, None).await.unwrap();
    assert_eq!((reply.status, reply.replayed), (201, false));
    let order = json(&reply);
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["reserved_amount"], "1502.50");
    assert_eq!(order["quantity"], "10");
    assert_eq!(order["trader_id"], "alice");
    assert!(order.get("audit_head").is_none(), "internal fields stay internal");
    // Queued by the outbox from the committed order (functions/publish tests).
    let stored = w
        .store
        .get_order(
            &TraderId::parse("alice").unwrap(),
            &order["order_id"].as_str().unwrap().parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, OrderStatus::Pending);
}

#[tokio::test]
async fn the_same_key_and_body_replays_and_another_body_is_refused() {
    let w = World::new("alice", 10_000, None).await;
    let first = w.submit("alice", LIMIT_BUY, Some("k1")).await.unwrap();
    // Same JSON, other key order and spacing.
    let same = r#"{"limit_price":"150.25","quantity":"10","type":"limit","side":"buy","symbol":"AAPL"}"#;
    let again = w.submit("alice", same, Some("k1")).await.unwrap();
    assert_eq!(
        (again.status, again.body.as_str(), again.replayed),
        (201, first.body.as_str(), true)
    );
    assert_eq!(w.orders("alice").await.len(), 1);
    let other = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "11", "limit_price": "150.25"}"#;
    let err = w.submit("alice", other, Some("k1")).await.unwrap_err();
    let p = Problem::from(&err);
    assert_eq!(p.status, 422);
    assert_eq!(
        p.detail,
        "Idempotency-Key k1 was already used with a different request body; use a new key for a different order"
    );
    assert_eq!(w.orders("alice").await.len(), 1);
}

#[tokio::test]
async fn insufficient_funds_is_422_with_the_exact_message_writes_only_audit_and_replays() {
    let w = World::new("bob", 3_200, None).await;
    let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "100", "limit_price": "150"}"#;
    let reply = w.submit("bob", body, Some("k-funds")).await.unwrap();
    assert_eq!(reply.status, 422);
    let p = json(&reply);
    assert_eq!(
        p["detail"],
        "Insufficient funds for $15,000.00 order; available: $3,200.00"
    );
    assert_eq!(p["type"], "/problems/insufficient-funds");
    assert_eq!(w.orders("bob").await, vec![]);
    let a = w
        .store
        .get_account(&TraderId::parse("bob").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.reserved, a.open_orders), (Decimal::ZERO, 0));
    let again = w.submit("bob", body, Some("k-funds")).await.unwrap();
    assert_eq!(
        (again.status, again.body.as_str(), again.replayed),
        (422, reply.body.as_str(), true)
    );
}

#[tokio::test]
async fn a_rejected_submit_leaves_an_audit_record() {
    let w = World::new("bob", 10, None).await;
    let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "11"}"#;
    let reply = w.submit("bob", body, None).await.unwrap();
    assert_eq!(reply.status, 422);
    // Without a key nothing is replayed: a second refusal is recorded too.
    assert_eq!(w.submit("bob", body, None).await.unwrap().status, 422);
    assert_eq!(w.orders("bob").await, vec![]);
    let records = all_audit(&w.store).await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.action == "SUBMIT_REJECTED"
        && r.reason.as_deref() == Some("Insufficient funds for $11.00 order; available: $10.00")));
}

async fn all_audit(store: &MemoryStore) -> Vec<shared::domain::AuditRecord> {
    // Rejections live under fresh ids that no reply exposes; walk them all.
    let mut out = Vec::new();
    for id in store.audit_order_ids() {
        out.extend(store.records(&id).await.unwrap());
    }
    out
}

#[tokio::test]
async fn field_errors_malformed_json_and_oversized_bodies() {
    let w = World::new("carol", 1_000, None).await;
    let reply = w
        .submit(
            "carol",
            r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "0"}"#,
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 422);
    let p = json(&reply);
    let errors: Vec<(String, String)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("quantity".into(), "Quantity must be greater than 0".into()),
            (
                "limit_price".into(),
                "Limit price is required for limit and stop_limit orders".into()
            ),
        ]
    );
    let err = w.submit("carol", "{\"symbol\": ", None).await.unwrap_err();
    assert_eq!(Problem::from(&err).status, 400);
    let huge = format!("{{\"symbol\": \"{}\"}}", "A".repeat(20_000));
    assert_eq!(
        Problem::from(&w.submit("carol", &huge, None).await.unwrap_err()).status,
        413
    );
    let err = w
        .submit("carol", LIMIT_BUY, Some("bad key with spaces"))
        .await
        .unwrap_err();
    assert_eq!(Problem::from(&err).status, 400);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let limits = RiskLimits {
        orders_per_minute: 2,
        ..RiskLimits::default()
    };
    let w = World::new("dave", 100_000, Some(limits)).await;
    for _ in 0..2 {
        assert_eq!(w.submit("dave", LIMIT_BUY, None).await.unwrap().status, 201);
    }
    let p = Problem::from(&w.submit("dave", LIMIT_BUY, None).await.unwrap_err());
    assert_eq!((p.status, p.retry_after_secs), (429, Some(50)));
    assert_eq!(p.detail, "Rate limit of 2 orders per minute exceeded; retry after 50 s");
    w.clock.advance_seconds(60);
    assert_eq!(w.submit("dave", LIMIT_BUY, None).await.unwrap().status, 201);
}

#[tokio::test]
async fn two_hundred_concurrent_submits_with_funds_for_fifty_accept_fifty() {
    let limits = RiskLimits {
        orders_per_minute: 1_000,
        max_open_orders: 1_000,
        ..RiskLimits::default()
    };
    let w = Arc::new(World::new("erin", 50 * 1_000, Some(limits)).await);
    let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "100"}"#;
    let replies = join_all((0..200).map(|_| {
        let w = w.clone();
        tokio::spawn(async move { w.submit("erin", body, None).await })
    }))
    .await;
    let statuses: Vec<u16> = replies.into_iter().map(|r| r.unwrap().unwrap().status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 50);
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 150);
    let orders = w.orders("erin").await;
    let sum: Decimal = orders.iter().map(|o| o.reserved_amount).sum();
    let a = w
        .store
        .get_account(&TraderId::parse("erin").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (orders.len(), a.reserved, sum),
        (50, Decimal::from(50_000), Decimal::from(50_000))
    );
    assert!(orders.iter().all(|o| o.status == OrderStatus::Pending));
}

#[tokio::test]
async fn twenty_concurrent_submits_with_one_key_make_one_order() {
    let w = Arc::new(World::new("fay", 100_000, None).await);
    let replies = join_all((0..20).map(|_| {
        let w = w.clone();
        tokio::spawn(async move { w.submit("fay", LIMIT_BUY, Some("once")).await })
    }))
    .await;
    let replies: Vec<Reply> = replies.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(replies.iter().all(|r| r.status == 201 && r.body == replies[0].body));
    assert_eq!(replies.iter().filter(|r| !r.replayed).count(), 1);
    assert_eq!(w.orders("fay").await.len(), 1);
}

#[tokio::test]
async fn a_caller_without_an_account_is_refused_and_writes_nothing() {
    let w = World::new("alice", 10_000, None).await;
    // A valid token, no account: however often it is sent, nothing permanent is written.
    for i in 0..50 {
        let key = format!("k-{i}");
        let p = Problem::from(&w.submit("mallory", LIMIT_BUY, Some(&key)).await.unwrap_err());
        assert_eq!((p.status, p.kind.as_str()), (422, "/problems/no-account"));
        assert_eq!(p.audit_id, None, "no audit record, so no id to look up");
        let mallory = TraderId::parse("mallory").unwrap();
        let k = shared::domain::IdempotencyKey::parse(&key).unwrap();
        assert_eq!(w.store.idempotency(&mallory, &k, w.clock.now()).await.unwrap(), None);
    }
    assert_eq!(all_audit(&w.store).await, vec![], "no audit record per refused request");
}

#[tokio::test]
async fn the_rate_limit_is_taken_before_anything_a_request_can_multiply() {
    let limits = RiskLimits {
        orders_per_minute: 1,
        ..RiskLimits::default()
    };
    let w = World::new("dave", 100_000, Some(limits)).await;
    assert_eq!(w.submit("dave", LIMIT_BUY, Some("k1")).await.unwrap().status, 201);
    let audit_before = all_audit(&w.store).await.len();
    // Refusals that would each write an audit record (and a key's outcome) are limited first.
    let invalid = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "0", "limit_price": "1"}"#;
    for i in 0..20 {
        let err = w.submit("dave", invalid, Some(&format!("bad-{i}"))).await.unwrap_err();
        assert_eq!(Problem::from(&err).status, 429);
    }
    // A replay is a request too: it waits for the next window like any other.
    let err = w.submit("dave", LIMIT_BUY, Some("k1")).await.unwrap_err();
    assert_eq!(Problem::from(&err).status, 429);
    assert_eq!(
        all_audit(&w.store).await.len(),
        audit_before,
        "nothing written while limited"
    );
    w.clock.advance_seconds(60);
    let replay = w.submit("dave", LIMIT_BUY, Some("k1")).await.unwrap();
    assert_eq!((replay.status, replay.replayed), (201, true));
}

#[tokio::test]
async fn a_refused_submit_names_its_audit_chain_and_only_its_trader_can_read_it() {
    let w = World::new("bob", 10, None).await;
    w.store
        .fund_account(&TraderId::parse("eve").unwrap(), Decimal::from(10), None)
        .await
        .unwrap();
    let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "11"}"#;
    let reply = w.submit("bob", body, Some("k-refused")).await.unwrap();
    assert_eq!(reply.status, 422);
    let p = json(&reply);
    let audit_id = p["audit_id"]
        .as_str()
        .expect("the refusal names its audit chain")
        .to_owned();
    let bob = TraderId::parse("bob").unwrap();
    let list = shared::app::query::audit(w.store.as_ref(), w.store.as_ref(), &bob, &audit_id)
        .await
        .unwrap();
    assert_eq!(list.records.len(), 1);
    assert_eq!(list.records[0].action, "SUBMIT_REJECTED");
    assert_eq!(list.records[0].order_id.to_string(), audit_id);
    // The replay names the same chain.
    let again = w.submit("bob", body, Some("k-refused")).await.unwrap();
    assert_eq!(
        (again.replayed, json(&again)["audit_id"].as_str()),
        (true, Some(audit_id.as_str()))
    );
    // Another trader is told it does not exist, as for an order.
    let eve = TraderId::parse("eve").unwrap();
    let err = shared::app::query::audit(w.store.as_ref(), w.store.as_ref(), &eve, &audit_id)
        .await
        .unwrap_err();
    assert_eq!(Problem::from(&err).status, 404);
    // Only a refused submit's chain is readable this way: not a stranger's order's.
    let accepted = w
        .submit(
            "eve",
            r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}"#,
            None,
        )
        .await
        .unwrap();
    let order_id = json(&accepted)["order_id"].as_str().unwrap().to_owned();
    let err = shared::app::query::audit(w.store.as_ref(), w.store.as_ref(), &bob, &order_id)
        .await
        .unwrap_err();
    assert_eq!(Problem::from(&err).status, 404);
}

#[tokio::test]
async fn an_accepted_order_is_queued_at_its_commit_and_a_refusal_or_replay_queues_nothing() {
    let mut w = World::new("alice", 2_000, None).await;
    let queue = Arc::new(MemoryQueue::new());
    w.queue = Some(queue.clone());
    let reply = w.submit("alice", LIMIT_BUY, Some("k-1")).await.unwrap();
    assert_eq!(reply.status, 201);
    let id = json(&reply)["order_id"].as_str().unwrap().to_owned();
    let expect = WorkMessage::Execute {
        trader_id: TraderId::parse("alice").unwrap(),
        order_id: shared::domain::OrderId::parse(&id).unwrap(),
    };
    assert_eq!(queue.messages(), std::slice::from_ref(&expect));
    assert_eq!(queue.send_delays(), [0], "at once");

    // The same request again is a replay; one past the funds a refusal: neither is work.
    assert!(w.submit("alice", LIMIT_BUY, Some("k-1")).await.unwrap().replayed);
    assert_eq!(w.submit("alice", LIMIT_BUY, None).await.unwrap().status, 422);
    assert_eq!(queue.messages(), [expect]);
}

/// A work queue that is down.
struct DownQueue;

#[async_trait::async_trait]
impl WorkQueue for DownQueue {
    async fn send(&self, _: &WorkMessage, _: u32) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("injected".into()))
    }
    async fn receive(&self, _: u32, _: u32) -> Result<Vec<ReceivedMessage>, QueueError> {
        Err(QueueError::Unavailable("injected".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("injected".into()))
    }
    async fn change_visibility(&self, _: &str, _: u32) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("injected".into()))
    }
}

#[tokio::test]
async fn a_fast_path_send_that_fails_leaves_the_order_accepted_for_the_outbox() {
    let mut w = World::new("alice", 10_000, None).await;
    w.queue = Some(Arc::new(DownQueue));
    let reply = w.submit("alice", LIMIT_BUY, None).await.unwrap();
    assert_eq!(reply.status, 201, "the commit stands");
    let orders = w.orders("alice").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].status,
        OrderStatus::Pending,
        "the stream's backstop executes it"
    );
}

/// Duplicate detection (issue 19): an account with a 5 s window.
async fn duplicate_world() -> World {
    let limits = RiskLimits {
        duplicate_window_secs: 5,
        ..RiskLimits::default()
    };
    World::new("dora", 100_000, Some(limits)).await
}

#[tokio::test]
async fn an_identical_order_within_the_window_is_a_409_naming_the_first_and_a_confirmed_one_goes_in() {
    let w = duplicate_world().await;
    let first = json(&w.submit("dora", LIMIT_BUY, None).await.unwrap());
    w.clock.advance_seconds(2);
    // Same order, other key order and spacing, other number spelling: the same order.
    let same = r#"{"limit_price":"150.250","quantity":"10.0","type":"limit","side":"buy","symbol":"AAPL"}"#;
    // A refusal recorded like the others (its audit record), as a reply.
    let refused = w.submit("dora", same, None).await.unwrap();
    let p = json(&refused);
    assert_eq!(
        (refused.status, p["type"].as_str()),
        (409, Some("/problems/duplicate-order"))
    );
    assert!(p["audit_id"].is_string(), "{p}");
    assert_eq!(
        p["detail"].as_str().unwrap(),
        format!(
            "An identical order (same symbol, side, type, quantity, prices and time in force) was placed 2 s ago as \
             order {}, within this account's 5 s duplicate window; to place this one too, resend it with the header \
             Confirm-Duplicate: true",
            first["order_id"].as_str().unwrap()
        )
    );
    assert_eq!(w.orders("dora").await.len(), 1, "the refusal placed nothing");
    // Confirmed: placed.
    let confirmed = w.submit_confirming("dora", same, None, Some("true")).await.unwrap();
    assert_eq!(confirmed.status, 201);
    // A different price is another order.
    let other = LIMIT_BUY.replace("150.25", "150.26");
    assert_eq!(w.submit("dora", &other, None).await.unwrap().status, 201);
    // After the window of the latest identical order (the confirmed one, 2 s in): placed.
    w.clock.advance_seconds(5);
    assert_eq!(w.submit("dora", LIMIT_BUY, None).await.unwrap().status, 201);
    assert_eq!(w.orders("dora").await.len(), 4);
}

#[tokio::test]
async fn orders_with_keys_and_accounts_without_a_window_are_not_checked_for_duplicates() {
    let w = duplicate_world().await;
    for key in ["k-1", "k-2"] {
        assert_eq!(
            w.submit("dora", LIMIT_BUY, Some(key)).await.unwrap().status,
            201,
            "{key}"
        );
    }
    let off = World::new("eve", 100_000, None).await;
    for _ in 0..2 {
        assert_eq!(off.submit("eve", LIMIT_BUY, None).await.unwrap().status, 201);
    }
}

#[tokio::test]
async fn a_confirm_duplicate_header_that_is_not_true_or_false_is_a_400_naming_it() {
    let w = duplicate_world().await;
    let err = w
        .submit_confirming("dora", LIMIT_BUY, None, Some("yes please"))
        .await
        .unwrap_err();
    let p = Problem::from(&err);
    assert_eq!(p.status, 400);
    assert!(
        p.detail
            .contains("Confirm-Duplicate must be true or false, not \"yes please\""),
        "{}",
        p.detail
    );
    assert!(w.orders("dora").await.is_empty());
    assert_eq!(
        w.submit_confirming("dora", LIMIT_BUY, None, Some("FALSE"))
            .await
            .unwrap()
            .status,
        201
    );
}

#[tokio::test]
async fn a_symbol_restricted_for_the_account_is_refused_with_its_message_and_others_go() {
    let limits = RiskLimits {
        restricted_symbols: vec![shared::domain::Symbol::parse("GME").unwrap()],
        ..RiskLimits::default()
    };
    let w = World::new("rita", 100_000, Some(limits)).await;
    let gme = LIMIT_BUY.replace("AAPL", "GME");
    let refused = w.submit("rita", &gme, None).await.unwrap();
    let p = json(&refused);
    assert_eq!(
        (refused.status, p["type"].as_str()),
        (422, Some("/problems/restricted-symbol"))
    );
    assert_eq!(
        p["detail"],
        "GME is restricted for this account; no orders in it are accepted"
    );
    assert!(w.orders("rita").await.is_empty());
    assert_eq!(w.submit("rita", LIMIT_BUY, None).await.unwrap().status, 201);
    // Another trader may trade it.
    let other = World::new("sam", 100_000, None).await;
    assert_eq!(other.submit("sam", &gme, None).await.unwrap().status, 201);
}

fn notional_world_limits(limit: &str) -> RiskLimits {
    RiskLimits {
        max_notional_per_minute: limit.parse().unwrap(),
        ..RiskLimits::default()
    }
}

#[tokio::test]
async fn the_rolling_minute_notional_accepts_up_to_its_limit_and_refuses_a_cent_more_until_the_minute_has_passed() {
    // Two limit buys of 10 at 150.25 ($1,502.50 each) fill the $3,005.00 limit exactly.
    let w = World::new("nora", 100_000, Some(notional_world_limits("3005.00"))).await;
    assert_eq!(w.submit("nora", LIMIT_BUY, None).await.unwrap().status, 201);
    w.clock.advance_seconds(20);
    assert_eq!(w.submit("nora", LIMIT_BUY, None).await.unwrap().status, 201);
    let cent = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "0.01"}"#;
    let refused = w.submit("nora", cent, None).await.unwrap();
    let p = json(&refused);
    assert_eq!(
        (refused.status, p["type"].as_str()),
        (422, Some("/problems/notional-per-minute-limit"))
    );
    assert_eq!(
        p["detail"],
        "Order notional of $0.01 would bring this account's notional over the last minute to $3,005.01, over its limit of $3,005.00 per rolling minute; retry after 40 s"
    );
    assert_eq!(w.orders("nora").await.len(), 2, "the refused order is not stored");
    // 39 s on, the first order still counts; at 40 s it has left the window.
    w.clock.advance_seconds(39);
    assert_eq!(w.submit("nora", cent, None).await.unwrap().status, 422);
    w.clock.advance_seconds(1);
    assert_eq!(w.submit("nora", cent, None).await.unwrap().status, 201);
    // An order over the limit on its own says so.
    let big = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "21", "limit_price": "150"}"#;
    let p = json(&w.submit("nora", big, None).await.unwrap());
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .ends_with("per rolling minute; this order alone exceeds it"),
        "{p}"
    );
    // Without the limit (the default), nothing is counted.
    let free = World::new("olga", 100_000, None).await;
    for _ in 0..3 {
        assert_eq!(free.submit("olga", LIMIT_BUY, None).await.unwrap().status, 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_against_the_rolling_minute_notional_accept_exactly_what_it_covers() {
    // Room for three $1,502.50 orders; eight race for it.
    let w = Arc::new(World::new("pia", 100_000, Some(notional_world_limits("4507.50"))).await);
    let racers = (0..8).map(|_| {
        let w = Arc::clone(&w);
        tokio::spawn(async move { w.submit("pia", LIMIT_BUY, None).await.unwrap().status })
    });
    let mut statuses: Vec<u16> = join_all(racers).await.into_iter().map(|r| r.unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 201, 201, 422, 422, 422, 422, 422]);
    assert_eq!(w.orders("pia").await.len(), 3);
}
