// Long because: one world for the market-price scenarios, from submit through the venue to the books.
//! Issue 14, item 7: market and stop orders priced from market data at submit (with
//! the static reference prices as the fallback), and a market buy protected at the
//! venue so that a price jumping past the collar can never take cash below zero.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use shared::adapters::memory::{FixedClock, MemoryIntakeStore, MemoryMarketData, MemoryStore, MemoryVenue};
use shared::app::{CancelDeps, ExecuteDeps, IntakeDeps, SubmitDeps, SubmitRequest, cancel, execute, intake_pass};
use shared::domain::{Order, OrderChecks, OrderId, OrderStatus, Price, Pricing, Symbol, Timestamp, TraderId};
use shared::http::ApiError;
use shared::http::submit::{Reply, submit};
use shared::ports::{Clock, OrderStore, WorkMessage};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn aapl() -> Symbol {
    Symbol::parse("AAPL").unwrap()
}

struct World {
    store: Arc<MemoryStore>,
    intake: Arc<MemoryIntakeStore>,
    venue: Arc<MemoryVenue>,
    market: Arc<MemoryMarketData>,
    clock: Arc<FixedClock>,
    pricing: Pricing,
    trader: TraderId,
    start: Timestamp,
}

/// 20,000 cash; a 5 % collar; a static AAPL price of 190.12 (the fallback); market
/// data and the venue both at `market`.
async fn world(market: &str) -> World {
    let store = Arc::new(MemoryStore::new());
    let trader = TraderId::parse("mkt-alice").unwrap();
    store.fund_account(&trader, d("20000"), None).await.unwrap();
    let venue = Arc::new(MemoryVenue::new());
    venue.set_price("AAPL", d(market));
    let now = Timestamp::now();
    venue.set_epoch(now);
    let data = Arc::new(MemoryMarketData::new());
    data.set_price(&aapl(), Price::parse(d(market)).unwrap());
    let mut pricing = Pricing {
        collar: d("0.05"),
        ..Pricing::default()
    };
    pricing.reference.insert(aapl(), Price::parse(d("190.12")).unwrap());
    World {
        store,
        intake: Arc::new(MemoryIntakeStore::new()),
        venue,
        market: data,
        clock: Arc::new(FixedClock::new(now)),
        pricing,
        trader,
        start: now.plus_seconds(-1),
    }
}

impl World {
    async fn submit(&self, body: Value) -> Result<Reply, ApiError> {
        self.submit_via(self.market.as_ref(), body).await
    }

    /// As `submit`, with prices from `market`.
    async fn submit_via(&self, market: &dyn shared::ports::MarketData, body: Value) -> Result<Reply, ApiError> {
        let deps = SubmitDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            pricing: &self.pricing,
            market_data: Some(market),
            queue: None,
        };
        let body = body.to_string();
        let req = SubmitRequest {
            trader: self.trader.clone(),
            body: body.as_bytes(),
            idempotency_key: None,
            request_id: None,
            confirm_duplicate: None,
        };
        submit(&deps, req).await
    }

    async fn accepted(&self, body: Value) -> Order {
        self.accepted_via(self.market.as_ref(), body).await
    }

    async fn accepted_via(&self, market: &dyn shared::ports::MarketData, body: Value) -> Order {
        let reply = self.submit_via(market, body).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id: OrderId = serde_json::from_str::<Value>(&reply.body).unwrap()["order_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        self.order(id).await
    }

    async fn order(&self, id: OrderId) -> Order {
        self.store.get_order(&self.trader, &id).await.unwrap().unwrap()
    }

    async fn execute(&self, message: WorkMessage) {
        let deps = ExecuteDeps {
            store: self.store.as_ref(),
            intake: self.intake.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            policy: Default::default(),
        };
        execute(&deps, &message, "m-1").await.unwrap();
    }

    async fn intake(&self) {
        let deps = IntakeDeps {
            store: self.store.as_ref(),
            attention: self.store.as_ref(),
            intake: self.intake.as_ref(),
            feed: self.venue.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            feed_key: "mkt-test",
            start: self.start,
            page_size: 100,
            max_pages: 10,
            unknown_status_alarm_secs: 600,
            statuses: true,
        };
        intake_pass(&deps).await.unwrap();
    }

    async fn cash_and_reserved(&self) -> (Decimal, Decimal) {
        let a = self.store.get_account(&self.trader).await.unwrap().unwrap();
        (a.cash, a.reserved)
    }

    /// Our fills of `order` and the venue's executions of it, (quantity, price) each.
    async fn books_and_venue(&self, order: &Order) -> (Vec<(Decimal, Decimal)>, Vec<(Decimal, Decimal)>) {
        let ours: Vec<_> = self
            .store
            .fills(&self.trader, &order.order_id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.quantity, f.price))
            .collect();
        let venue_id = self
            .venue
            .orders()
            .into_iter()
            .find(|o| o.client_order_id == order.order_id.to_string())
            .map(|o| o.id)
            .unwrap_or_default();
        let venue: Vec<_> = self
            .venue
            .all_executions()
            .into_iter()
            .filter(|e| e.venue_order_id == venue_id)
            .map(|e| (e.qty, e.price))
            .collect();
        (ours, venue)
    }
}

