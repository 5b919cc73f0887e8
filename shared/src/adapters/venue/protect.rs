//! Market and stop buys protected at the venue: a market buy is sent as a marketable
//! `limit` order and a stop buy as a `stop_limit`, both limited at the order's
//! reservation price (what submit held per share: reference or stop price × (1 +
//! collar), rounded up to whole cents of the order), rounded *down* to the venue's tick
//! (2 dp at or above $1, 4 dp below: SEC Rule 612). The venue can then never fill the
//! order for more than its reservation, so its fills can never take cash below zero.
//! A price that ran past the collar leaves the order resting at its limit (visible at
//! the venue as `type: limit` with that `limit_price`), where the trader can cancel it.
//!
//! Alpaca takes fractional quantities only as market orders, so a fractional market
//! buy is sent as it is: the fill booking is its guard (a fill that takes cash below
//! zero is booked, as the venue did it, and flagged for an operator).

use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::{Order, OrderType, Side};

/// The type and limit price an order is sent to the venue with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueTerms {
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
}

/// What `order` goes to the venue as (see the module's documentation).
pub fn venue_terms(order: &Order) -> VenueTerms {
    let as_is = VenueTerms {
        order_type: order.order_type,
        limit_price: order.limit_price.map(|p| p.get()),
    };
    let quantity = order.quantity.get();
    let protected = match (order.side, order.order_type) {
        (Side::Buy, OrderType::Market) => OrderType::Limit,
        (Side::Buy, OrderType::Stop) => OrderType::StopLimit,
        _ => return as_is,
    };
    if !quantity.fract().is_zero() || quantity <= Decimal::ZERO || order.reserved_amount <= Decimal::ZERO {
        return as_is;
    }
    match round_down_to_tick(order.reserved_amount / quantity) {
        Some(limit) => VenueTerms {
            order_type: protected,
            limit_price: Some(limit),
        },
        None => as_is,
    }
}

/// `price` rounded down to the venue's tick: 2 dp at or above $1, 4 dp below;
/// `None` when nothing positive is left.
pub fn round_down_to_tick(price: Decimal) -> Option<Decimal> {
    let dp = if price >= Decimal::ONE { 2 } else { 4 };
    Some(price.round_dp_with_strategy(dp, RoundingStrategy::ToZero).normalize()).filter(|p| *p > Decimal::ZERO)
}
