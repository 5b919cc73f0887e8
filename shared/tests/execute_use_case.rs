//! The execute use case over the in-memory ports (the venue double runs the same
//! matching book as the exchange simulator): exactly one venue order per order under
//! redelivery, lost responses and outages; fills booked exactly; resting orders
//! re-checked by a single chain; cancels reaching the venue.

use std::sync::Arc;

use rust_decimal::Decimal;
use shared::adapters::memory::{MemoryQueue, MemoryStore, MemoryVenue};
use shared::app::AuditContext;
use shared::app::{CancelDeps, ExecuteDeps, cancel, execute, plan_submit};
use shared::domain::{Order, OrderId, OrderStatus, Price, Pricing, Symbol, Timestamp, TraderId, validate_order};
use shared::ports::{OrderStore, SystemClock, WorkMessage};

struct World {
    store: Arc<MemoryStore>,
    venue: Arc<MemoryVenue>,
    queue: Arc<MemoryQueue>,
    trader: TraderId,
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let trader = TraderId::parse("exec-alice").unwrap();
    store.fund_account(&trader, d("100000"), None).await.unwrap();
    let venue = Arc::new(MemoryVenue::new());
    venue.set_price("AAPL", d("100"));
    World {
        store,
        venue,
        queue: Arc::new(MemoryQueue::new()),
        trader,
    }
}

impl World {
    async fn place(&self, body: serde_json::Value) -> Order {
        let account = self.store.get_account(&self.trader).await.unwrap().unwrap();
        let draft = validate_order(&body).unwrap();
        let mut pricing = Pricing::default();
        pricing
            .reference
            .insert(Symbol::parse("AAPL").unwrap(), Price::parse(d("100")).unwrap());
        let new = plan_submit(
            OrderId::new(),
            draft,
            &account,
            &pricing,
            &AuditContext::system("t"),
            Timestamp::now(),
        )
        .unwrap();
        let order = new.order.clone();
        self.store.create_order(new).await.unwrap();
        order
    }

    async fn run(&self, message: &WorkMessage) -> Result<(), shared::app::ExecuteError> {
        let deps = ExecuteDeps {
            store: self.store.as_ref(),
            venue: self.venue.as_ref(),
            queue: self.queue.as_ref(),
            clock: &SystemClock,
            recheck_delay_secs: 1,
        };
        execute(&deps, message, "m-1").await
    }

    fn execute_message(&self, order: &Order) -> WorkMessage {
        WorkMessage::Execute {
            trader_id: self.trader.clone(),
            order_id: order.order_id,
        }
    }

    async fn order(&self, order: &Order) -> Order {
        self.store
            .get_order(&self.trader, &order.order_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn reserved(&self) -> Decimal {
        self.store.get_account(&self.trader).await.unwrap().unwrap().reserved
    }

    async fn cash(&self) -> Decimal {
        self.store.get_account(&self.trader).await.unwrap().unwrap().cash
    }

    fn rechecks(&self) -> Vec<WorkMessage> {
        self.queue
            .messages()
            .into_iter()
            .filter(|m| matches!(m, WorkMessage::Recheck { .. }))
            .collect()
    }
}

fn market_buy(qty: &str) -> serde_json::Value {
    serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": qty})
}

fn limit_buy(qty: &str, price: &str) -> serde_json::Value {
    serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty, "limit_price": price,
        "time_in_force": "gtc"})
}

#[tokio::test]
async fn a_marketable_order_fills_and_books_exactly() {
    let w = world().await;
    let order = w.place(market_buy("10")).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    assert_eq!(after.filled_quantity, d("10"));
    assert_eq!(after.average_fill_price, Some(d("100")));
    assert_eq!(w.cash().await, d("99000"));
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.venue.count(&order.order_id), 1);
    let fills = w.store.fills(&w.trader, &order.order_id).await.unwrap();
    assert_eq!(fills.len(), 1);
    assert!(w.rechecks().is_empty(), "a filled order needs no re-check");
}

#[tokio::test]
async fn every_message_delivered_three_times_makes_one_venue_order() {
    let w = world().await;
    let order = w.place(market_buy("4")).await;
    let m = w.execute_message(&order);
    let (a, b, c) = tokio::join!(w.run(&m), w.run(&m), w.run(&m));
    for r in [a, b, c] {
        r.unwrap();
    }
    w.run(&m).await.unwrap();
    assert_eq!(w.venue.count(&order.order_id), 1);
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
    assert_eq!(w.store.fills(&w.trader, &order.order_id).await.unwrap().len(), 1);
    assert_eq!(w.cash().await, d("99600"));
}

#[tokio::test]
async fn a_lost_response_is_reconciled_not_resent() {
    let w = world().await;
    let order = w.place(market_buy("3")).await;
    w.venue.drop_next_response();
    let m = w.execute_message(&order);
    assert!(w.run(&m).await.is_err(), "the lost response is a retryable failure");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.venue.count(&order.order_id), 1, "the venue did take it");
    w.run(&m).await.unwrap();
    assert_eq!(w.venue.count(&order.order_id), 1);
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
}

