//! What the venue contract suite needs from a venue under test, and the two venues:
//! the in-memory venue, and the Alpaca adapter over HTTP to a simulator started
//! in-process on a free loopback port (its clock frozen: prices move only when a
//! test moves them, so every case is deterministic).

#![allow(dead_code)] // each test binary uses a different part of this module

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::adapters::memory::MemoryVenue;
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue};
use shared::domain::{Order, OrderId, Timestamp, TraderId, validate_order};
use shared::ports::Venue;
use venue_simulator::{RunningSim, SimConfig};

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("test decimal {s}"))
}

/// A domain order as the submit path would make it, from API-style JSON fields.
pub fn order(fields: Value) -> Order {
    let mut body = json!({"symbol": "AAPL", "side": "buy", "quantity": "10", "type": "market"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut body, fields) {
        base.extend(extra);
    }
    let draft = validate_order(&body).unwrap_or_else(|e| panic!("test order {body}: {e:?}"));
    let trader = TraderId::parse("contract-trader").expect("trader id");
    Order::pending(OrderId::new(), trader, draft, Decimal::ZERO, Timestamp::now())
}

#[async_trait]
pub trait Harness: Send + Sync {
    fn venue(&self) -> &dyn Venue;
    /// Moves `symbol` to `price` now; resting orders it crosses fill (setting the
    /// same price again lets partially filled orders fill more).
    async fn set_price(&self, symbol: &str, price: &str);
    async fn set_partial_fills(&self, on: bool);
    /// Every call fails before doing anything.
    async fn set_unavailable(&self, on: bool);
    /// Calls do their work, then the answer is lost.
    async fn set_dropping(&self, on: bool);
    /// How many orders the venue holds under this client order id.
    async fn count(&self, client: &OrderId) -> usize;
    /// The order's fills as (quantity, price), in order.
    async fn fills(&self, client: &OrderId) -> Vec<(Decimal, Decimal)>;
    /// Lets a trading day pass.
    async fn pass_day(&self);
}

pub struct Memory(pub MemoryVenue);

pub fn memory() -> Memory {
    Memory(MemoryVenue::new())
}

#[async_trait]
impl Harness for Memory {
    fn venue(&self) -> &dyn Venue {
        &self.0
    }
    async fn set_price(&self, symbol: &str, price: &str) {
        self.0.set_price(symbol, dec(price));
    }
    async fn set_partial_fills(&self, on: bool) {
        self.0.set_partial_fills(on);
    }
    async fn set_unavailable(&self, on: bool) {
        self.0.set_unavailable(on);
    }
    async fn set_dropping(&self, on: bool) {
        if on {
            self.0.drop_next_response();
        }
    }
    async fn count(&self, client: &OrderId) -> usize {
        self.0.count(client)
    }
    async fn fills(&self, client: &OrderId) -> Vec<(Decimal, Decimal)> {
        let id = client.to_string();
        let orders = self.0.orders();
        let order = orders.iter().find(|o| o.client_order_id == id);
        order.map_or_else(Vec::new, |o| o.fills.iter().map(|f| (f.qty, f.price)).collect())
    }
    async fn pass_day(&self) {
        self.0.advance_ms(MemoryVenue::DEFAULT_DAY_MS);
    }
}

pub struct Simulated {
    pub sim: RunningSim,
    pub adapter: AlpacaVenue,
    pub http: reqwest::Client,
}

/// A frozen clock: one tick an hour; orders work as soon as they arrive and cancels
/// take effect at once (the venue port's contract, which the in-memory venue
/// shares); no rate limit. The Alpaca timings have tests of their own
/// (`tests/alpaca_behaviour.rs`) on `alpaca_config`.
pub fn frozen_config() -> SimConfig {
    let mut config = alpaca_config();
    config.knobs.accepted_ms = 0;
    config.knobs.pending_new_ms = 0;
    config.knobs.cancel_ms = 0;
    config.knobs.rate_limit_per_min = 0;
    config
}

/// The frozen clock with the knobs' defaults otherwise, as Alpaca behaves.
pub fn alpaca_config() -> SimConfig {
    let mut config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        ..SimConfig::default()
    };
    config.knobs.tick_ms = 3_600_000;
    config
}

pub fn adapter_for(sim: &RunningSim) -> AlpacaVenue {
    let url = reqwest::Url::parse(&sim.base_url()).expect("simulator URL");
    let config = AlpacaConfig::new(url, "test-key", "test-secret", Duration::from_millis(1500));
    AlpacaVenue::new(&config).expect("adapter")
}

pub async fn simulated_with(config: SimConfig) -> Simulated {
    let sim = venue_simulator::spawn(config).await.expect("simulator starts");
    let adapter = adapter_for(&sim);
    Simulated {
        sim,
        adapter,
        http: reqwest::Client::new(),
    }
}

pub async fn simulated() -> Simulated {
    simulated_with(frozen_config()).await
}

impl Simulated {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("sim reachable");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("sim answers JSON")
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.expect("sim reachable");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("sim answers JSON")
    }

    pub async fn sim_orders(&self, client: &OrderId) -> Vec<Value> {
        let listed = self.get(&format!("/_sim/orders?client_order_id={client}")).await;
        listed["orders"].as_array().cloned().unwrap_or_default()
    }
}

fn decimal_field(v: &Value) -> Decimal {
    dec(v.as_str().unwrap_or_else(|| panic!("decimal string, got {v}")))
}

#[async_trait]
impl Harness for Simulated {
    fn venue(&self) -> &dyn Venue {
        &self.adapter
    }
    async fn set_price(&self, symbol: &str, price: &str) {
        self.post("/_sim/prices", json!({ symbol: price })).await;
    }
    async fn set_partial_fills(&self, on: bool) {
        self.post("/_sim/config", json!({"partial_fill_rate": if on { 1.0 } else { 0.0 }}))
            .await;
    }
    async fn set_unavailable(&self, on: bool) {
        self.post("/_sim/config", json!({"error_rate": if on { 1.0 } else { 0.0 }}))
            .await;
    }
    async fn set_dropping(&self, on: bool) {
        self.post(
            "/_sim/config",
            json!({"drop_response_rate": if on { 1.0 } else { 0.0 }}),
        )
        .await;
    }
    async fn count(&self, client: &OrderId) -> usize {
        self.sim_orders(client).await.len()
    }
    async fn fills(&self, client: &OrderId) -> Vec<(Decimal, Decimal)> {
        let orders = self.sim_orders(client).await;
        let fills = orders
            .first()
            .and_then(|o| o["fills"].as_array().cloned())
            .unwrap_or_default();
        fills
            .iter()
            .map(|f| (decimal_field(&f["qty"]), decimal_field(&f["price"])))
            .collect()
    }
    async fn pass_day(&self) {
        self.post("/_sim/config", json!({"day_ms": 1})).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
