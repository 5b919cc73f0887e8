//! The `MarketData` port over Alpaca's Market Data API ("Market Data API" 1.1,
//! `tools/simulator/spec/market-data-api.json`): `GET /v2/stocks/{symbol}/trades/latest`
//! (`StockLatestTradeSingle`, optional `feed`), answered `{"symbol", "trade": {"t",
//! "p", "s", ...}}`, signed with `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` as the
//! trading adapter signs. Errors come as `{"message"}` (sometimes with a `code`).
//! Production's base URL is `https://data.alpaca.markets`; locally the simulator's.
//!
//! A 429 is `MarketDataError::RateLimited`, with the wait its headers give; the cache in
//! front of it (`market_data_cache`) holds off that long.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;

use super::alpaca::VenueKeys;
use super::wire::parse_decimal;
use crate::config::ConfigError;
use crate::domain::{Price, Symbol};
use crate::ports::{MarketData, MarketDataError};

/// Default whole-request timeout of a market-data call: submit waits for it.
pub const DEFAULT_MARKET_DATA_TIMEOUT_MS: u64 = 1000;
/// Default time a latest price is kept: a second. The collar (5 % by default) covers
/// what a price moves in that time, and a burst of orders in one symbol asks once.
pub const DEFAULT_MARKET_DATA_CACHE_MS: u64 = 1000;

/// The longest hold-off a 429's headers can ask for (Alpaca's window is a minute).
const MAX_RATE_HOLD_OFF_SECS: u64 = 60;

/// Where market data is and how long its answers are kept.
#[derive(Clone, Debug)]
pub struct MarketDataConfig {
    /// e.g. `https://data.alpaca.markets` or the simulator's `http://127.0.0.1:8900`.
    pub base_url: Url,
    /// Alpaca's `feed` (`iex`, `sip`, ...); `None`: the account's default.
    pub feed: Option<String>,
    pub timeout: Duration,
    pub cache_ttl: Duration,
}

impl MarketDataConfig {
    /// `MARKET_DATA_URL` (unset or empty: no market data, `Ok(None)`: the static
    /// `REFERENCE_PRICES` alone), `MARKET_DATA_FEED`, `MARKET_DATA_TIMEOUT_MS` (default
    /// 1000) and `MARKET_DATA_CACHE_MS` (default 1000; 0 turns the cache off).
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As `from_env`, reading variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let set = |var: &str| get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(raw_url) = set("MARKET_DATA_URL") else {
            return Ok(None);
        };
        let base_url = Url::parse(&raw_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or(ConfigError {
                var: "MARKET_DATA_URL",
                problem: format!("`{raw_url}` is not an http(s) URL"),
            })?;
        let millis = |var: &'static str, default: u64, min: u64| match set(var) {
            None => Ok(default),
            Some(raw) => raw.parse::<u64>().ok().filter(|ms| *ms >= min).ok_or(ConfigError {
                var,
                problem: format!("`{raw}` is not a whole number of milliseconds of at least {min}"),
            }),
        };
        Ok(Some(Self {
            base_url,
            feed: set("MARKET_DATA_FEED"),
            timeout: Duration::from_millis(millis("MARKET_DATA_TIMEOUT_MS", DEFAULT_MARKET_DATA_TIMEOUT_MS, 1)?),
            cache_ttl: Duration::from_millis(millis("MARKET_DATA_CACHE_MS", DEFAULT_MARKET_DATA_CACHE_MS, 0)?),
        }))
    }
}

/// Alpaca's `stock_latest_trades_resp_single`: the fields read.
#[derive(Deserialize)]
struct LatestTrade {
    #[serde(default)]
    trade: Option<Trade>,
}

#[derive(Deserialize)]
struct Trade {
    /// The trade price: a JSON number, read by its literal text (never via a float).
    p: serde_json::Value,
}

/// Alpaca's market-data error body: `{"message"}`, sometimes with a `code`.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

pub struct AlpacaMarketData {
    http: reqwest::Client,
    base_url: Url,
    feed: Option<String>,
    keys: VenueKeys,
}

impl AlpacaMarketData {
    pub fn new(config: &MarketDataConfig, keys: VenueKeys) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ConfigError {
                var: "MARKET_DATA_URL",
                problem: format!("HTTP client could not start: {e}"),
            })?;
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            feed: config.feed.clone(),
            keys,
        })
    }

    fn url(&self, symbol: &Symbol) -> Result<Url, MarketDataError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| MarketDataError::Refused("the market data base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["v2", "stocks", symbol.as_str(), "trades", "latest"]);
        if let Some(feed) = &self.feed {
            url.query_pairs_mut().append_pair("feed", feed);
        }
        Ok(url)
    }
}

/// The price in a latest-trade answer (`Ok(None)`: no trade in it).
pub fn read_latest_trade(status: u16, body: &[u8]) -> Result<Option<Price>, MarketDataError> {
    let message = || {
        serde_json::from_slice::<ErrorBody>(body)
            .map(|e| e.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect())
    };
    match status {
        200 => {
            let answer: LatestTrade = serde_json::from_slice(body)
                .map_err(|e| MarketDataError::Unavailable(format!("unreadable latest trade: {e}")))?;
            let Some(trade) = answer.trade else { return Ok(None) };
            let price = parse_decimal(&trade.p)
                .map_err(MarketDataError::Unavailable)?
                .ok_or_else(|| MarketDataError::Unavailable("the latest trade has no price".into()))?;
            Price::parse(price)
                .map(Some)
                .map_err(|e| MarketDataError::Unavailable(format!("the latest trade's price {price}: {e:?}")))
        }
        // An unknown or malformed symbol: no trade for it.
        400 | 404 | 422 => Ok(None),
        401 | 403 => Err(MarketDataError::Refused(format!("{status}: {}", message()))),
        _ => Err(MarketDataError::Unavailable(format!("{status}: {}", message()))),
    }
}

