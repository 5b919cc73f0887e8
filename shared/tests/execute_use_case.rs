// Long because: the execute use case's scenarios over one in-memory world (redelivery, lost answers, outages, fills,
// re-checks, cancels).
//! The execute use case over the in-memory ports (the venue double runs the same
//! matching book as the exchange simulator), with the venue intake that books what
//! execute leaves to it: exactly one venue order per order under redelivery, lost
//! responses and outages; the venue's executions booked exactly; resting orders
//! followed by the intake and its sweep, with no venue call of their own; cancels
//! reaching the venue.

use std::sync::Arc;

use rust_decimal::Decimal;
use shared::adapters::memory::{FixedClock, MemoryQueue, MemoryStore, MemoryVenue};
use shared::app::AuditContext;
use shared::app::execute::ExecutePolicy;
use shared::app::{CancelDeps, ExecuteDeps, IntakeDeps, PassReport, cancel, execute, intake_pass, plan_submit};
use shared::domain::{Order, OrderId, OrderStatus, Price, Pricing, Symbol, Timestamp, TraderId, validate_order};
use shared::ports::{AuditLog, Backstopped, Clock, IntakeStore, OrderStore, SystemClock, WorkMessage};

struct World {
    store: Arc<MemoryStore>,
    intake: Arc<shared::adapters::memory::MemoryIntakeStore>,
    venue: Arc<MemoryVenue>,
    clock: Arc<FixedClock>,
    trader: TraderId,
    /// The venue's executions are read from here on.
    start: Timestamp,
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
    let now = Timestamp::now();
    venue.set_epoch(now);
    World {
        store,
        intake: Arc::new(shared::adapters::memory::MemoryIntakeStore::new()),
        venue,
        clock: Arc::new(FixedClock::new(now)),
        trader,
        start: now.plus_seconds(-1),
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
            self.clock.now(),
        )
        .unwrap();
        let order = new.order.clone();
        self.store.create_order(new).await.unwrap();
        order
    }

    /// An order claimed and placed by its execute message.
    async fn placed(&self, body: serde_json::Value) -> Order {
        let order = self.place(body).await;
        self.run(&self.execute_message(&order)).await.unwrap();
        order
    }

    async fn run(&self, message: &WorkMessage) -> Result<(), shared::app::ExecuteError> {
        let deps = ExecuteDeps {
            store: self.store.as_ref(),
            intake: self.intake.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            policy: Default::default(),
        };
        execute(&deps, message, "m-1").await
    }

    /// One pass of the venue intake, with its sweep: books the venue's executions and
    /// ends what the venue ended.
    async fn intake(&self) -> PassReport {
        let deps = IntakeDeps {
            store: self.store.as_ref(),
            attention: self.store.as_ref(),
            intake: self.intake.as_ref(),
            feed: self.venue.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            feed_key: "exec-test",
            start: self.start,
            page_size: 100,
            max_pages: 10,
            unknown_status_alarm_secs: 600,
            statuses: true,
        };
        intake_pass(&deps).await.unwrap()
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

    fn cancel_message(&self, order: &Order) -> WorkMessage {
        WorkMessage::Cancel {
            trader_id: self.trader.clone(),
            order_id: order.order_id,
        }
    }

    /// The trader's cancel, as the API takes it (at the world's clock).
    async fn request_cancel(&self, order: &Order) -> Order {
        let deps = CancelDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            queue: None,
        };
        cancel(&deps, &self.trader, &order.order_id.to_string(), None)
            .await
            .unwrap()
    }

    async fn open_orders(&self) -> u32 {
        self.store.get_account(&self.trader).await.unwrap().unwrap().open_orders
    }

    async fn actions(&self, order: &Order) -> Vec<String> {
        let records = self.store.records(&order.order_id).await.unwrap();
        records.into_iter().map(|r| r.action).collect()
    }

    /// Our fills of `order` carry the venue's execution ids, quantities and prices.
    async fn assert_fills_are_the_venues(&self, order: &Order) {
        let mut ours: Vec<(String, Decimal, Decimal)> = self
            .store
            .fills(&self.trader, &order.order_id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.execution_id, f.quantity, f.price))
            .collect();
        let venue_id = self
            .venue
            .orders()
            .into_iter()
            .find(|o| o.client_order_id == order.order_id.to_string());
        let venue_id = venue_id.map(|o| o.id).unwrap_or_default();
        let mut venue: Vec<(String, Decimal, Decimal)> = self
            .venue
            .all_executions()
            .into_iter()
            .filter(|e| e.venue_order_id == venue_id)
            .map(|e| (e.execution_id, e.qty, e.price))
            .collect();
        ours.sort();
        venue.sort();
        assert!(!venue.is_empty(), "the venue executed the order");
        assert_eq!(ours, venue, "each venue execution booked once, as the venue reports it");
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
    let placed = w.order(&order).await;
    assert_eq!(
        (placed.status, placed.filled_quantity),
        (OrderStatus::Submitted, Decimal::ZERO),
        "execute books no fill of its own"
    );
    let report = w.intake().await;
    assert_eq!(report.booked, 1, "{report:?}");
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    assert_eq!(after.filled_quantity, d("10"));
    assert_eq!(after.average_fill_price, Some(d("100")));
    assert_eq!(w.cash().await, d("99000"));
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.venue.count(&order.order_id), 1);
    w.assert_fills_are_the_venues(&order).await;
    // Filled: the sweep takes it out of the working index without asking the venue.
    let (finds, _) = w.venue.calls();
    w.intake().await;
    assert!(w.intake.working_orders().await.unwrap().is_empty());
    assert_eq!(w.venue.calls().0, finds);
}