fn market_buy(qty: &str) -> Value {
    json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": qty})
}

#[tokio::test]
async fn a_market_buy_is_reserved_at_the_latest_trade_plus_the_collar_not_the_static_price() {
    let w = world("200").await;
    let order = w.accepted(market_buy("10")).await;
    // 10 × 200 × 1.05, not 10 × 190.12 × 1.05 = 1996.26.
    assert_eq!(order.reserved_amount, d("2100.00"));
    assert_eq!(w.market.calls(), 1, "one look-up, for the order's symbol");
    // A limit buy needs no reference price (no price band): market data is not asked.
    w.accepted(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "150"}))
        .await;
    assert_eq!(w.market.calls(), 1);
}

#[tokio::test]
async fn the_price_band_checks_against_the_latest_trade() {
    let mut w = world("250").await;
    w.pricing.checks = OrderChecks {
        price_band: Some(d("0.10")),
        ..OrderChecks::default()
    };
    // 240 is inside 10 % of the latest trade (250) though 26 % above the static 190.12.
    w.accepted(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "240"}))
        .await;
    let far = w
        .submit(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "200"}))
        .await
        .unwrap();
    assert_eq!(far.status, 422, "{}", far.body);
    assert!(
        far.body.contains("250"),
        "refused against the latest trade: {}",
        far.body
    );
}

#[tokio::test]
async fn without_market_data_the_static_price_is_the_fallback_and_without_either_the_order_is_refused() {
    let w = world("200").await;
    w.market.set_failing(true);
    let order = w.accepted(market_buy("10")).await;
    assert_eq!(order.reserved_amount, d("1996.26"), "10 × 190.12 × 1.05");
    w.market.set_failing(false);
    // No trade in MSFT and no static price: refused as before.
    let refused = w
        .submit(json!({"symbol": "MSFT", "side": "buy", "type": "market", "quantity": "1"}))
        .await
        .unwrap();
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("no-reference-price"), "{}", refused.body);
}

/// The must-show: a market buy whose price jumps past the collar between submit and
/// placement. The venue gets a limit at the reservation price, so it rests there
/// instead of filling at the new price: cash never goes below zero, the order stays
/// visibly working (its venue order a limit at 210), and once the trader cancels it
/// every cent held comes back; the books equal the venue's (no execution, no fill).
#[tokio::test]
async fn a_market_buy_whose_price_jumps_past_the_collar_rests_at_its_limit_and_cash_never_goes_below_zero() {
    let w = world("200").await;
    let order = w
        .accepted(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "95"}))
        .await;
    assert_eq!(order.reserved_amount, d("19950.00"), "95 × 200 × 1.05");
    // The market jumps to 250 before execution places it: 95 × 250 = 23,750 > 20,000.
    w.venue.set_price("AAPL", d("250"));
    w.execute(WorkMessage::Execute {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
    })
    .await;
    w.intake().await;
    let working = w.order(order.order_id).await;
    assert_eq!(
        (working.status, working.filled_quantity),
        (OrderStatus::Submitted, Decimal::ZERO)
    );
    let at_venue = w
        .venue
        .orders()
        .into_iter()
        .find(|o| o.client_order_id == order.order_id.to_string());
    let at_venue = at_venue.expect("placed");
    assert_eq!(
        (at_venue.order_type, at_venue.limit_price),
        (shared::domain::OrderType::Limit, Some(d("210")))
    );
    let (cash, reserved) = w.cash_and_reserved().await;
    assert_eq!((cash, reserved), (d("20000"), d("19950.00")));
    // The trader cancels; nothing filled, everything held comes back.
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: w.clock.as_ref(),
        queue: None,
    };
    cancel(&deps, &w.trader, &order.order_id.to_string(), None)
        .await
        .unwrap();
    w.execute(WorkMessage::Cancel {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
    })
    .await;
    w.intake().await;
    assert_eq!(w.order(order.order_id).await.status, OrderStatus::Cancelled);
    let (cash, reserved) = w.cash_and_reserved().await;
    assert_eq!((cash, reserved), (d("20000"), Decimal::ZERO));
    let (ours, venue) = w.books_and_venue(&order).await;
    assert_eq!((ours.len(), venue.len()), (0, 0));
}