#[async_trait]
impl MarketData for AlpacaMarketData {
    async fn latest_price(&self, symbol: &Symbol) -> Result<Option<Price>, MarketDataError> {
        let (key, secret) = self
            .keys
            .headers()
            .map_err(|e| MarketDataError::Refused(e.to_string()))?;
        let response = self
            .http
            .get(self.url(symbol)?)
            .header("APCA-API-KEY-ID", key)
            .header("APCA-API-SECRET-KEY", secret)
            .send()
            .await
            .map_err(|e| MarketDataError::Unavailable(format!("market data call failed: {e}")))?;
        let status = response.status().as_u16();
        if status == 429 {
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
            let now_secs = time::OffsetDateTime::now_utc().unix_timestamp();
            return Err(MarketDataError::RateLimited {
                retry_after_secs: rate_hold_off_secs(header("retry-after"), header("x-ratelimit-reset"), now_secs),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| MarketDataError::Unavailable(format!("market data answer cut short: {e}")))?;
        read_latest_trade(status, &body)
    }
}

/// How long a 429 asks us to wait: `Retry-After` (seconds) if given, else until
/// `X-RateLimit-Reset` (unix seconds), at least 1 s and at most a minute; 1 s when
/// neither header reads.
pub fn rate_hold_off_secs(retry_after: Option<&str>, reset: Option<&str>, now_secs: i64) -> u64 {
    let after = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let until_reset = || {
        let reset = reset?.trim().parse::<i64>().ok()?;
        u64::try_from(reset.saturating_sub(now_secs)).ok()
    };
    after.or_else(until_reset).unwrap_or(1).clamp(1, MAX_RATE_HOLD_OFF_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn price(s: &str) -> Price {
        Price::parse(s.parse::<Decimal>().unwrap()).unwrap()
    }

    #[test]
    fn reads_alpacas_latest_trade_by_the_literal_text_of_its_price() {
        let body = br#"{"symbol":"AAPL","trade":{"c":["@","T"],"i":689,"p":172.61,"s":100,
            "t":"2022-08-17T09:53:16.845580544Z","x":"P","z":"C"}}"#;
        assert_eq!(read_latest_trade(200, body), Ok(Some(price("172.61"))));
        assert_eq!(read_latest_trade(200, br#"{"symbol":"ZZZZ","trade":null}"#), Ok(None));
        assert_eq!(
            read_latest_trade(400, br#"{"message":"invalid symbol: ZZZZ"}"#),
            Ok(None)
        );
        assert!(matches!(
            read_latest_trade(403, br#"{"message":"forbidden"}"#),
            Err(MarketDataError::Refused(m)) if m.contains("forbidden")
        ));
        assert!(matches!(
            read_latest_trade(500, b"oops"),
            Err(MarketDataError::Unavailable(_))
        ));
        assert!(matches!(
            read_latest_trade(200, br#"{"symbol":"AAPL","trade":{"p":-1}}"#),
            Err(MarketDataError::Unavailable(_))
        ));
    }

    #[test]
    fn the_config_names_each_bad_variable_and_no_url_means_no_market_data() {
        let none = MarketDataConfig::from_lookup(|_| None).unwrap();
        assert!(none.is_none());
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let ok = MarketDataConfig::from_lookup(env(&[
            ("MARKET_DATA_URL", "http://127.0.0.1:9"),
            ("MARKET_DATA_FEED", "iex"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (ok.cache_ttl, ok.feed.as_deref()),
            (Duration::from_millis(1000), Some("iex"))
        );
        let e = MarketDataConfig::from_lookup(env(&[("MARKET_DATA_URL", "ftp://x")])).unwrap_err();
        assert_eq!(e.var, "MARKET_DATA_URL");
        let e = MarketDataConfig::from_lookup(env(&[
            ("MARKET_DATA_URL", "http://x"),
            ("MARKET_DATA_CACHE_MS", "soon"),
        ]))
        .unwrap_err();
        assert_eq!(e.var, "MARKET_DATA_CACHE_MS");
    }

    #[test]
    fn a_429_is_waited_out_as_its_headers_say() {
        let now = 1_800_000_000;
        assert_eq!(rate_hold_off_secs(Some("12"), Some("1800000030"), now), 12);
        assert_eq!(rate_hold_off_secs(None, Some("1800000030"), now), 30);
        // A reset already past, unreadable headers, none: a second.
        assert_eq!(rate_hold_off_secs(None, Some("1799999990"), now), 1);
        assert_eq!(rate_hold_off_secs(Some("soon"), Some("x"), now), 1);
        assert_eq!(rate_hold_off_secs(None, None, now), 1);
        // Never more than the source's minute.
        assert_eq!(rate_hold_off_secs(Some("3600"), None, now), 60);
    }
}