#[tokio::test]
async fn the_order_locator_is_written_before_the_venue_hears_of_the_order() {
    use shared::ports::IntakeStore;
    let w = world().await;
    let order = w.place(market_buy("3")).await;
    w.venue.set_unavailable(true);
    assert!(w.run(&w.execute_message(&order)).await.is_err());
    assert_eq!(w.venue.count(&order.order_id), 0);
    assert_eq!(
        w.intake.order_trader(&order.order_id).await.unwrap(),
        Some(w.trader.clone()),
        "the intake can find the order before any venue order exists"
    );
    let working = w.intake.working_orders().await.unwrap();
    assert_eq!(
        working.iter().map(|o| o.order_id).collect::<Vec<_>>(),
        vec![order.order_id],
        "and the sweep can see it end"
    );
    w.venue.set_unavailable(false);
    w.run(&w.execute_message(&order)).await.unwrap();
    w.intake().await;
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
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
    w.intake().await;
    w.intake().await;
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
    w.intake().await;
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
    w.intake().await;
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
    assert_eq!(w.venue.count(&order.order_id), 1);
}

#[tokio::test]
async fn a_resting_order_costs_no_venue_call_of_its_own_and_fills_through_the_intake() {
    let w = world().await;
    let order = w.place(limit_buy("5", "95")).await;
    let m = w.execute_message(&order);
    w.run(&m).await.unwrap();
    w.run(&m).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.venue.count(&order.order_id), 1);
    // Resting: intake passes list the venue's open orders and look nothing up.
    let (finds, _) = w.venue.calls();
    for _ in 0..5 {
        let report = w.intake().await;
        assert_eq!((report.listed, report.looked_up), (1, 0), "{report:?}");
    }
    assert_eq!(w.venue.calls().0, finds, "no per-order look at the venue");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    // The market comes down through the limit: the next pass books the fill.
    w.venue.set_price("AAPL", d("94"));
    w.intake().await;
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(
        w.cash().await,
        d("100000") - after.filled_quantity * after.average_fill_price.unwrap()
    );
    assert_eq!(w.venue.count(&order.order_id), 1);
    w.assert_fills_are_the_venues(&order).await;
}