/// The same jump, then the market comes back under the limit: the order fills there,
/// never above it; cash stays at or above zero and the books equal the venue's.
#[tokio::test]
async fn a_protected_market_buy_fills_once_the_market_is_back_under_its_limit() {
    let w = world("200").await;
    let order = w
        .accepted(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "95"}))
        .await;
    w.venue.set_price("AAPL", d("250"));
    w.execute(WorkMessage::Execute {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
    })
    .await;
    w.venue.set_price("AAPL", d("209.99"));
    w.intake().await;
    let filled = w.order(order.order_id).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.average_fill_price, Some(d("209.99")));
    let (cash, reserved) = w.cash_and_reserved().await;
    assert_eq!((cash, reserved), (d("20000") - d("95") * d("209.99"), Decimal::ZERO));
    assert!(cash >= Decimal::ZERO);
    let (ours, venue) = w.books_and_venue(&order).await;
    assert_eq!(ours, venue);
}

/// A replace checks its new limit against the latest trade too (the price band).
#[tokio::test]
async fn a_replace_checks_its_price_band_against_the_latest_trade() {
    use shared::app::{ReplaceRequest, replace};
    use shared::http::submit::ProblemJson;
    let mut w = world("250").await;
    w.pricing.checks = OrderChecks {
        price_band: Some(d("0.10")),
        ..OrderChecks::default()
    };
    let order = w
        .accepted(
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "240",
            "time_in_force": "gtc"}),
        )
        .await;
    // Placed: it rests under the market (a replace needs a working order).
    w.execute(WorkMessage::Execute {
        trader_id: w.trader.clone(),
        order_id: order.order_id,
    })
    .await;
    let deps = SubmitDeps {
        store: w.store.as_ref(),
        clock: w.clock.as_ref(),
        pricing: &w.pricing,
        market_data: Some(w.market.as_ref()),
        queue: None,
    };
    let id = order.order_id.to_string();
    let replace_to = |price: &'static str| {
        let body = json!({"limit_price": price}).to_string();
        let deps = &deps;
        let id = id.clone();
        let trader = w.trader.clone();
        async move {
            let req = ReplaceRequest {
                trader,
                order_id: &id,
                body: body.as_bytes(),
                idempotency_key: None,
                request_id: None,
            };
            replace(deps, &ProblemJson, req).await
        }
    };
    // 200 is inside 10 % of the static 190.12 but not of the latest trade (250).
    let refused = replace_to("200").await;
    let refusal = format!("{refused:?}");
    assert!(refused.is_err() && refusal.contains("250"), "{refusal}");
    assert!(replace_to("245").await.is_ok());
}

/// Market data that takes `millis` of the clock to answer.
struct SlowMarket {
    inner: Arc<MemoryMarketData>,
    clock: Arc<FixedClock>,
    millis: i64,
}

#[async_trait::async_trait]
impl shared::ports::MarketData for SlowMarket {
    async fn latest_price(&self, symbol: &Symbol) -> Result<Option<Price>, shared::ports::MarketDataError> {
        self.clock.advance_millis(self.millis);
        self.inner.latest_price(symbol).await
    }
}

#[tokio::test]
async fn an_order_is_created_when_its_transaction_is_built_not_when_its_request_began() {
    let w = world("190").await;
    let began = w.clock.now();
    let slow = SlowMarket {
        inner: w.market.clone(),
        clock: w.clock.clone(),
        millis: 800,
    };
    let order = w
        .accepted_via(
            &slow,
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"}),
        )
        .await;
    // After the market-data call, not at the request's start.
    let created = order.created_at.unix_millis();
    assert_eq!(created, began.unix_millis() + 800);
    assert_eq!(order.updated_at, order.created_at);
}
