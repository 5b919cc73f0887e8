//! Typed configuration read once at init; every failure names its variable.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::{Price, Pricing, Symbol};

#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// `REFERENCE_PRICES` (`AAPL=190.12,MSFT=410`) values market and stop orders;
/// `MARKET_COLLAR` (default `0.05`) is added when reserving cash for them.
pub fn pricing_from_env() -> Result<Pricing, ConfigError> {
    let mut reference = HashMap::new();
    let raw = std::env::var("REFERENCE_PRICES").unwrap_or_default();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |problem: String| ConfigError {
            var: "REFERENCE_PRICES",
            problem,
        };
        let (symbol, price) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("`{pair}` is not SYMBOL=PRICE")))?;
        let symbol = Symbol::parse(symbol.trim()).map_err(|e| bad(e.to_string()))?;
        let price = Decimal::from_str(price.trim())
            .ok()
            .and_then(|p| Price::parse(p).ok())
            .ok_or_else(|| bad(format!("`{price}` is not a valid price")))?;
        reference.insert(symbol, price);
    }
    let collar = match std::env::var("MARKET_COLLAR") {
        Ok(v) => Decimal::from_str(v.trim())
            .ok()
            .filter(|c| *c >= Decimal::ZERO && *c < Decimal::ONE)
            .ok_or(ConfigError {
                var: "MARKET_COLLAR",
                problem: format!("`{v}` is not a fraction in [0, 1)"),
            })?,
        Err(_) => Decimal::new(5, 2),
    };
    Ok(Pricing { reference, collar })
}

/// JSON logs in Lambda (one object per line, with the span fields: request id,
/// order id, trader id), readable text locally (`LOG_FORMAT=text`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "text") {
        builder.init();
    } else {
        builder.json().with_current_span(true).without_time().init();
    }
}