/// Alpaca's FILL activity names only the venue order. Execute records which of our
/// orders it is when it places it, so the intake books the first execution of each
/// order without asking the venue: its venue calls do not grow with the orders that
/// trade (issue 14: a resting session where prices move and some fill).
#[tokio::test]
async fn the_first_fill_of_each_placed_order_is_booked_without_looking_the_venue_order_up() {
    let w = world().await;
    w.venue.set_activities_only(true);
    let orders = [
        w.placed(limit_buy("5", "95")).await,
        w.placed(limit_buy("3", "96")).await,
    ];
    w.intake().await;
    let lookups = w.venue.venue_order_calls();
    w.venue.set_price("AAPL", d("94"));
    let report = w.intake().await;
    for order in &orders {
        assert_eq!(w.order(order).await.status, OrderStatus::Filled, "{report:?}");
        w.assert_fills_are_the_venues(order).await;
    }
    assert_eq!(
        w.venue.venue_order_calls(),
        lookups,
        "no venue order looked up to find ours: {report:?}"
    );
}

#[tokio::test]
async fn partial_fills_accumulate_to_the_venues_average() {
    let w = world().await;
    w.venue.set_partial_fills(true);
    let order = w.place(limit_buy("8", "101")).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    w.intake().await;
    let first = w.order(&order).await;
    assert_eq!(first.status, OrderStatus::PartiallyFilled);
    assert!(first.filled_quantity > Decimal::ZERO && first.filled_quantity < d("8"));
    for price in ["100.50", "99.25", "98"] {
        w.venue.set_price("AAPL", d(price));
        w.intake().await;
    }
    w.venue.set_partial_fills(false);
    w.venue.set_price("AAPL", d("97.50"));
    w.intake().await;
    assert_eq!(w.store.fill_reads(), 0, "no fill read the order's fills");
    w.assert_fills_are_the_venues(&order).await;
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
        queue: None,
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
    // The sweep: no longer among the venue's open orders, one look at it.
    let report = w.intake().await;
    assert_eq!((report.ended, report.looked_up), (1, 1), "{report:?}");
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Expired);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.actions(&order).await.last().map(String::as_str), Some("EXPIRE"));
    let again = w.intake().await;
    assert_eq!(
        (again.listed, again.looked_up),
        (0, 0),
        "an ended order needs no further look: {again:?}"
    );
}

#[tokio::test]
async fn an_ioc_order_takes_what_is_there_and_cancels_the_rest() {
    let w = world().await;
    w.venue.set_partial_fills(true);
    let mut body = limit_buy("10", "101");
    body["time_in_force"] = "ioc".into();
    let order = w.place(body).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    let placed = w.order(&order).await;
    assert_eq!(
        (placed.status, placed.filled_quantity),
        (OrderStatus::Submitted, Decimal::ZERO),
        "never ended with fewer fills than the venue's"
    );
    // The venue filled part and cancelled the rest: its execution is booked first,
    // then the order ends as the venue ended it, in one pass.
    let report = w.intake().await;
    assert_eq!((report.booked, report.ended), (1, 1), "{report:?}");
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Cancelled, "{after:?}");
    assert!(after.filled_quantity > Decimal::ZERO && after.filled_quantity < d("10"));
    assert_eq!(w.reserved().await, Decimal::ZERO, "the unfilled rest is released");
    assert_eq!(
        w.cash().await,
        d("100000") - after.filled_quantity * after.average_fill_price.unwrap()
    );
}

/// Past the placement window of a placement made now.
fn past_the_window() -> i64 {
    let window = ExecutePolicy::default().placement_window();
    i64::try_from(window.as_secs()).unwrap() + 1
}

