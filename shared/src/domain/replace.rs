//! Replacing a working order (issue 20; FIX's cancel/replace, Alpaca's
//! `PATCH /v2/orders/{id}`). The order keeps its id (the trader's handle, as FIX's
//! OrderID); each version the venue works has a client order id of its own (FIX's
//! ClOrdID): the first is the order id, a replacement's is `venue_client_id`.
//!
//! A replace is requested (SUBMITTED or PARTIALLY_FILLED → REPLACE_REQUESTED), then
//! either confirmed once the venue replaced its order, or refused when the venue's
//! order could no longer be changed (a fill got there first). Until the venue
//! answers, the order holds the larger of what the old and the new version need:
//! the extra goes back when the replace is refused, and the confirm sets what the
//! new version needs for what is left.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::account::Account;
use super::controls::{TradingScope, TradingState};
use super::error::{FieldError, OrderError};
use super::ids::OrderId;
use super::money::{Price, Quantity};
use super::order::{Order, Side, TimeInForce};
use super::risk::Pricing;
use super::status::OrderStatus;
use super::time::Timestamp;
use super::validation::{OrderDraft, ReplaceDraft};

/// A replace the venue has not answered yet, as the order carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReplace {
    /// The order's new total quantity (what it has filled included).
    pub quantity: Quantity,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    pub time_in_force: TimeInForce,
    /// The replacement's client order id at the venue: fixed when the replace is
    /// requested, so a retried request finds the replacement a lost answer made.
    pub venue_client_id: OrderId,
    /// What the order holds beyond its own needs until the venue answers: cash for a
    /// buy, shares for a sell.
    #[serde(with = "rust_decimal::serde::str")]
    pub extra_reserved: Decimal,
    /// The price a buy's cash is reserved at, per share, for the new version.
    #[serde(with = "rust_decimal::serde::str")]
    pub reserve_price: Decimal,
    pub requested_at: Timestamp,
}

impl PendingReplace {
    /// What the new version holds for `remaining` shares: cash in whole cents (up)
    /// for a buy; for a sell, the shares themselves (held on the position).
    pub fn cash_for(&self, remaining: Decimal) -> Decimal {
        let mut required = (remaining * self.reserve_price).round_dp_with_strategy(2, RoundingStrategy::AwayFromZero);
        required.rescale(2);
        required
    }
}

/// Checks a replace of `order` against the trader's account and the deployment's
/// checks, as a submit of the new version would be (the order itself does not count
/// against the open-order limit again), and plans what it holds meanwhile.
pub fn assess_replace(
    order: &Order,
    draft: &ReplaceDraft,
    account: &Account,
    pricing: &Pricing,
    venue_client_id: OrderId,
    now: Timestamp,
) -> Result<PendingReplace, OrderError> {
    if !matches!(order.status, OrderStatus::Submitted | OrderStatus::PartiallyFilled) {
        return Err(OrderError::CannotReplace { status: order.status });
    }
    if !account.trading_state.admits(order.side) {
        let scope = TradingScope::Trader(account.trader_id.clone());
        return Err(match account.trading_state {
            TradingState::Reducing => OrderError::ReduceOnly { scope },
            _ => OrderError::TradingHalted { scope },
        });
    }
    let quantity = draft.quantity.unwrap_or(order.quantity);
    if quantity.get() <= order.filled_quantity {
        return Err(OrderError::Validation(vec![FieldError::new(
            "quantity",
            format!(
                "Quantity is the order's new total and must be more than the {} already filled",
                order.filled_quantity.normalize()
            ),
        )]));
    }
    let remaining = quantity.get() - order.filled_quantity;
    let limit_price = draft.limit_price.or(order.limit_price);
    let stop_price = draft.stop_price.or(order.stop_price);
    let time_in_force = draft.time_in_force.unwrap_or(order.time_in_force);
    // The new version as a submit would see it: what is left of it, at its prices.
    let new_version = OrderDraft {
        symbol: order.symbol.clone(),
        side: order.side,
        order_type: order.order_type,
        quantity: Quantity::parse(remaining)
            .map_err(|_| OrderError::Validation(vec![FieldError::new("quantity", "Quantity is out of range")]))?,
        limit_price,
        stop_price,
        time_in_force,
        client_order_id: None,
    };
    let (value_price, reserve_price) = pricing.prices_of(&new_version)?;
    pricing
        .checks
        .check(&new_version, pricing.reference.get(&order.symbol).cloned())?;
    // A symbol restricted for the account since the order was placed: the venue would
    // get a new order in it, so the replace is refused as a submit would be.
    if account.limits.restricted_symbols.contains(&order.symbol) {
        return Err(OrderError::RestrictedForAccount {
            symbol: order.symbol.to_string(),
        });
    }
    let notional = remaining * value_price;
    if notional > account.limits.max_order_notional {
        return Err(OrderError::MaxNotional {
            notional,
            limit: account.limits.max_order_notional,
        });
    }
    let mut pending = PendingReplace {
        quantity,
        limit_price,
        stop_price,
        time_in_force,
        venue_client_id,
        extra_reserved: Decimal::ZERO,
        reserve_price,
        requested_at: now,
    };
    pending.extra_reserved = match order.side {
        Side::Buy => {
            let extra = (pending.cash_for(remaining) - order.reserved_amount).max(Decimal::ZERO);
            let available = account.buying_power();
            if extra > available {
                return Err(OrderError::InsufficientFunds {
                    required: extra,
                    available,
                });
            }
            extra
        }
        Side::Sell => {
            let extra = (remaining - order.remaining()).max(Decimal::ZERO);
            let available = account.position(&order.symbol).map_or(Decimal::ZERO, |p| p.available());
            if extra > available {
                return Err(OrderError::InsufficientPosition {
                    symbol: order.symbol.to_string(),
                    requested: extra,
                    available,
                });
            }
            extra
        }
    };
    Ok(pending)
}
