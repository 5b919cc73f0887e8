//! Fixtures for the hot path benchmarks: a funded trader over the in-memory ports,
//! and timing loops that keep store setup out of the measurement.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use rust_decimal::Decimal;

use shared::adapters::memory::{FixedClock, MemoryStore};
use shared::app::{AuditContext, SubmitDeps, SubmitRequest, plan_submit};
use shared::domain::{Account, Order, OrderId, Pricing, RiskLimits, Timestamp, TraderId, validate_order};
use shared::http::ApiError;
use shared::http::submit::{Reply, submit};
use shared::ports::{Clock, OrderStore};

/// The SPEC's example order (a limit buy holding 1,502.50 of cash), without its client
/// order id: ids are unique among a trader's open orders (issue 20), so every bench
/// order after the first would be a 409, and the in-memory store finds a taken id by a
/// scan where DynamoDB reads one key.
pub const LIMIT_BUY: &str = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "150.25", "time_in_force": "day"}"#;
/// `SUBMIT_EVENT`'s body carries this client order id; the bench events drop it (as
/// `LIMIT_BUY` does).
pub const SUBMIT_EVENT_CLIENT_ORDER_ID: &str = r#", \"client_order_id\": \"my-first-order\""#;
/// A market sell (valued at a reference price, holds position quantity).
pub const MARKET_SELL: &str = r#"{"symbol": "MSFT", "side": "sell", "type": "market", "quantity": 5}"#;
/// Every field wrong: the 422 path, which formats one message per field.
pub const INVALID: &str =
    r#"{"symbol": "aapl", "side": "long", "type": "limit", "quantity": "0", "time_in_force": "week", "extra": 1}"#;
/// The sample API Gateway v2 event the submit function is tested on.
pub const SUBMIT_EVENT: &str = include_str!("../../../events/submit-order.json");
/// The trader of `SUBMIT_EVENT`.
pub const TRADER: &str = "demo";

/// Orders per fresh store: bounds the memory a long measurement uses, so the maps
/// stay the size a warm function sees rather than growing for minutes.
pub const CHUNK: u64 = 2_000;

/// 10 s into a minute, as in the use case tests.
pub fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_789_999_990_000).unwrap_or_else(Timestamp::now)
}

/// Limits that never refuse a benchmark order: every submit is a real accept.
pub fn generous_limits() -> RiskLimits {
    RiskLimits {
        max_order_notional: Decimal::from(1_000_000),
        max_open_orders: u32::MAX,
        daily_loss_limit: Decimal::from(5_000),
        orders_per_minute: u32::MAX,
        duplicate_window_secs: 0,
        restricted_symbols: Vec::new(),
        max_notional_per_minute: Decimal::ZERO,
    }
}

pub fn trader() -> TraderId {
    TraderId::parse(TRADER).expect("bench trader id")
}

pub struct World {
    pub store: MemoryStore,
    pub clock: FixedClock,
    pub pricing: Pricing,
}

impl World {
    /// A store with `TRADER` funded for far more orders than one chunk places.
    pub fn new() -> Self {
        let store = MemoryStore::new();
        block_on(store.fund_account(&trader(), Decimal::from(1_000_000_000_000i64), Some(generous_limits())))
            .expect("fund the bench trader");
        Self {
            store,
            clock: FixedClock::new(now()),
            pricing: Pricing::default(),
        }
    }

    /// As `new`, with every pre-trade check of issue 19 switched on (`checks`) or off:
    /// the deployment's price band, quantity cap and restricted symbols, the trader's
    /// restricted symbols, a duplicate window and a rolling-minute notional (each set so
    /// the bench orders pass it, so every call does the check's work and is accepted).
    pub fn with_checks(checks: bool) -> Self {
        let mut w = Self::new();
        if !checks {
            return w;
        }
        let symbol = |s: &str| shared::domain::Symbol::parse(s).expect("bench symbol");
        let limits = RiskLimits {
            duplicate_window_secs: 30,
            restricted_symbols: vec![symbol("GME"), symbol("AMC")],
            max_notional_per_minute: Decimal::from(1_000_000_000_000i64),
            ..generous_limits()
        };
        block_on(w.store.fund_account(&trader(), Decimal::ZERO, Some(limits))).expect("set the bench limits");
        w.pricing.checks.price_band = Some(Decimal::new(10, 2));
        w.pricing.checks.max_quantity = Some(Decimal::from(1_000_000));
        w.pricing.checks.restricted = [symbol("BBBY"), symbol("GME")].into();
        w.pricing.reference.insert(
            symbol("AAPL"),
            shared::domain::Price::parse(Decimal::new(15000, 2)).expect("bench price"),
        );
        w
    }

    /// A submit without an idempotency key (the one duplicate detection checks), the
    /// clock first moved `step_ms` on as a trader placing orders over time would see.
    pub fn submit_unkeyed(&self, body: &str, step_ms: i64) -> Result<Reply, ApiError> {
        let at = self.clock.now().unix_millis() + step_ms;
        self.clock.set(Timestamp::from_unix_millis(at).unwrap_or_else(now));
        self.submit(body, None)
    }

    pub fn submit(&self, body: &str, key: Option<&str>) -> Result<Reply, ApiError> {
        let deps = SubmitDeps {
            store: &self.store,
            clock: &self.clock,
            pricing: &self.pricing,
            market_data: None,
            queue: None,
        };
        let req = SubmitRequest {
            trader: trader(),
            body: body.as_bytes(),
            idempotency_key: key,
            request_id: Some("req-bench".into()),
            confirm_duplicate: None,
        };
        block_on(submit(&deps, req))
    }
}

/// Checks, outside any timed loop, that a 201 body is the order as the API
/// promises it: a benchmark of a path that answers wrong measures nothing.
pub fn check_accepted(body: &str) {
    let order: Order = serde_json::from_str(body).expect("a 201 body is an order");
    assert_eq!((order.created_at, order.updated_at), (now(), now()), "{body}");
    assert_eq!(order.trader_id, trader(), "{body}");
    assert_eq!(order.status, shared::domain::OrderStatus::Pending, "{body}");
}

/// A PENDING order as submit plans it, with its audit head.
pub fn pending_order() -> Order {
    let body: serde_json::Value = serde_json::from_str(LIMIT_BUY).expect("bench body");
    let draft = validate_order(&body).expect("bench body is valid");
    let mut account = Account::new(trader(), Decimal::from(1_000_000));
    account.limits = generous_limits();
    let ctx = AuditContext::system("bench");
    plan_submit(OrderId::new(), draft, &account, &Pricing::default(), &ctx, now())
        .expect("bench order is affordable")
        .order
}

/// Runs `iters` timed calls in chunks of at most `CHUNK`: `setup(n)` builds each
/// chunk's state untimed, `run(&state, i)` is the timed call `i` of the chunk.
pub fn chunked<S>(iters: u64, mut setup: impl FnMut(u64) -> S, mut run: impl FnMut(&S, usize)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let state = setup(n);
        let start = Instant::now();
        for i in 0..n as usize {
            run(&state, i);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// `n` distinct limit buys (quantities 1..=n), none a duplicate of another.
pub fn distinct_buys(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "{}", "limit_price": "150.25", "time_in_force": "day"}}"#,
                i + 1
            )
        })
        .collect()
}