#[tokio::test]
async fn a_cancel_racing_the_first_placement_waits_for_it_and_books_the_fill() {
    let w = world().await;
    let order = w.place(market_buy("5")).await;
    // M1 claims and places; the venue is slow: our client gives up, the venue has
    // not acted yet.
    w.venue.delay_next_placement();
    let m1 = w.execute_message(&order);
    assert!(w.run(&m1).await.is_err(), "the timed-out placement is retried");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.request_cancel(&order).await.status, OrderStatus::CancelRequested);
    // The cancel finds nothing at the venue while the placement may still land: it
    // must not confirm.
    let c = w.cancel_message(&order);
    let early = w.run(&c).await;
    assert!(
        matches!(early, Err(shared::app::ExecuteError::PlacementInFlight { .. })),
        "{early:?}"
    );
    let held = w.order(&order).await;
    assert_eq!(held.status, OrderStatus::CancelRequested);
    assert_eq!(w.reserved().await, held.reserved_amount);
    // The placement lands and fills at the venue.
    assert_eq!(w.venue.land_delayed_placements(), 1);
    w.clock.advance_seconds(1);
    w.run(&c).await.unwrap();
    w.run(&m1).await.unwrap();
    w.intake().await;
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled, "{after:?}");
    assert_eq!(after.filled_quantity, d("5"));
    assert_eq!(w.cash().await, d("99500"), "the venue's fill is paid for");
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.open_orders().await, 0);
    assert_eq!(w.venue.count(&order.order_id), 1);
}

#[tokio::test]
async fn a_cancel_that_finds_nothing_after_the_placement_window_confirms_it() {
    let w = world().await;
    let order = w.place(market_buy("5")).await;
    w.venue.delay_next_placement();
    assert!(w.run(&w.execute_message(&order)).await.is_err());
    w.request_cancel(&order).await;
    let c = w.cancel_message(&order);
    assert!(w.run(&c).await.is_err());
    // The venue never acted on the placement, and now it no longer can.
    w.clock.advance_seconds(past_the_window());
    w.run(&c).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Cancelled);
    assert_eq!(after.reason.as_deref(), Some("Cancelled before it reached the venue"));
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.open_orders().await, 0);
    assert!(w.venue.orders().is_empty());
}

#[tokio::test]
async fn a_fill_the_venue_reports_for_an_order_held_as_cancelled_is_booked() {
    let w = world().await;
    let order = w.place(market_buy("5")).await;
    w.venue.delay_next_placement();
    let m1 = w.execute_message(&order);
    assert!(w.run(&m1).await.is_err());
    w.request_cancel(&order).await;
    // The venue breaks the window: it acts on the placement after the cancel was
    // confirmed here.
    w.clock.advance_seconds(past_the_window());
    w.run(&w.cancel_message(&order)).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Cancelled);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert_eq!(w.venue.land_delayed_placements(), 1);
    // M1 comes back, and the intake books the venue's fill, never dropped.
    w.run(&m1).await.unwrap();
    w.intake().await;
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled, "{after:?}");
    assert_eq!(after.filled_quantity, d("5"));
    assert!(
        after.reason.as_deref().unwrap_or_default().contains("fill"),
        "{after:?}"
    );
    assert_eq!(w.cash().await, d("99500"));
    assert_eq!(w.reserved().await, Decimal::ZERO, "nothing released twice");
    assert_eq!(w.open_orders().await, 0, "the open order is not counted off twice");
    assert_eq!(w.store.fills(&w.trader, &order.order_id).await.unwrap().len(), 1);
    // Again: nothing more to book.
    w.run(&m1).await.unwrap();
    w.intake().await;
    assert_eq!(w.cash().await, d("99500"));
}

#[tokio::test]
async fn a_placement_retried_after_its_window_opens_a_new_one_that_a_cancel_respects() {
    let w = world().await;
    let order = w.place(market_buy("2")).await;
    // The first placement never reaches the venue (outage); the retry comes after
    // the claim's window.
    w.venue.set_unavailable(true);
    let m1 = w.execute_message(&order);
    assert!(w.run(&m1).await.is_err());
    w.venue.set_unavailable(false);
    w.clock.advance_seconds(past_the_window());
    w.venue.delay_next_placement();
    assert!(w.run(&m1).await.is_err(), "the retried placement times out too");
    let retried = w.order(&order).await;
    assert_eq!(retried.status, OrderStatus::Submitted);
    assert!(w.actions(&order).await.contains(&"PLACEMENT_RETRY".to_owned()));
    assert!(retried.placement_deadline > Some(w.clock.now()));
    // A cancel now finds nothing, but the retried placement may land: it waits.
    w.request_cancel(&order).await;
    let c = w.cancel_message(&order);
    assert!(w.run(&c).await.is_err());
    assert_eq!(w.order(&order).await.status, OrderStatus::CancelRequested);
    w.venue.land_delayed_placements();
    w.run(&c).await.unwrap();
    w.intake().await;
    let after = w.order(&order).await;
    assert_eq!(after.status, OrderStatus::Filled);
    assert_eq!(w.cash().await, d("99800"));
    assert_eq!(w.venue.count(&order.order_id), 1);
}

