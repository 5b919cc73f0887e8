//! Typed configuration read once at init; every failure names its variable.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::{OrderChecks, Price, Pricing, Symbol};
use crate::ports::VenueRate;

#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// A whole number from `var`, or `default` when it is not set.
pub fn number_from_env<T: FromStr>(var: &'static str, default: T) -> Result<T, ConfigError> {
    match std::env::var(var) {
        Ok(v) => v.trim().parse().map_err(|_| ConfigError {
            var,
            problem: format!("`{v}` is not a whole number"),
        }),
        Err(_) => Ok(default),
    }
}

/// The venue budget every function that calls the venue draws from (they must all
/// read the same): `VENUE_RATE_LIMIT_PER_MIN` (default 200, Alpaca's limit per API
/// key) and `VENUE_RATE_WINDOW_SECS` (default 5).
pub fn venue_rate_from_env() -> Result<VenueRate, ConfigError> {
    let rate = VenueRate {
        per_minute: number_from_env("VENUE_RATE_LIMIT_PER_MIN", VenueRate::ALPACA.per_minute)?,
        window_secs: number_from_env("VENUE_RATE_WINDOW_SECS", VenueRate::ALPACA.window_secs)?,
    };
    if rate.per_minute == 0 || rate.window_secs == 0 {
        return Err(ConfigError {
            var: "VENUE_RATE_LIMIT_PER_MIN",
            problem: "the venue rate and its window must be at least 1".into(),
        });
    }
    Ok(rate)
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
    Ok(Pricing {
        reference,
        collar,
        checks: order_checks_from_env()?,
    })
}

/// The erroneous-order checks (issue 19), each off when its variable is unset or
/// empty: `PRICE_BAND_PCT` (a limit or stop price at most this many percent from the
/// reference price), `MAX_ORDER_QUANTITY`, `RESTRICTED_SYMBOLS` (`GME,AMC`).
pub fn order_checks_from_env() -> Result<OrderChecks, ConfigError> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let positive = |name: &'static str| -> Result<Option<Decimal>, ConfigError> {
        var(name)
            .map(|v| {
                Decimal::from_str(&v)
                    .ok()
                    .filter(|d| *d > Decimal::ZERO)
                    .ok_or(ConfigError {
                        var: name,
                        problem: format!("`{v}` is not a positive number"),
                    })
            })
            .transpose()
    };
    let price_band = positive("PRICE_BAND_PCT")?.map(|pct| pct / Decimal::ONE_HUNDRED);
    let max_quantity = positive("MAX_ORDER_QUANTITY")?;
    let mut restricted = std::collections::BTreeSet::new();
    for raw in var("RESTRICTED_SYMBOLS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        restricted.insert(Symbol::parse(raw).map_err(|e| ConfigError {
            var: "RESTRICTED_SYMBOLS",
            problem: format!("`{raw}`: {e}"),
        })?);
    }
    Ok(OrderChecks {
        price_band,
        max_quantity,
        restricted,
    })
}

/// Default of `MAX_MARKET_ORDER_AGE_SECS`: five minutes.
pub const DEFAULT_MAX_MARKET_ORDER_AGE_SECS: u64 = 300;

/// `MAX_MARKET_ORDER_AGE_SECS` (default 300): a market or IOC/FOK order older than
/// this when execution gets to it expires instead of reaching the venue (e.g. after
/// its work message sat in the dead-letter queue).
pub fn max_market_order_age_from_env() -> Result<std::time::Duration, ConfigError> {
    max_market_order_age(std::env::var("MAX_MARKET_ORDER_AGE_SECS").ok().as_deref())
}

fn max_market_order_age(raw: Option<&str>) -> Result<std::time::Duration, ConfigError> {
    let secs = match raw {
        None => DEFAULT_MAX_MARKET_ORDER_AGE_SECS,
        Some(v) => v.trim().parse::<u64>().ok().filter(|s| *s > 0).ok_or(ConfigError {
            var: "MAX_MARKET_ORDER_AGE_SECS",
            problem: format!("`{v}` is not a whole number of seconds of at least 1"),
        })?,
    };
    Ok(std::time::Duration::from_secs(secs))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_market_order_age_bound_defaults_and_refuses_bad_values_by_name() {
        assert_eq!(max_market_order_age(None).unwrap(), std::time::Duration::from_secs(300));
        assert_eq!(
            max_market_order_age(Some(" 60 ")).unwrap(),
            std::time::Duration::from_secs(60)
        );
        for bad in ["0", "-5", "1.5", "soon", ""] {
            let e = max_market_order_age(Some(bad)).unwrap_err();
            assert_eq!(e.var, "MAX_MARKET_ORDER_AGE_SECS");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
