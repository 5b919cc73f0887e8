//! The market-data contract: the in-memory double and the Alpaca adapter over HTTP to
//! the simulator (started in-process) both give a symbol's latest price as the market
//! moves; and the simulator's own answers: Alpaca's shape and error bodies.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use shared::adapters::memory::MemoryMarketData;
use shared::adapters::venue::{AlpacaMarketData, MarketDataConfig, VenueKeys};
use shared::domain::{Price, Symbol};
use shared::ports::MarketData;
use support::{Simulated, dec, simulated};

#[async_trait]
trait Market {
    fn data(&self) -> &dyn MarketData;
    async fn set_price(&self, symbol: &str, price: &str);
}

struct Memory(Arc<MemoryMarketData>);

#[async_trait]
impl Market for Memory {
    fn data(&self) -> &dyn MarketData {
        self.0.as_ref()
    }
    async fn set_price(&self, symbol: &str, price: &str) {
        self.0
            .set_price(&Symbol::parse(symbol).unwrap(), Price::parse(dec(price)).unwrap());
    }
}

struct OverHttp {
    sim: Simulated,
    adapter: AlpacaMarketData,
}

async fn over_http() -> OverHttp {
    let sim = simulated().await;
    let config = MarketDataConfig {
        base_url: reqwest::Url::parse(&sim.sim.base_url()).unwrap(),
        feed: Some("iex".into()),
        timeout: Duration::from_millis(1500),
        cache_ttl: Duration::ZERO,
    };
    let adapter = AlpacaMarketData::new(&config, VenueKeys::new("test-key", "test-secret").unwrap()).unwrap();
    OverHttp { sim, adapter }
}

#[async_trait]
impl Market for OverHttp {
    fn data(&self) -> &dyn MarketData {
        &self.adapter
    }
    async fn set_price(&self, symbol: &str, price: &str) {
        self.sim.post("/_sim/prices", json!({ symbol: price })).await;
    }
}

async fn the_latest_price_follows_the_market(m: &dyn Market) {
    let aapl = Symbol::parse("AAPL").unwrap();
    m.set_price("AAPL", "190.12").await;
    assert_eq!(
        m.data().latest_price(&aapl).await,
        Ok(Some(Price::parse(dec("190.12")).unwrap()))
    );
    m.set_price("AAPL", "250.5").await;
    assert_eq!(
        m.data().latest_price(&aapl).await,
        Ok(Some(Price::parse(dec("250.5")).unwrap()))
    );
    m.set_price("PENY", "0.4321").await;
    let penny = m.data().latest_price(&Symbol::parse("PENY").unwrap()).await;
    assert_eq!(penny, Ok(Some(Price::parse(dec("0.4321")).unwrap())));
}

#[tokio::test]
async fn memory_the_latest_price_follows_the_market() {
    the_latest_price_follows_the_market(&Memory(Arc::new(MemoryMarketData::new()))).await;
}

#[tokio::test]
async fn simulator_the_latest_price_follows_the_market() {
    the_latest_price_follows_the_market(&over_http().await).await;
}

#[tokio::test]
async fn the_simulator_answers_alpacas_latest_trade_shape_and_errors() {
    let s = simulated().await;
    s.post("/_sim/prices", json!({"MSFT": "410.5"})).await;
    let signed = |path: &str| {
        s.http
            .get(s.url(path))
            .header("APCA-API-KEY-ID", "k")
            .header("APCA-API-SECRET-KEY", "s")
    };
    let ok = signed("/v2/stocks/MSFT/trades/latest?feed=iex").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["symbol"], "MSFT");
    assert_eq!(body["trade"]["p"], json!(410.5), "the price is a JSON number");
    for field in ["t", "x", "p", "s", "c", "i", "z"] {
        assert!(body["trade"].get(field).is_some(), "trade.{field} is required: {body}");
    }
    let bad = signed("/v2/stocks/not%20a%20symbol/trades/latest")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert!(bad["message"].as_str().unwrap().contains("invalid symbol"), "{bad}");
    let feed = signed("/v2/stocks/MSFT/trades/latest?feed=moon").send().await.unwrap();
    assert_eq!(feed.status(), 400);
    let anonymous = s.http.get(s.url("/v2/stocks/MSFT/trades/latest")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // Ticks move it: the latest trade is the price path's.
    s.post("/_sim/tick", json!({"ticks": 5})).await;
    let moved: Value = signed("/v2/stocks/MSFT/trades/latest")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prices = s.get("/_sim/prices").await;
    assert_eq!(
        dec(&moved["trade"]["p"].to_string()),
        dec(prices["MSFT"].as_str().unwrap())
    );
}

#[tokio::test]
async fn market_data_has_its_own_per_key_limit_and_the_adapter_reads_its_wait() {
    let m = over_http().await;
    let s = &m.sim;
    s.post(
        "/_sim/config",
        json!({"market_data_rate_limit_per_min": 2, "rate_limit_per_min": 1}),
    )
    .await;
    let aapl = Symbol::parse("AAPL").unwrap();
    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    for _ in 0..2 {
        assert!(matches!(m.adapter.latest_price(&aapl).await, Ok(Some(_))));
    }
    let signed = |key: &'static str| {
        s.http
            .get(s.url("/v2/stocks/AAPL/trades/latest"))
            .header("APCA-API-KEY-ID", key)
            .header("APCA-API-SECRET-KEY", "s")
    };
    // The adapter's key spent its two: a 429 with the document's headers.
    let limited = signed("test-key").send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let header = |name: &str| {
        limited
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    assert_eq!(
        (header("x-ratelimit-limit"), header("x-ratelimit-remaining")),
        (Some(2), Some(0))
    );
    let reset = header("x-ratelimit-reset").expect("reset");
    assert!(reset > started && reset <= started + 61, "reset {reset}, now {started}");
    // The adapter waits until the reset.
    match m.adapter.latest_price(&aapl).await {
        Err(shared::ports::MarketDataError::RateLimited { retry_after_secs }) => {
            assert!((1..=61).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("expected the rate limit, got {other:?}"),
    }
    // Another key has its own quota; the trading API's limit is apart from this one.
    assert_eq!(signed("another-key").send().await.unwrap().status(), 200);
    let trading = s
        .http
        .get(s.url("/v2/orders"))
        .header("APCA-API-KEY-ID", "test-key")
        .header("APCA-API-SECRET-KEY", "s")
        .send()
        .await
        .unwrap();
    assert_eq!(
        trading.status(),
        200,
        "market data calls do not spend the trading quota"
    );
}