#[tokio::test]
async fn a_stale_market_order_expires_instead_of_reaching_the_venue() {
    let w = world().await;
    let bound = i64::try_from(ExecutePolicy::default().max_immediate_age.as_secs()).unwrap();
    let fresh = w.place(market_buy("1")).await;
    let stale = w.place(market_buy("3")).await;
    assert_eq!(w.open_orders().await, 2);
    // Both messages come late; one within the bound, one after it.
    w.clock.advance_seconds(bound);
    w.run(&w.execute_message(&fresh)).await.unwrap();
    w.intake().await;
    assert_eq!(w.order(&fresh).await.status, OrderStatus::Filled);
    w.clock.advance_seconds(1);
    w.run(&w.execute_message(&stale)).await.unwrap();
    let after = w.order(&stale).await;
    assert_eq!(after.status, OrderStatus::Expired, "{after:?}");
    let reason = after.reason.clone().unwrap_or_default();
    assert!(reason.contains("market order") && reason.contains("300 s"), "{reason}");
    assert_eq!(w.venue.count(&stale.order_id), 0, "nothing reaches the venue");
    assert_eq!(w.reserved().await, Decimal::ZERO, "its reservation is released");
    assert_eq!(w.open_orders().await, 0);
    assert_eq!(w.actions(&stale).await, vec!["SUBMIT", "EXPIRE"]);
}

#[tokio::test]
async fn a_day_order_of_an_earlier_session_expires_and_a_gtc_one_is_placed() {
    let w = world().await;
    let mut day = limit_buy("4", "90");
    day["time_in_force"] = "day".into();
    let day = w.place(day).await;
    let gtc = w.place(limit_buy("4", "90")).await;
    // Redriven from the dead-letter queue three days later: its session is over.
    w.clock.advance_seconds(3 * 24 * 3600);
    w.run(&w.execute_message(&day)).await.unwrap();
    w.run(&w.execute_message(&gtc)).await.unwrap();
    let after = w.order(&day).await;
    assert_eq!(after.status, OrderStatus::Expired, "{after:?}");
    assert!(
        after.reason.as_deref().unwrap_or_default().contains("DAY order"),
        "{after:?}"
    );
    assert_eq!(w.venue.count(&day.order_id), 0);
    assert_eq!(
        w.order(&gtc).await.status,
        OrderStatus::Submitted,
        "a GTC order never goes stale"
    );
    assert_eq!(w.venue.count(&gtc.order_id), 1);
    assert_eq!(w.reserved().await, d("360.00"), "only the GTC order still holds cash");
}

#[tokio::test]
async fn a_claimed_order_never_placed_expires_when_it_comes_back_stale() {
    let w = world().await;
    let order = w.place(market_buy("1")).await;
    w.venue.set_unavailable(true);
    let m = w.execute_message(&order);
    assert!(w.run(&m).await.is_err());
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    w.venue.set_unavailable(false);
    w.clock.advance_seconds(3600);
    w.run(&m).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Expired);
    assert_eq!(w.venue.count(&order.order_id), 0);
    assert_eq!(w.reserved().await, Decimal::ZERO);
}

#[tokio::test]
async fn a_recheck_queued_before_the_chains_went_is_a_plain_look() {
    let w = world().await;
    let order = w.place(limit_buy("2", "90")).await;
    w.run(&w.execute_message(&order)).await.unwrap();
    let before = w.order(&order).await;
    // Placed before the working index existed: only its queued re-check knows it.
    w.intake.remove_working(&order.order_id).await.unwrap();
    let old = WorkMessage::Recheck {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
        seq: 7,
    };
    w.run(&old).await.unwrap();
    w.run(&old).await.unwrap();
    let after = w.order(&order).await;
    assert_eq!((after.status, after.version), (before.status, before.version));
    assert_eq!(w.venue.count(&order.order_id), 1, "never placed again");
    let working = w.intake.working_orders().await.unwrap();
    assert_eq!(
        working.iter().map(|o| o.order_id).collect::<Vec<_>>(),
        vec![order.order_id],
        "the look puts it in the working index, so the sweep sees it end"
    );
}

