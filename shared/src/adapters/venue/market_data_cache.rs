//! `CachedMarketData` keeps each symbol's answer for a short time (`MARKET_DATA_CACHE_MS`,
//! default 1000 ms) per warm instance, so a burst of orders in one symbol asks once.
//! After a failure it holds off for a while (a 429: until the source's `Retry-After` /
//! `X-RateLimit-Reset`; anything else: `FAILURE_HOLD_OFF_MS`), so a source that is down
//! or out of requests costs submits the static fallback, not a timeout each, and is
//! not asked faster than it allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Price, Symbol};
use crate::ports::{Clock, MarketData, MarketDataError};

/// How long `CachedMarketData` asks nothing after a failure other than a 429.
pub const FAILURE_HOLD_OFF_MS: i64 = 2000;

/// `MarketData` with each symbol's answer (a price, or "no trade") kept for `ttl`.
/// A failure holds every symbol off (the source's limit and health are per account,
/// not per symbol): until then the failure is answered without asking.
pub struct CachedMarketData {
    inner: Arc<dyn MarketData>,
    clock: Arc<dyn Clock>,
    ttl_ms: i64,
    kept: Mutex<HashMap<Symbol, (i64, Option<Price>)>>,
    /// Until when (unix ms) nothing is asked, and the failure that said so.
    held_off: Mutex<Option<(i64, MarketDataError)>>,
}

impl CachedMarketData {
    pub fn new(inner: Arc<dyn MarketData>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            kept: Mutex::new(HashMap::new()),
            held_off: Mutex::new(None),
        }
    }
}

#[async_trait]
impl MarketData for CachedMarketData {
    async fn latest_price(&self, symbol: &Symbol) -> Result<Option<Price>, MarketDataError> {
        let now = self.clock.now().unix_millis();
        {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, price)) = kept.get(symbol)
                && now.saturating_sub(*at) < self.ttl_ms
            {
                return Ok(*price);
            }
        }
        {
            let held = self.held_off.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((until, e)) = held.as_ref().filter(|(until, _)| now < *until) {
                tracing::debug!(symbol = %symbol, held_for_ms = until - now, "market data held off");
                return Err(e.clone());
            }
        }
        let price = match self.inner.latest_price(symbol).await {
            Ok(p) => p,
            Err(e) => {
                let hold_ms = match &e {
                    MarketDataError::RateLimited { retry_after_secs } => {
                        i64::try_from(retry_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
                    }
                    _ => FAILURE_HOLD_OFF_MS,
                };
                tracing::warn!(error = %e, hold_off_ms = hold_ms, "market data failed; held off");
                *self.held_off.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((now.saturating_add(hold_ms), e.clone()));
                return Err(e);
            }
        };
        if self.ttl_ms > 0 {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.insert(symbol.clone(), (now, price));
        }
        Ok(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{FixedClock, MemoryMarketData};
    use crate::domain::Timestamp;
    use rust_decimal::Decimal;

    fn price(s: &str) -> Price {
        Price::parse(s.parse::<Decimal>().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_cache_asks_once_per_symbol_within_its_time_and_again_after_it() {
        let source = Arc::new(MemoryMarketData::new());
        let clock = Arc::new(FixedClock::new(Timestamp::now()));
        let aapl = Symbol::parse("AAPL").unwrap();
        source.set_price(&aapl, price("190"));
        let cached = CachedMarketData::new(source.clone(), clock.clone(), Duration::from_millis(1000));
        assert_eq!(cached.latest_price(&aapl).await, Ok(Some(price("190"))));
        source.set_price(&aapl, price("250"));
        assert_eq!(cached.latest_price(&aapl).await, Ok(Some(price("190"))));
        assert_eq!(source.calls(), 1);
        clock.advance_seconds(1);
        assert_eq!(cached.latest_price(&aapl).await, Ok(Some(price("250"))));
        assert_eq!(source.calls(), 2);
    }

    #[tokio::test]
    async fn after_a_failure_the_cache_holds_off_and_after_a_429_until_the_source_allows() {
        let source = Arc::new(MemoryMarketData::new());
        let clock = Arc::new(FixedClock::new(Timestamp::now()));
        let (aapl, msft) = (Symbol::parse("AAPL").unwrap(), Symbol::parse("MSFT").unwrap());
        source.set_price(&aapl, price("190"));
        source.set_price(&msft, price("400"));
        let cached = CachedMarketData::new(source.clone(), clock.clone(), Duration::from_millis(1000));
        // Down: one request asks; for FAILURE_HOLD_OFF_MS none does, whatever the symbol.
        source.set_failing(true);
        assert!(matches!(
            cached.latest_price(&aapl).await,
            Err(MarketDataError::Unavailable(_))
        ));
        source.set_failing(false);
        clock.advance_millis(FAILURE_HOLD_OFF_MS - 1);
        assert!(matches!(
            cached.latest_price(&msft).await,
            Err(MarketDataError::Unavailable(_))
        ));
        assert_eq!(source.calls(), 1);
        clock.advance_millis(1);
        assert_eq!(cached.latest_price(&msft).await, Ok(Some(price("400"))));
        assert_eq!(source.calls(), 2);
        // A 429 asking for 7 s: nothing is asked for 7 s, then the source is asked again.
        clock.advance_seconds(5);
        source.set_rate_limited(Some(7));
        let limited = Err(MarketDataError::RateLimited { retry_after_secs: 7 });
        assert_eq!(cached.latest_price(&aapl).await, limited);
        source.set_rate_limited(None);
        clock.advance_seconds(6);
        assert_eq!(cached.latest_price(&aapl).await, limited);
        assert_eq!(source.calls(), 3);
        clock.advance_seconds(1);
        assert_eq!(cached.latest_price(&aapl).await, Ok(Some(price("190"))));
        assert_eq!(source.calls(), 4);
    }
}