#[tokio::test]
async fn an_outage_leaves_the_message_for_later_and_sends_nothing() {
    let w = world().await;
    let order = w.place(market_buy("1")).await;
    w.venue.set_unavailable(true);
    let m = w.execute_message(&order);
    assert!(w.run(&m).await.is_err());
    assert!(w.run(&m).await.is_err());
    assert_eq!(w.venue.count(&order.order_id), 0);
    w.venue.set_unavailable(false);
    w.run(&m).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
    assert_eq!(w.venue.count(&order.order_id), 1);
}

#[tokio::test]
async fn a_resting_order_gets_one_recheck_chain_and_fills_later() {
    let w = world().await;
    let order = w.place(limit_buy("5", "95")).await;
    let m = w.execute_message(&order);
    w.run(&m).await.unwrap();
    w.run(&m).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    let rechecks = w.rechecks();
    assert_eq!(rechecks.len(), 1, "duplicates never fork the chain: {rechecks:?}");
    let WorkMessage::Recheck { seq, .. } = rechecks[0] else {
        unreachable!()
    };
    assert_eq!(seq, 1);
    // Still resting: the re-check (delivered twice) carries the chain on once.
    w.run(&rechecks[0]).await.unwrap();
    w.run(&rechecks[0]).await.unwrap();
    let chain: Vec<u64> = w
        .rechecks()
        .iter()
        .filter_map(|m| match m {
            WorkMessage::Recheck { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(chain, vec![1, 2]);
    // The market comes down through the limit: the next look books the fill.
    w.venue.set_price("AAPL", d("94"));
    w.run(&w.rechecks()[1]).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(
        w.cash().await,
        d("100000") - after.filled_quantity * after.average_fill_price.unwrap()
    );
    assert_eq!(w.venue.count(&order.order_id), 1);
}

#[tokio::test]
async fn partial_fills_accumulate_to_the_venues_average() {
    let w = world().await;
    w.venue.set_partial_fills(true);
    let order = w.place(limit_buy("8", "101")).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    let first = w.order(&order).await;
    assert_eq!(first.status, OrderStatus::PartiallyFilled);
    assert!(first.filled_quantity > Decimal::ZERO && first.filled_quantity < d("8"));
    for price in ["100.50", "99.25", "98"] {
        w.venue.set_price("AAPL", d(price));
        if let Some(next) = w.rechecks().last().cloned() {
            w.run(&next).await.unwrap();
        }
    }
    w.venue.set_partial_fills(false);
    w.venue.set_price("AAPL", d("97.50"));
    w.run(&w.rechecks().last().cloned().unwrap()).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    let fills = w.store.fills(&w.trader, &order.order_id).await.unwrap();
    assert!(fills.len() >= 2, "{fills:?}");
    let spent: Decimal = fills.iter().map(|f| f.quantity * f.price).sum();
    let venue = &w.venue.orders()[0];
    let venue_notional: Decimal = venue.fills.iter().map(|f| f.qty * f.price).sum();
    assert_eq!(spent, venue_notional, "our booked notional equals the venue's");
    assert_eq!(w.cash().await, d("100000") - spent);
    assert_eq!(w.reserved().await, Decimal::ZERO);
}

#[tokio::test]
async fn cancelling_a_working_order_cancels_it_at_the_venue() {
    let w = world().await;
    let order = w.place(limit_buy("2", "90")).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: &SystemClock,
    };
    let requested = cancel(&deps, &w.trader, &order.order_id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(requested.status, OrderStatus::CancelRequested);
    let message = WorkMessage::Cancel {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
    };
    w.run(&message).await.unwrap();
    w.run(&message).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Cancelled);
    assert_eq!(w.venue.orders()[0].status.to_string(), "canceled");
    assert_eq!(w.reserved().await, Decimal::ZERO);
}

#[tokio::test]
async fn an_unreadable_order_id_at_the_venue_is_never_an_extra_order() {
    // A message for an order that does not exist is dropped without a venue call.
    let w = world().await;
    let ghost = WorkMessage::Execute {
        trader_id: w.trader.clone(),
        order_id: OrderId::new(),
    };
    w.run(&ghost).await.unwrap();
    assert!(w.venue.orders().is_empty());
}

#[tokio::test]
async fn a_day_order_expires_at_the_end_of_the_venues_day_and_releases_its_funds() {
    let w = world().await;
    let mut body = limit_buy("4", "90");
    body["time_in_force"] = "day".into();
    let order = w.place(body).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.reserved().await, d("360.00"));
    w.venue.advance_ms(MemoryVenue::DEFAULT_DAY_MS + 1);
    w.run(&w.rechecks()[0]).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Expired);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.rechecks().len(), 1, "an expired order needs no further look");
}

#[tokio::test]
async fn an_ioc_order_takes_what_is_there_and_cancels_the_rest() {
    let w = world().await;
    w.venue.set_partial_fills(true);
    let mut body = limit_buy("10", "101");
    body["time_in_force"] = "ioc".into();
    let order = w.place(body).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Cancelled, "{after:?}");
    assert!(after.filled_quantity > Decimal::ZERO && after.filled_quantity < d("10"));
    assert_eq!(w.reserved().await, Decimal::ZERO, "the unfilled rest is released");
    assert_eq!(
        w.cash().await,
        d("100000") - after.filled_quantity * after.average_fill_price.unwrap()
    );
}