/// A placement refused by the venue's rate limit (a 429: Alpaca did not accept the
/// order) was never sent in effect: the next delivery places it without looking it
/// up first, and no sweep in between looks it up either. Lookups during a placement
/// burst would otherwise take the venue budget the intake needs.
#[tokio::test]
async fn a_rate_limited_placement_is_placed_next_time_without_a_lookup() {
    let w = world().await;
    let order = w.place(limit_buy("2", "95")).await;
    let m = w.execute_message(&order);
    w.venue.rate_limit_next(1);
    let refused = w.run(&m).await;
    assert!(refused.is_err(), "the rate limit is a failure to retry: {refused:?}");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.venue.count(&order.order_id), 0, "the venue took nothing");
    let (finds, _) = w.venue.calls();
    let report = w.intake().await;
    assert_eq!(
        report.looked_up, 0,
        "the sweep looks up no order that was never sent: {report:?}"
    );
    w.run(&m).await.unwrap();
    assert_eq!(w.venue.count(&order.order_id), 1);
    assert_eq!(w.venue.calls().0, finds, "placed again without a lookup");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    // Working at the venue now: in the working index, and followed by the sweep.
    let report = w.intake().await;
    assert_eq!((report.listed, report.looked_up), (1, 0), "{report:?}");
    w.venue.set_price("AAPL", d("94"));
    w.intake().await;
    assert_eq!(w.order(&order).await.status, OrderStatus::Filled);
    w.assert_fills_are_the_venues(&order).await;
}

/// Our own budget deferring a placement (`BudgetedVenue`: the request is never made)
/// is the same: the next delivery places without a lookup.
#[tokio::test]
async fn a_placement_our_budget_deferred_is_placed_next_time_without_a_lookup() {
    use shared::adapters::memory::MemoryVenueBudget;
    use shared::adapters::venue::BudgetedVenue;
    use shared::ports::VenueRate;

    let w = world().await;
    let order = w.place(limit_buy("2", "95")).await;
    let m = w.execute_message(&order);
    // One request a window, spent by someone else before we come.
    let budget = Arc::new(MemoryVenueBudget::new());
    let rate = VenueRate {
        per_minute: 1,
        window_secs: 60,
    };
    let venue = BudgetedVenue::new(Shared(w.venue.clone()), budget.clone(), "key", rate, w.clock.clone());
    let deps = ExecuteDeps {
        store: w.store.as_ref(),
        intake: w.intake.as_ref(),
        venue: &venue,
        clock: w.clock.as_ref(),
        policy: Default::default(),
    };
    use shared::ports::VenueBudget;
    budget.take_venue_request("key", rate, w.clock.now()).await.unwrap();
    assert!(execute(&deps, &m, "m-1").await.is_err(), "deferred by the budget");
    assert_eq!(w.venue.count(&order.order_id), 0);
    let (finds, _) = w.venue.calls();
    // The next window: one request, and it is the placement.
    w.clock.advance_seconds(60);
    execute(&deps, &m, "m-2").await.unwrap();
    assert_eq!(
        w.venue.count(&order.order_id),
        1,
        "placed with the window's one request"
    );
    assert_eq!(w.venue.calls().0, finds, "no lookup first");
}

/// A placement whose answer was lost (a timeout) may be at the venue: the next
/// delivery looks it up before anything else, and finds it.
#[tokio::test]
async fn a_placement_that_timed_out_is_looked_up_before_it_is_placed_again() {
    let w = world().await;
    let order = w.place(limit_buy("2", "95")).await;
    let m = w.execute_message(&order);
    w.venue.delay_next_placement();
    assert!(w.run(&m).await.is_err());
    assert_eq!(w.venue.land_delayed_placements(), 1);
    let (finds, _) = w.venue.calls();
    w.run(&m).await.unwrap();
    assert_eq!(w.venue.calls().0, finds + 1, "looked up first");
    assert_eq!(w.venue.count(&order.order_id), 1, "never sent twice");
}

