//! Error paths taken when the store reports a concurrent change: a submit retries a
//! conflicted transaction with backoff (a commit that did land replays, never a second
//! order) and answers 409 only when every attempt conflicts (nothing half-written); a
//! cancel that loses every race gives up with 409 instead of looping.

use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use rust_decimal::Decimal;

use shared::adapters::memory::MemoryStore;
use shared::app::fixtures::place_limit_buy;
use shared::app::{CancelDeps, SubmitDeps, SubmitRequest, cancel};
use shared::domain::AuditRecord;
use shared::domain::{
    Account, Fill, IdempotencyKey, Order, OrderId, OrderStatus, Pricing, RiskLimits, Symbol, Timestamp, TraderId,
};
use shared::http::Problem;
use shared::http::submit::submit;
use shared::ports::{
    IdempotencyRecord, NewOrder, OrderPage, OrderStore, RateDecision, StoreError, SystemClock, TransitionWrite,
};

/// The memory store, except that order writes lose to a concurrent change: every
/// transition, and the first `create_conflicts` submits' transactions. With
/// `lands_anyway` a conflicted submit's transaction commits all the same (as an
/// attempt whose answer was lost would), to show that its retry replays.
struct AlwaysConflicting(MemoryStore, Flaky);

#[derive(Default)]
struct Flaky {
    create_conflicts: AtomicU32,
    create_calls: AtomicU32,
    lands_anyway: bool,
}

impl AlwaysConflicting {
    fn always() -> Self {
        Self::first(u32::MAX, false)
    }
    fn first(n: u32, lands_anyway: bool) -> Self {
        Self(
            MemoryStore::new(),
            Flaky {
                create_conflicts: AtomicU32::new(n),
                lands_anyway,
                ..Flaky::default()
            },
        )
    }
}

#[async_trait]
impl OrderStore for AlwaysConflicting {
    async fn get_account(&self, t: &TraderId) -> Result<Option<Account>, StoreError> {
        self.0.get_account(t).await
    }
    async fn fund_account(&self, t: &TraderId, c: Decimal, l: Option<RiskLimits>) -> Result<Account, StoreError> {
        self.0.fund_account(t, c, l).await
    }
    async fn deposit_position(&self, t: &TraderId, s: &Symbol, q: Decimal, c: Decimal) -> Result<(), StoreError> {
        self.0.deposit_position(t, s, q, c).await
    }
    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError> {
        self.1.create_calls.fetch_add(1, Ordering::SeqCst);
        let conflicts = &self.1.create_conflicts;
        if conflicts.load(Ordering::SeqCst) == 0 {
            return self.0.create_order(new).await;
        }
        if conflicts.load(Ordering::SeqCst) != u32::MAX {
            conflicts.fetch_sub(1, Ordering::SeqCst);
        }
        if self.1.lands_anyway {
            self.0.create_order(new).await?;
        }
        Err(StoreError::Conflict)
    }
    async fn get_order(&self, t: &TraderId, o: &OrderId) -> Result<Option<Order>, StoreError> {
        self.0.get_order(t, o).await
    }
    async fn transition(&self, _: TransitionWrite) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }
    async fn request_replace(&self, _: TransitionWrite) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }
    async fn list_orders(
        &self,
        t: &TraderId,
        s: Option<OrderStatus>,
        l: u32,
        a: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        self.0.list_orders(t, s, l, a).await
    }
    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &shared::ports::OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        self.0.filter_orders(trader, filter, limit, after).await
    }
    async fn order_by_client_order_id(
        &self,
        trader: &TraderId,
        client_order_id: &shared::domain::ClientOrderId,
    ) -> Result<Option<Order>, StoreError> {
        self.0.order_by_client_order_id(trader, client_order_id).await
    }
    async fn fills(&self, t: &TraderId, o: &OrderId) -> Result<Vec<Fill>, StoreError> {
        self.0.fills(t, o).await
    }
    async fn idempotency(
        &self,
        t: &TraderId,
        k: &IdempotencyKey,
        n: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.0.idempotency(t, k, n).await
    }
    async fn record_rejection(&self, a: AuditRecord, i: Option<IdempotencyRecord>) -> Result<(), StoreError> {
        self.0.record_rejection(a, i).await
    }
    async fn take_rate_token(&self, t: &TraderId, l: u32, n: Timestamp) -> Result<RateDecision, StoreError> {
        self.0.take_rate_token(t, l, n).await
    }

    async fn notional_window(&self, t: &TraderId) -> Result<shared::domain::NotionalWindow, StoreError> {
        self.0.notional_window(t).await
    }
}

