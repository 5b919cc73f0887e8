//! Erroneous-order checks of the deployment (issue 19, SEC Rule 15c3-5(c)(1)(ii)):
//! orders whose price or size is far out of line are refused before any reservation.
//!
//! - a price band: a limit or stop price further than `price_band` (a fraction) from
//!   the symbol's reference price is refused (a symbol without a reference price has
//!   no band: its market orders are refused anyway, for want of a price);
//! - a maximum quantity per order (the maximum notional per order is the account's
//!   `max_order_notional`);
//! - restricted symbols: no order in them is accepted.
//!
//! Every check is off until configured (`OrderChecks::default()`).

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::error::OrderError;
use super::ids::Symbol;
use super::money::{Price, usd};
use super::validation::OrderDraft;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderChecks {
    /// The largest distance of a limit or stop price from the reference price, as a
    /// fraction of it (`0.10`: 10%).
    pub price_band: Option<Decimal>,
    /// The largest quantity of one order.
    pub max_quantity: Option<Decimal>,
    /// Symbols no order may be placed in.
    pub restricted: BTreeSet<Symbol>,
}

impl OrderChecks {
    /// Checks `draft`, `reference` being its symbol's reference price if there is one.
    pub fn check(&self, draft: &OrderDraft, reference: Option<Price>) -> Result<(), OrderError> {
        if self.restricted.contains(&draft.symbol) {
            return Err(OrderError::RestrictedSymbol {
                symbol: draft.symbol.to_string(),
            });
        }
        let quantity = draft.quantity.get();
        if let Some(max) = self.max_quantity.filter(|max| quantity > *max) {
            return Err(OrderError::MaxQuantity { quantity, limit: max });
        }
        if let (Some(band), Some(reference)) = (self.price_band, reference) {
            let r = reference.get();
            let (low, high) = (r * (Decimal::ONE - band), r * (Decimal::ONE + band));
            let prices = [("Limit", draft.limit_price), ("Stop", draft.stop_price)];
            for (kind, price) in prices {
                let Some(p) = price.map(Price::get) else { continue };
                if p < low || p > high {
                    return Err(OrderError::PriceBand(Box::new(PriceBandBreach {
                        kind,
                        price: p,
                        symbol: draft.symbol.to_string(),
                        reference: r,
                        band_pct: (band * Decimal::ONE_HUNDRED).normalize(),
                        low: low.round_dp(2),
                        high: high.round_dp(2),
                    })));
                }
            }
        }
        Ok(())
    }
}

/// A limit or stop price outside the band: the figures of the refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceBandBreach {
    /// `Limit` or `Stop`.
    pub kind: &'static str,
    pub price: Decimal,
    pub symbol: String,
    pub reference: Decimal,
    pub band_pct: Decimal,
    pub low: Decimal,
    pub high: Decimal,
}

impl std::fmt::Display for PriceBandBreach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} price {} is more than {}% from the {} reference price of {}; accepted: {} to {}",
            self.kind,
            usd(self.price),
            self.band_pct,
            self.symbol,
            usd(self.reference),
            usd(self.low),
            usd(self.high)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::dec;
    use crate::domain::validate_order;
    use serde_json::json;

    fn limit(qty: &str, price: &str) -> OrderDraft {
        validate_order(
            &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty, "limit_price": price}),
        )
        .unwrap()
    }

    fn reference() -> Option<Price> {
        Price::parse(dec(200)).ok()
    }

    #[test]
    fn the_price_band_accepts_just_inside_and_refuses_just_outside() {
        let checks = OrderChecks {
            price_band: Some(dec("0.10")),
            ..OrderChecks::default()
        };
        for inside in ["180", "220", "200", "180.00"] {
            assert_eq!(checks.check(&limit("1", inside), reference()), Ok(()), "{inside}");
        }
        let e = checks.check(&limit("1", "220.01"), reference()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Limit price $220.01 is more than 10% from the AAPL reference price of $200.00; accepted: $180.00 to $220.00"
        );
        let e = checks.check(&limit("1", "179.99"), reference()).unwrap_err();
        assert!(e.to_string().starts_with("Limit price $179.99 is more than 10%"), "{e}");
        let stop = validate_order(
            &json!({"symbol": "AAPL", "side": "sell", "type": "stop", "quantity": "1",
            "stop_price": "150"}),
        )
        .unwrap();
        let e = checks.check(&stop, reference()).unwrap_err();
        assert!(e.to_string().starts_with("Stop price $150.00 is more than 10%"), "{e}");
        // No reference price: no band.
        assert_eq!(checks.check(&limit("1", "9999"), None), Ok(()));
    }

    #[test]
    fn the_quantity_limit_accepts_the_limit_and_refuses_above_it() {
        let checks = OrderChecks {
            max_quantity: Some(dec(10_000)),
            ..OrderChecks::default()
        };
        assert_eq!(checks.check(&limit("10000", "1"), reference()), Ok(()));
        let e = checks.check(&limit("10001", "1"), reference()).unwrap_err();
        assert_eq!(e.to_string(), "Quantity of 10001 exceeds the per-order limit of 10000");
    }

    #[test]
    fn restricted_symbols_are_refused_and_others_are_not() {
        let checks = OrderChecks {
            restricted: [Symbol::parse("AAPL").unwrap()].into(),
            ..OrderChecks::default()
        };
        let e = checks.check(&limit("1", "1"), reference()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AAPL is a restricted symbol; no orders in it are accepted"
        );
        let msft = validate_order(
            &json!({"symbol": "MSFT", "side": "buy", "type": "limit", "quantity": "1",
            "limit_price": "1"}),
        )
        .unwrap();
        assert_eq!(checks.check(&msft, None), Ok(()));
    }

    #[test]
    fn nothing_is_checked_until_configured() {
        assert_eq!(
            OrderChecks::default().check(&limit("1000000", "1"), reference()),
            Ok(())
        );
    }
}