/// The world's venue, shared with a `BudgetedVenue` in front of it.
struct Shared(Arc<MemoryVenue>);

#[async_trait::async_trait]
impl shared::ports::Venue for Shared {
    async fn place(&self, order: &Order) -> Result<shared::ports::VenueOrder, shared::ports::VenueError> {
        self.0.place(order).await
    }
    async fn find(&self, id: &OrderId) -> Result<Option<shared::ports::VenueOrder>, shared::ports::VenueError> {
        self.0.find(id).await
    }
    async fn cancel(&self, venue_order_id: &str) -> Result<(), shared::ports::VenueError> {
        self.0.cancel(venue_order_id).await
    }
}

fn backstop(w: &World, order: &Order, of: Backstopped) -> WorkMessage {
    WorkMessage::Backstop {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
        of,
    }
}

#[tokio::test]
async fn a_backstop_behind_the_fast_paths_message_costs_no_venue_call() {
    let w = world().await;
    let order = w.place(limit_buy("2", "90")).await;
    // The fast path's message claimed and placed it.
    w.run(&w.execute_message(&order)).await.unwrap();
    let (placed, calls) = (w.order(&order).await, w.venue.calls());
    assert_eq!(placed.status, OrderStatus::Submitted);

    w.run(&backstop(&w, &order, Backstopped::Execute)).await.unwrap();
    assert_eq!(w.venue.calls(), calls, "no lookup at the venue");
    assert_eq!(w.venue.count(&order.order_id), 1);
    assert_eq!(w.order(&order).await, placed, "the order is untouched");
}

#[tokio::test]
async fn a_backstop_for_an_order_the_fast_path_never_reached_places_it_once() {
    let w = world().await;
    let order = w.place(limit_buy("2", "90")).await;
    w.run(&backstop(&w, &order, Backstopped::Execute)).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.venue.count(&order.order_id), 1);
    // The fast path's message after all (sent, but slower than the backstop's delay).
    w.run(&w.execute_message(&order)).await.unwrap();
    assert_eq!(w.venue.count(&order.order_id), 1, "still one venue order");
    assert_eq!(w.actions(&order).await, ["SUBMIT", "CLAIM"]);
}

