//! Market data for tests: prices set by hand, a fault knob, and a count of calls.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{Price, Symbol};
use crate::ports::{MarketData, MarketDataError};

#[derive(Default)]
pub struct MemoryMarketData {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    prices: HashMap<Symbol, Price>,
    failing: bool,
    rate_limited: Option<u64>,
    calls: usize,
}

impl MemoryMarketData {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The symbol's latest trade is now at `price`.
    pub fn set_price(&self, symbol: &Symbol, price: Price) {
        self.lock().prices.insert(symbol.clone(), price);
    }

    /// While `true`, every call fails as if the source were down.
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// While `Some(secs)`, every call answers as a 429 with that `Retry-After`.
    pub fn set_rate_limited(&self, retry_after_secs: Option<u64>) {
        self.lock().rate_limited = retry_after_secs;
    }

    /// How many times the source was asked.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }
}

#[async_trait]
impl MarketData for MemoryMarketData {
    async fn latest_price(&self, symbol: &Symbol) -> Result<Option<Price>, MarketDataError> {
        let mut inner = self.lock();
        inner.calls += 1;
        if let Some(retry_after_secs) = inner.rate_limited {
            return Err(MarketDataError::RateLimited { retry_after_secs });
        }
        if inner.failing {
            return Err(MarketDataError::Unavailable("the market data double is down".into()));
        }
        Ok(inner.prices.get(symbol).copied())
    }
}
