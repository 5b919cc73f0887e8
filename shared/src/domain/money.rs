//! Quantities and prices: `rust_decimal`, never floats. Bounds and precision live here,
//! along with the one money formatter used in every user-facing message.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Largest quantity accepted on one order.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Fractional shares are supported down to 1e-6 (the venue's precision).
pub const QUANTITY_SCALE: u32 = 6;
/// Largest price accepted.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Sub-penny prices are allowed to 4 places (for prices under $1).
pub const PRICE_SCALE: u32 = 4;

/// Why a decimal field was refused; the validation layer turns this into a message
/// naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    NotPositive,
    TooManyDecimals(u32),
    TooLarge(Decimal),
}

fn check(value: Decimal, scale: u32, max: Decimal) -> Result<Decimal, AmountError> {
    if value <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    if value.normalize().scale() > scale {
        return Err(AmountError::TooManyDecimals(scale));
    }
    if value > max {
        return Err(AmountError::TooLarge(max));
    }
    Ok(value)
}

/// A positive order quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Quantity {
    pub fn parse(value: Decimal) -> Result<Self, AmountError> {
        check(value, QUANTITY_SCALE, MAX_QUANTITY).map(Self)
    }
    pub fn get(self) -> Decimal {
        self.0
    }
}

/// A positive price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Price {
    pub fn parse(value: Decimal) -> Result<Self, AmountError> {
        check(value, PRICE_SCALE, MAX_PRICE).map(Self)
    }
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

/// `$15,000.00`: dollars with thousands separators, rounded half away from zero to cents.
pub fn usd(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{frac}", if negative { "-" } else { "" })
}

/// Money (cash, reservations, realized P&L) is held in the currency's minor unit:
/// US dollars have two decimals. Prices and average prices keep their own scale.
pub const CURRENCY_SCALE: u32 = 2;

/// An amount of money to the cent, half away from zero (a trade's cash and P&L).
pub fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(CURRENCY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// The share of `reserved` a fill of `filled` out of `remaining` gives back: pro
/// rata, rounded down to the cent, never more than is held. Rounding down keeps
/// every intermediate reservation in whole cents; the last fill (or the cancel)
/// releases whatever is left, so the releases add up to the reservation exactly.
pub fn pro_rata_release(reserved: Decimal, remaining: Decimal, filled: Decimal) -> Decimal {
    if remaining <= Decimal::ZERO || filled >= remaining {
        return reserved;
    }
    (reserved * filled / remaining)
        .round_dp_with_strategy(CURRENCY_SCALE, RoundingStrategy::ToZero)
        .clamp(Decimal::ZERO, reserved)
}

/// Money arithmetic results (averages) are kept to this many places.
pub const AVERAGE_SCALE: u32 = 6;

pub fn round_average(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(AVERAGE_SCALE, RoundingStrategy::MidpointNearestEven)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn usd_formats_like_the_spec() {
        assert_eq!(usd(d("15000")), "$15,000.00");
        assert_eq!(usd(d("3200")), "$3,200.00");
        assert_eq!(usd(d("5000.005")), "$5,000.01");
        assert_eq!(usd(d("0.5")), "$0.50");
        assert_eq!(usd(d("999")), "$999.00");
        assert_eq!(usd(d("1234567.891")), "$1,234,567.89");
        assert_eq!(usd(d("-250")), "-$250.00");
        assert_eq!(usd(Decimal::ZERO), "$0.00");
    }

    #[test]
    fn quantity_bounds_and_precision() {
        assert_eq!(Quantity::parse(Decimal::ZERO), Err(AmountError::NotPositive));
        assert_eq!(Quantity::parse(d("-1")), Err(AmountError::NotPositive));
        assert_eq!(Quantity::parse(d("0.0000001")), Err(AmountError::TooManyDecimals(6)));
        assert!(Quantity::parse(d("0.000001")).is_ok());
        assert!(
            Quantity::parse(d("10.500000000")).is_ok(),
            "trailing zeros are not precision"
        );
        assert_eq!(Quantity::parse(d("1000001")), Err(AmountError::TooLarge(MAX_QUANTITY)));
        assert_eq!(Price::parse(d("1.00001")), Err(AmountError::TooManyDecimals(4)));
        assert!(Price::parse(d("150.25")).is_ok());
    }

    #[test]
    fn a_pro_rata_release_is_whole_cents_and_never_more_than_held() {
        assert_eq!(pro_rata_release(d("1000.00"), d("3"), d("1")), d("333.33"));
        assert_eq!(pro_rata_release(d("666.67"), d("2"), d("1")), d("333.33"));
        assert_eq!(pro_rata_release(d("333.34"), d("1"), d("1")), d("333.34"));
        assert_eq!(pro_rata_release(d("0.01"), d("3"), d("1")), d("0"));
        assert_eq!(pro_rata_release(d("10"), d("0"), d("1")), d("10"));
        assert_eq!(cents(d("111.1109888889")), d("111.11"));
        assert_eq!(cents(d("-0.005")), d("-0.01"));
    }

    #[test]
    fn quantities_serialize_as_strings() {
        let q = Quantity::parse(d("10.5")).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"10.5\"");
    }
}