#[tokio::test]
async fn a_cancel_backstop_acts_only_while_the_venue_has_not_confirmed_the_cancel() {
    let w = world().await;
    let queue = MemoryQueue::new();
    let cancel_deps = CancelDeps {
        store: w.store.as_ref(),
        clock: &SystemClock,
        queue: Some(&queue),
    };
    // The fast path sent the cancel message at the commit; it went to the venue.
    let order = w.placed(limit_buy("2", "90")).await;
    let requested = cancel(&cancel_deps, &w.trader, &order.order_id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(requested.status, OrderStatus::CancelRequested);
    assert_eq!(queue.messages(), [w.cancel_message(&order)], "sent at the commit");
    w.run(&w.cancel_message(&order)).await.unwrap();
    let (done, calls) = (w.order(&order).await, w.venue.calls());
    assert_eq!(done.status, OrderStatus::Cancelled);
    w.run(&backstop(&w, &order, Backstopped::Cancel)).await.unwrap();
    assert_eq!(
        w.venue.calls(),
        calls,
        "a confirmed cancel's backstop costs no venue call"
    );
    assert_eq!(w.order(&order).await, done);

    // Its fast-path message lost: the backstop cancels it at the venue.
    let other = w.placed(limit_buy("2", "90")).await;
    cancel(&cancel_deps, &w.trader, &other.order_id.to_string(), None)
        .await
        .unwrap();
    w.run(&backstop(&w, &other, Backstopped::Cancel)).await.unwrap();
    assert_eq!(w.order(&other).await.status, OrderStatus::Cancelled);
    let at_venue = w.venue.orders();
    let venue_order = at_venue
        .iter()
        .find(|o| o.client_order_id == other.order_id.to_string());
    assert_eq!(venue_order.map(|o| o.status.to_string()).as_deref(), Some("canceled"));
}

#[tokio::test]
async fn cancelling_a_pending_order_sends_nothing() {
    let w = world().await;
    let queue = MemoryQueue::new();
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: &SystemClock,
        queue: Some(&queue),
    };
    let order = w.place(limit_buy("2", "90")).await;
    let done = cancel(&deps, &w.trader, &order.order_id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(done.status, OrderStatus::Cancelled);
    assert!(queue.is_empty(), "cancelled here: no venue work");
}

#[tokio::test]
async fn a_cancel_the_venue_takes_later_is_marked_so_the_outbox_sends_no_backstop() {
    use shared::adapters::memory::MemoryEvents;
    use shared::app::publish::{ChangeKind, OrderChange, Waits, publish_changes};
    let w = world().await;
    w.venue.set_async_cancels(true);
    let order = w.placed(limit_buy("2", "90")).await;
    let submitted = w.order(&order).await;
    let requested = w.request_cancel(&order).await;
    assert_eq!(requested.status, OrderStatus::CancelRequested);
    // The stream's record of the cancel request, as publish gets it.
    let asked = [OrderChange {
        sequence_number: "1".into(),
        kind: ChangeKind::Modify,
        old: Some(submitted),
        new: Some(requested.clone()),
    }];
    let backstops = || async {
        let queue = MemoryQueue::new();
        let waits = Waits {
            orders: w.store.as_ref(),
            intake: w.intake.as_ref(),
        };
        publish_changes(&MemoryEvents::new(), &queue, waits, &asked)
            .await
            .messages
    };
    assert_eq!(
        backstops().await,
        1,
        "before the cancel message was acted on: backed up"
    );

    w.run(&w.cancel_message(&order)).await.unwrap();
    assert_eq!(
        w.order(&order).await.status,
        OrderStatus::CancelRequested,
        "the venue has not carried the cancel out yet"
    );
    assert!(w.venue.orders()[0].status.is_open(), "still open at the venue");
    assert!(w.intake.cancel_done(&order.order_id).await.unwrap());
    assert_eq!(backstops().await, 0, "the cancel message was acted on: no backstop");

    // The venue carries it out; the sweep ends ours and releases the funds.
    assert_eq!(w.venue.finish_cancels(), 1);
    w.intake().await;
    assert_eq!(w.order(&order).await.status, OrderStatus::Cancelled);
    assert_eq!(w.reserved().await, Decimal::ZERO);
    assert!(!w.intake.is_working(&order.order_id).await.unwrap());
}

#[tokio::test]
async fn a_cancel_that_finds_the_order_filled_at_the_venue_is_marked_done_and_the_fill_booked() {
    use shared::adapters::memory::MemoryEvents;
    use shared::app::publish::{ChangeKind, OrderChange, Waits, publish_changes};
    let w = world().await;
    let order = w.placed(limit_buy("2", "90")).await;
    let submitted = w.order(&order).await;
    // The venue fills it before the cancel gets there; the intake has not booked it.
    w.venue.fill(&order.order_id, d("2"), d("89.50")).unwrap();
    let requested = w.request_cancel(&order).await;
    w.run(&w.cancel_message(&order)).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::CancelRequested);
    assert!(
        w.intake.cancel_done(&order.order_id).await.unwrap(),
        "nothing left to cancel"
    );
    let asked = [OrderChange {
        sequence_number: "1".into(),
        kind: ChangeKind::Modify,
        old: Some(submitted),
        new: Some(requested),
    }];
    let waits = Waits {
        orders: w.store.as_ref(),
        intake: w.intake.as_ref(),
    };
    let out = publish_changes(&MemoryEvents::new(), &MemoryQueue::new(), waits, &asked).await;
    assert_eq!(out.messages, 0, "no backstop of a cancel with nothing left to do");
    w.intake().await;
    let done = w.order(&order).await;
    assert_eq!((done.status, done.filled_quantity), (OrderStatus::Filled, d("2")));
}
