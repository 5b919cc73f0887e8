//! Error paths taken when the store keeps reporting a concurrent change: the submit
//! answers 409 (nothing half-written), and a cancel that loses every race gives up
//! with 409 instead of looping.

use async_trait::async_trait;
use rust_decimal::Decimal;

use shared::adapters::memory::{MemoryStore, place_limit_buy};
use shared::app::{CancelDeps, SubmitDeps, SubmitRequest, cancel, submit};
use shared::domain::AuditRecord;
use shared::domain::{
    Account, Fill, IdempotencyKey, Order, OrderId, OrderStatus, Pricing, RiskLimits, Symbol, Timestamp, TraderId,
};
use shared::http::Problem;
use shared::ports::{
    IdempotencyRecord, NewOrder, OrderPage, OrderStore, RateDecision, StoreError, SystemClock, TransitionWrite,
};

/// The memory store, except that every order write loses to a concurrent change.
struct AlwaysConflicting(MemoryStore);

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
    async fn create_order(&self, _: NewOrder) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }
    async fn get_order(&self, t: &TraderId, o: &OrderId) -> Result<Option<Order>, StoreError> {
        self.0.get_order(t, o).await
    }
    async fn transition(&self, _: TransitionWrite) -> Result<(), StoreError> {
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
    async fn advance_recheck(&self, t: &TraderId, o: &OrderId, f: u64, n: Timestamp) -> Result<bool, StoreError> {
        self.0.advance_recheck(t, o, f, n).await
    }
    async fn rewind_recheck(&self, t: &TraderId, o: &OrderId, f: u64) -> Result<(), StoreError> {
        self.0.rewind_recheck(t, o, f).await
    }
}

#[tokio::test]
async fn a_submit_that_keeps_conflicting_is_409_and_stores_nothing() {
    let store = AlwaysConflicting(MemoryStore::new());
    let trader = TraderId::parse("alice").unwrap();
    store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
    let deps = SubmitDeps {
        store: &store,
        clock: &SystemClock,
        pricing: &Pricing::default(),
    };
    let body = br#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"}"#;
    let req = SubmitRequest {
        trader: trader.clone(),
        body,
        idempotency_key: Some("k"),
        request_id: None,
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
    let store = AlwaysConflicting(MemoryStore::new());
    let trader = TraderId::parse("alice").unwrap();
    store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
    let order = place_limit_buy(&store.0, &trader, "1", "10").await;
    let deps = CancelDeps {
        store: &store,
        clock: &SystemClock,
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
