//! Market data (`MarketData`): the latest price of a symbol, which values market and
//! stop orders at submit (SPEC §4.3). Alpaca's Market Data API answers it in
//! production (`adapters::venue::market_data`), the simulator locally, and
//! `adapters::memory::MemoryMarketData` in tests; `adapters::venue::CachedMarketData`
//! keeps each answer for a short, stated time per warm instance.

use async_trait::async_trait;

use crate::domain::{Price, Symbol};

/// Why market data gave no price: the caller falls back to the static reference
/// prices (`REFERENCE_PRICES`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MarketDataError {
    /// The source did not answer, or answered something unreadable.
    #[error("market data unavailable: {0}")]
    Unavailable(String),
    /// The source refused the request (e.g. an unknown symbol, a bad key).
    #[error("market data refused the request: {0}")]
    Refused(String),
    /// The source's rate limit (429): no request before `retry_after_secs` have passed
    /// (Alpaca's Market Data API: 200 requests a minute per account on its Basic plan).
    #[error("market data rate limit reached; asked again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
}

/// The latest price of a symbol.
#[async_trait]
pub trait MarketData: Send + Sync {
    /// The price of the symbol's latest trade; `Ok(None)` when the source has no
    /// trade for it.
    async fn latest_price(&self, symbol: &Symbol) -> Result<Option<Price>, MarketDataError>;
}
