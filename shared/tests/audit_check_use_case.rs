//! The operator's audit verification of a trader's orders (issue 22) over the in-memory
//! store: intact chains pass, a record changed in place is named with its order, a
//! trader without an account is not found, a bad cursor is a field error, the orders
//! are checked a page at a time, and an order that moved while it was checked is not
//! reported as forged.

use async_trait::async_trait;
use rust_decimal::Decimal;

use shared::adapters::memory::{FixedClock, MemoryStore};
use shared::app::audit_check::{AUDIT_CHECK_PAGE, check_trader_audit};
use shared::app::{AppError, CancelDeps, SubmitDeps, SubmitRequest, cancel};
use shared::domain::{
    Account, AuditRecord, ClientOrderId, Fill, IdempotencyKey, Order, OrderId, OrderStatus, Pricing, RiskLimits,
    Symbol, Timestamp, TraderId,
};
use shared::http::submit::submit;
use shared::ports::{
    AuditLog, IdempotencyRecord, NewOrder, OrderFilter, OrderPage, OrderStore, RateDecision, StoreError,
    TransitionWrite,
};

fn t(id: &str) -> TraderId {
    TraderId::parse(id).unwrap()
}

async fn world(orders: usize) -> MemoryStore {
    let store = MemoryStore::new();
    let limits = RiskLimits {
        orders_per_minute: 100_000,
        max_open_orders: 1_000,
        ..RiskLimits::default()
    };
    store
        .fund_account(&t("alice"), Decimal::from(1_000_000), Some(limits))
        .await
        .unwrap();
    let clock = FixedClock::new(Timestamp::from_unix_millis(1_789_999_990_000).unwrap());
    let pricing = Pricing::default();
    let deps = SubmitDeps {
        store: &store,
        clock: &clock,
        pricing: &pricing,
        market_data: None,
        queue: None,
    };
    for _ in 0..orders {
        let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"}"#;
        let req = SubmitRequest {
            trader: t("alice"),
            body: body.as_bytes(),
            idempotency_key: None,
            request_id: None,
            confirm_duplicate: None,
        };
        let reply = submit(&deps, req).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    store
}

#[tokio::test]
async fn intact_chains_pass_and_a_record_changed_in_place_is_named() {
    let store = world(3).await;
    let check = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!((check.orders_checked, check.broken.len()), (3, 0), "{check:?}");
    assert_eq!(check.next_cursor, None);

    let page = store.list_orders(&t("alice"), None, 10, None).await.unwrap();
    let victim = page.orders[1].order_id;
    let mut record = store.records(&victim).await.unwrap().remove(0);
    record.reason = Some("rewritten".into());
    store.tamper_audit(record);
    let check = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!(check.orders_checked, 3);
    assert_eq!(check.broken.len(), 1, "{check:?}");
    assert_eq!(check.broken[0].order_id, victim);
    assert!(
        check.broken[0].finding.contains("altered"),
        "{}",
        check.broken[0].finding
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_and_bad_input_is_refused_by_name() {
    let n = AUDIT_CHECK_PAGE as usize + 2;
    let store = world(n).await;
    let first = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!(first.orders_checked, AUDIT_CHECK_PAGE as usize);
    let cursor = first.next_cursor.expect("a second page").to_string();
    let second = check_trader_audit(&store, &store, &t("alice"), Some(&cursor))
        .await
        .unwrap();
    assert_eq!((second.orders_checked, second.next_cursor), (2, None));

    let err = check_trader_audit(&store, &store, &t("nobody"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::TraderNotFound(ref who) if who == "nobody"),
        "{err:?}"
    );
    let err = check_trader_audit(&store, &store, &t("alice"), Some("yesterday"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::InvalidParameter(ref f) if f.field == "cursor"),
        "{err:?}"
    );
}

/// The store as a list read a moment ago saw it: `list_orders` answers `stale` in place
/// of the order with its id; every other read is the store's own.
struct ListedBefore {
    store: MemoryStore,
    stale: Order,
}

#[async_trait]
impl OrderStore for ListedBefore {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError> {
        self.store.get_account(trader).await
    }
    async fn fund_account(&self, t: &TraderId, c: Decimal, l: Option<RiskLimits>) -> Result<Account, StoreError> {
        self.store.fund_account(t, c, l).await
    }
    async fn deposit_position(&self, t: &TraderId, s: &Symbol, q: Decimal, c: Decimal) -> Result<(), StoreError> {
        self.store.deposit_position(t, s, q, c).await
    }
    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError> {
        self.store.create_order(new).await
    }
    async fn get_order(&self, trader: &TraderId, order: &OrderId) -> Result<Option<Order>, StoreError> {
        self.store.get_order(trader, order).await
    }
    async fn transition(&self, write: TransitionWrite) -> Result<(), StoreError> {
        self.store.transition(write).await
    }
    async fn request_replace(&self, write: TransitionWrite) -> Result<(), StoreError> {
        self.store.request_replace(write).await
    }
    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let mut page = self.store.list_orders(trader, status, limit, after).await?;
        for o in &mut page.orders {
            if o.order_id == self.stale.order_id {
                *o = self.stale.clone();
            }
        }
        Ok(page)
    }
    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        self.store.filter_orders(trader, filter, limit, after).await
    }
    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError> {
        self.store.fills(trader, order).await
    }
    async fn order_by_client_order_id(&self, t: &TraderId, c: &ClientOrderId) -> Result<Option<Order>, StoreError> {
        self.store.order_by_client_order_id(t, c).await
    }
    async fn idempotency(
        &self,
        trader: &TraderId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store.idempotency(trader, key, now).await
    }
    async fn record_rejection(&self, a: AuditRecord, i: Option<IdempotencyRecord>) -> Result<(), StoreError> {
        self.store.record_rejection(a, i).await
    }
    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError> {
        self.store.take_rate_token(trader, limit, now).await
    }

    async fn notional_window(&self, trader: &TraderId) -> Result<shared::domain::NotionalWindow, StoreError> {
        self.store.notional_window(trader).await
    }
}

#[tokio::test]
async fn an_order_that_moved_while_it_was_checked_is_not_reported_as_forged() {
    let store = world(1).await;
    let listed = store
        .list_orders(&t("alice"), None, 10, None)
        .await
        .unwrap()
        .orders
        .remove(0);
    // The order is cancelled after the list read it: its chain now runs one record past it.
    let clock = FixedClock::new(Timestamp::from_unix_millis(1_789_999_991_000).unwrap());
    let deps = CancelDeps {
        store: &store,
        clock: &clock,
        queue: None,
    };
    let cancelled = cancel(&deps, &t("alice"), &listed.order_id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(cancelled.version, listed.version + 1);
    let moved = ListedBefore { store, stale: listed };
    let check = check_trader_audit(&moved, &moved.store, &t("alice"), None)
        .await
        .unwrap();
    assert_eq!((check.orders_checked, check.broken.len()), (1, 0), "{check:?}");

    // An order really set back (the stored order behind its chain) is still reported.
    moved.store.overwrite_order(moved.stale.clone());
    let check = check_trader_audit(&moved, &moved.store, &t("alice"), None)
        .await
        .unwrap();
    assert_eq!(check.broken.len(), 1, "{check:?}");
}
