//! `orders-admin limits`: an operator changes a trader's risk limits (SPEC §4.3 and the
//! market access controls of issue 19). Each flag given replaces one limit; the rest
//! stay as they are. The change is written as a funding of zero by the operator, so it
//! lands on the account's operator audit chain like any other account change.

use std::str::FromStr;

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use shared::domain::{RiskLimits, Symbol};

/// The flags `limits` takes, each naming one limit.
pub const FLAGS: [&str; 7] = [
    "--max-order-notional",
    "--max-open-orders",
    "--daily-loss-limit",
    "--orders-per-minute",
    "--duplicate-window-secs",
    "--restricted-symbols",
    "--max-notional-per-minute",
];

/// `limits` with each `(flag, value)` applied; a bad value names its flag.
pub fn apply(mut limits: RiskLimits, given: &[(&str, &str)]) -> anyhow::Result<RiskLimits> {
    if given.is_empty() {
        bail!("limits needs at least one of {}", FLAGS.join(", "));
    }
    for (flag, value) in given {
        match *flag {
            "--max-order-notional" => limits.max_order_notional = amount(flag, value)?,
            "--daily-loss-limit" => limits.daily_loss_limit = amount(flag, value)?,
            "--max-notional-per-minute" => limits.max_notional_per_minute = amount(flag, value)?,
            "--max-open-orders" => limits.max_open_orders = count(flag, value)?,
            "--orders-per-minute" => limits.orders_per_minute = count(flag, value)?,
            "--duplicate-window-secs" => limits.duplicate_window_secs = count(flag, value)?,
            "--restricted-symbols" => {
                limits.restricted_symbols = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Symbol::parse(s).with_context(|| format!("{flag}: {s:?} is not a symbol")))
                    .collect::<anyhow::Result<_>>()?;
            }
            other => bail!("unknown limit {other}; the limits are {}", FLAGS.join(", ")),
        }
    }
    Ok(limits)
}

fn amount(flag: &str, value: &str) -> anyhow::Result<Decimal> {
    let v = Decimal::from_str(value).with_context(|| format!("{flag} must be a decimal amount, not {value:?}"))?;
    if v.is_sign_negative() {
        bail!("{flag} must be zero or more, not {v}");
    }
    Ok(v)
}

fn count(flag: &str, value: &str) -> anyhow::Result<u32> {
    value
        .parse()
        .with_context(|| format!("{flag} must be a whole number from 0, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_changes_its_limit_and_leaves_the_others() {
        let before = RiskLimits::default();
        let after = apply(
            before.clone(),
            &[
                ("--max-notional-per-minute", "25000.50"),
                ("--restricted-symbols", "GME, BRK.B"),
                ("--duplicate-window-secs", "5"),
            ],
        )
        .unwrap();
        assert_eq!(after.max_notional_per_minute, Decimal::from_str("25000.50").unwrap());
        assert_eq!(after.restricted_symbols.len(), 2);
        assert_eq!(after.duplicate_window_secs, 5);
        assert_eq!(after.max_order_notional, before.max_order_notional);
        assert_eq!(after.orders_per_minute, before.orders_per_minute);
        // An empty list clears the restrictions.
        let cleared = apply(after, &[("--restricted-symbols", "")]).unwrap();
        assert!(cleared.restricted_symbols.is_empty());
    }

    #[test]
    fn bad_values_name_their_flag() {
        let l = RiskLimits::default();
        let e = apply(l.clone(), &[("--max-notional-per-minute", "-1")]).unwrap_err();
        assert_eq!(e.to_string(), "--max-notional-per-minute must be zero or more, not -1");
        let e = apply(l.clone(), &[("--orders-per-minute", "ten")]).unwrap_err();
        assert!(
            e.to_string().starts_with("--orders-per-minute must be a whole number"),
            "{e}"
        );
        let e = apply(l.clone(), &[("--restricted-symbols", "GME,bad sym")]).unwrap_err();
        assert!(e.to_string().contains("\"bad sym\" is not a symbol"), "{e}");
        assert!(apply(l, &[]).is_err());
    }
}
