//! The cancel use case over the in-memory adapters.

use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;

use shared::adapters::memory::MemoryStore;
use shared::app::AppError;
use shared::app::fixtures::place_limit_buy;
use shared::app::{AuditContext, CancelDeps, cancel, plan_transition};
use shared::domain::{Order, OrderEvent, OrderId, OrderStatus, Timestamp, TraderId};
use shared::http::Problem;
use shared::ports::{OrderStore, SystemClock};

struct World {
    store: Arc<MemoryStore>,
    trader: TraderId,
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let trader = TraderId::parse("alice").unwrap();
        store.fund_account(&trader, Decimal::from(10_000), None).await.unwrap();
        Self { store, trader }
    }

    async fn order(&self) -> Order {
        place_limit_buy(self.store.as_ref(), &self.trader, "10", "100").await
    }

    async fn step(&self, order: &Order, event: OrderEvent) -> Order {
        let account = self.store.get_account(&self.trader).await.unwrap();
        let w = plan_transition(
            order,
            &event,
            account.as_ref(),
            &AuditContext::system("execute"),
            Timestamp::now(),
        )
        .unwrap();
        let after = w.after.clone();
        self.store.transition(w).await.unwrap();
        after
    }

    async fn cancel(&self, id: &str) -> Result<Order, AppError> {
        let deps = CancelDeps {
            store: self.store.as_ref(),
            clock: &SystemClock,
            queue: None,
        };
        cancel(&deps, &self.trader, id, None).await
    }
}

#[tokio::test]
async fn a_pending_order_is_cancelled_at_once_and_its_funds_released() {
    let w = World::new().await;
    let order = w.order().await;
    let done = w.cancel(&order.order_id.to_string()).await.unwrap();
    assert_eq!(
        (done.status, done.reserved_amount),
        (OrderStatus::Cancelled, Decimal::ZERO)
    );
    let a = w.store.get_account(&w.trader).await.unwrap().unwrap();
    assert_eq!((a.reserved, a.open_orders), (Decimal::ZERO, 0));
}

#[tokio::test]
async fn a_working_order_becomes_cancel_requested_until_the_venue_confirms() {
    let w = World::new().await;
    let order = w.order().await;
    let order = w.step(&order, OrderEvent::Claim).await;
    let order = w
        .step(
            &order,
            OrderEvent::Fill {
                execution_id: "x".into(),
                quantity: Decimal::from(4),
                price: Decimal::from(99),
            },
        )
        .await;
    let requested = w.cancel(&order.order_id.to_string()).await.unwrap();
    assert_eq!(requested.status, OrderStatus::CancelRequested);
    assert_eq!(
        requested.reserved_amount,
        Decimal::from(600),
        "held until the venue confirms"
    );
    // The outbox turns CANCEL_REQUESTED into the cancel message (functions/publish).
    let stored = w.store.get_order(&w.trader, &order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::CancelRequested);
}

#[tokio::test]
async fn a_filled_order_is_409_with_the_spec_message_and_unknown_ids_are_404() {
    let w = World::new().await;
    let order = w.order().await;
    let order = w.step(&order, OrderEvent::Claim).await;
    let order = w
        .step(
            &order,
            OrderEvent::Fill {
                execution_id: "x".into(),
                quantity: Decimal::from(10),
                price: Decimal::from(99),
            },
        )
        .await;
    let p = Problem::from(&w.cancel(&order.order_id.to_string()).await.unwrap_err());
    assert_eq!(p.status, 409);
    assert_eq!(
        p.detail,
        "Cannot cancel order in FILLED status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."
    );
    assert_eq!(
        Problem::from(&w.cancel(&OrderId::new().to_string()).await.unwrap_err()).status,
        404
    );
    assert_eq!(Problem::from(&w.cancel("not-an-id").await.unwrap_err()).status, 404);
    // Another trader's order is not found either.
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: &SystemClock,
        queue: None,
    };
    let other = TraderId::from_str("mallory").unwrap();
    let err = cancel(&deps, &other, &order.order_id.to_string(), None)
        .await
        .unwrap_err();
    assert_eq!(Problem::from(&err).status, 404);
}