#[tokio::test]
async fn a_submit_that_keeps_conflicting_is_409_and_stores_nothing() {
    let store = AlwaysConflicting::always();
    let trader = TraderId::parse("alice").unwrap();
    store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
    let deps = SubmitDeps {
        store: &store,
        clock: &SystemClock,
        pricing: &Pricing::default(),
        market_data: None,
        queue: None,
    };
    let body = br#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"}"#;
    let req = SubmitRequest {
        trader: trader.clone(),
        body,
        idempotency_key: Some("k"),
        request_id: None,
        confirm_duplicate: None,
    };
    let p = Problem::from(&submit(&deps, req).await.unwrap_err());
    assert_eq!(p.status, 409);
    assert_eq!(p.detail, "The account changed during the submit; retry the request");
    let page = store.list_orders(&trader, None, 10, None).await.unwrap();
    assert!(
        page.orders.is_empty(),
        "no order committed, so nothing for the outbox to queue"
    );
    let key = IdempotencyKey::parse("k").unwrap();
    assert_eq!(
        store.idempotency(&trader, &key, Timestamp::now()).await.unwrap(),
        None,
        "the key stays free"
    );
}

#[tokio::test]
async fn a_cancel_that_loses_every_race_gives_up_with_409() {
    let store = AlwaysConflicting::always();
    let trader = TraderId::parse("alice").unwrap();
    store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
    let order = place_limit_buy(&store.0, &trader, "1", "10").await;
    let deps = CancelDeps {
        store: &store,
        clock: &SystemClock,
        queue: None,
    };
    let err = cancel(&deps, &trader, &order.order_id.to_string(), None)
        .await
        .unwrap_err();
    let p = Problem::from(&err);
    assert_eq!(p.status, 409);
    assert_eq!(
        p.detail,
        format!("Order {} is changing quickly; retry the cancel", order.order_id)
    );
    assert_eq!(
        store.get_order(&trader, &order.order_id).await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
}

fn limit_buy(trader: &TraderId, key: Option<&'static str>) -> SubmitRequest<'static> {
    SubmitRequest {
        trader: trader.clone(),
        body: br#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"}"#,
        idempotency_key: key,
        request_id: None,
        confirm_duplicate: None,
    }
}

#[tokio::test]
async fn a_submit_that_races_fills_is_retried_and_accepted_with_one_rate_token() {
    // Orders per minute 2: the retries of the first submit must not spend the second's token.
    let store = AlwaysConflicting::first(3, false);
    let trader = TraderId::parse("alice").unwrap();
    let limits = RiskLimits {
        orders_per_minute: 2,
        ..RiskLimits::default()
    };
    store
        .fund_account(&trader, Decimal::from(10_000), Some(limits))
        .await
        .unwrap();
    let deps = SubmitDeps {
        store: &store,
        clock: &SystemClock,
        pricing: &Pricing::default(),
        market_data: None,
        queue: None,
    };
    let reply = submit(&deps, limit_buy(&trader, Some("k"))).await.unwrap();
    assert_eq!((reply.status, reply.replayed), (201, false));
    assert_eq!(
        store.1.create_calls.load(Ordering::SeqCst),
        4,
        "three conflicts, then the commit"
    );
    assert_eq!(submit(&deps, limit_buy(&trader, None)).await.unwrap().status, 201);
    let page = store.list_orders(&trader, None, 10, None).await.unwrap();
    assert_eq!(page.orders.len(), 2);
    let a = store.get_account(&trader).await.unwrap().unwrap();
    assert_eq!((a.reserved, a.open_orders), (Decimal::from(20), 2));
}

#[tokio::test]
async fn a_retried_submit_whose_first_attempt_landed_replays_and_makes_no_second_order() {
    for key in [Some("k"), None] {
        let store = AlwaysConflicting::first(1, true);
        let trader = TraderId::parse("alice").unwrap();
        store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
        let deps = SubmitDeps {
            store: &store,
            clock: &SystemClock,
            pricing: &Pricing::default(),
            market_data: None,
            queue: None,
        };
        let reply = submit(&deps, limit_buy(&trader, key)).await.unwrap();
        assert_eq!(reply.status, 201, "{key:?}: {}", reply.body);
        let page = store.list_orders(&trader, None, 10, None).await.unwrap();
        assert_eq!(page.orders.len(), 1, "{key:?}: one order");
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["order_id"], page.orders[0].order_id.to_string());
        if let Some(k) = key {
            let stored = store
                .idempotency(&trader, &IdempotencyKey::parse(k).unwrap(), Timestamp::now())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.body, reply.body, "the answer is the stored one");
        }
        let a = store.get_account(&trader).await.unwrap().unwrap();
        assert_eq!((a.reserved, a.open_orders), (Decimal::from(10), 1));
    }
}
