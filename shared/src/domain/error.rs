//! Domain errors. Their `Display` texts are the user-facing messages of SPEC §3 —
//! exact and actionable — and `http::problem` maps each variant to a status code in
//! one place.

use rust_decimal::Decimal;
use serde::Serialize;

use super::checks::PriceBandBreach;
use super::controls::TradingScope;
use super::money::usd;
use super::status::{InvalidTransition, OrderStatus};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} must be at most {1} characters")]
    TooLong(&'static str, usize),
    #[error("{0} may contain only letters, digits and - _ . @ : | +")]
    BadChars(&'static str),
    #[error("Order id must be a 26-character ULID")]
    BadOrderId,
    #[error(
        "Symbol must be 1 to 10 characters: upper-case letters and digits, with '.' or '/' inside, starting with a letter"
    )]
    BadSymbol,
}

/// One field-level validation message (`errors[]` in problem+json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why an order request or an order change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("The order has {} invalid field(s): {}", .0.len(), join_messages(.0))]
    Validation(Vec<FieldError>),

    #[error("Insufficient funds for {} order; available: {}", usd(*.required), usd(*.available))]
    InsufficientFunds { required: Decimal, available: Decimal },

    #[error("Insufficient position for sell of {requested} {symbol}; available: {available}")]
    InsufficientPosition {
        symbol: String,
        requested: Decimal,
        available: Decimal,
    },

    #[error("Order notional of {} exceeds the per-order limit of {}", usd(*.notional), usd(*.limit))]
    MaxNotional { notional: Decimal, limit: Decimal },

    #[error("Open orders limit of {limit} has been reached; cancel an order or wait for fills")]
    MaxOpenOrders { limit: u32 },

    #[error("Daily loss limit of {} has been reached. Current losses: {}", usd(*.limit), usd(*.losses))]
    DailyLossLimit { limit: Decimal, losses: Decimal },

    #[error(
        "No reference price is configured for {symbol}, so a market or stop order cannot be priced; submit a limit order"
    )]
    NoReferencePrice { symbol: String },

    #[error("Rate limit of {limit} orders per minute exceeded; retry after {retry_after_secs} s")]
    RateLimited { limit: u32, retry_after_secs: u64 },

    #[error(
        "Cannot cancel order in {status} status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."
    )]
    CannotCancel { status: OrderStatus },

    #[error(
        "Cannot replace order in {status} status. Only SUBMITTED or PARTIALLY_FILLED orders can be replaced (a PENDING order is at the venue within a moment: retry)."
    )]
    CannotReplace { status: OrderStatus },

    #[error("Fill of {quantity} exceeds the order's remaining quantity of {remaining}")]
    Overfill { quantity: Decimal, remaining: Decimal },

    #[error("Fill must have a positive quantity and price")]
    BadFill,

    #[error("No trading account exists for this trader; ask an operator to open one")]
    NoAccount,

    /// The deployment restricted the symbol (issue 19).
    #[error("{symbol} is a restricted symbol; no orders in it are accepted")]
    RestrictedSymbol { symbol: String },

    /// The trader's account restricts the symbol (its limits, issue 19).
    #[error("{symbol} is restricted for this account; no orders in it are accepted")]
    RestrictedForAccount { symbol: String },

    #[error("Quantity of {quantity} exceeds the per-order limit of {limit}")]
    MaxQuantity { quantity: Decimal, limit: Decimal },

    /// A limit or stop price out of the band around the reference price (boxed: the
    /// figures would make every `OrderError` large).
    #[error("{0}")]
    PriceBand(Box<PriceBandBreach>),

    /// An operator halted trading (SEC Rule 15c3-5 kill switch).
    #[error("Trading is halted for {scope}; no new orders are accepted")]
    TradingHalted { scope: TradingScope },

    /// An operator set `reducing`: only a sell of at most the position held goes.
    #[error("Trading is reduce-only for {scope}; only a sell of at most the position held is accepted")]
    ReduceOnly { scope: TradingScope },

    /// Client order ids are unique per trader among open orders (Alpaca's rule).
    #[error(
        "Client order id {client_order_id} is in use by open order {order_id}; choose another, or wait until that order ends"
    )]
    ClientOrderIdInUse {
        client_order_id: String,
        order_id: super::ids::OrderId,
    },

    /// Duplicate detection: an identical order, sent without an idempotency key, was
    /// placed `seconds_ago` (within the account's window) as `order_id`.
    #[error(
        "An identical order (same symbol, side, type, quantity, prices and time in force) was placed {seconds_ago} s ago as order {order_id}, within this account's {window_secs} s duplicate window; to place this one too, resend it with the header Confirm-Duplicate: true"
    )]
    DuplicateOrder {
        order_id: super::ids::OrderId,
        seconds_ago: i64,
        window_secs: u32,
    },

    /// The account's rolling-minute notional limit: `used` was accepted in the minute
    /// before; `retry_after_secs` is when enough of it has left the window (`None`:
    /// the order alone is over the limit).
    #[error(
        "Order notional of {} would bring this account's notional over the last minute to {}, over its limit of {} per rolling minute; {}",
        usd(*.notional), usd(*.used + *.notional), usd(*.limit), retry_hint(*.retry_after_secs)
    )]
    NotionalPerMinute {
        notional: Decimal,
        used: Decimal,
        limit: Decimal,
        retry_after_secs: Option<u64>,
    },

    #[error(transparent)]
    Transition(#[from] InvalidTransition),
}

fn retry_hint(retry_after_secs: Option<u64>) -> String {
    match retry_after_secs {
        Some(s) => format!("retry after {s} s"),
        None => "this order alone exceeds it".into(),
    }
}

fn join_messages(errors: &[FieldError]) -> String {
    errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::dec;

    #[test]
    fn messages_match_the_spec_word_for_word() {
        let e = OrderError::InsufficientFunds {
            required: dec(15000),
            available: dec(3200),
        };
        assert_eq!(
            e.to_string(),
            "Insufficient funds for $15,000.00 order; available: $3,200.00"
        );
        let e = OrderError::CannotCancel {
            status: OrderStatus::Filled,
        };
        assert_eq!(
            e.to_string(),
            "Cannot cancel order in FILLED status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."
        );
        let e = OrderError::DailyLossLimit {
            limit: dec(5000),
            losses: dec(5000),
        };
        assert_eq!(
            e.to_string(),
            "Daily loss limit of $5,000.00 has been reached. Current losses: $5,000.00"
        );
        let e = OrderError::RateLimited {
            limit: 100,
            retry_after_secs: 12,
        };
        assert_eq!(
            e.to_string(),
            "Rate limit of 100 orders per minute exceeded; retry after 12 s"
        );
    }
}
