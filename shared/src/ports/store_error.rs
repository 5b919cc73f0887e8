//! The stores' error: refusals a trader can be told, and failures.

use crate::domain::{OrderId, Timestamp, TradingScope, TradingState};

/// Errors of the stores. Refusals the caller can explain to a trader are variants;
/// anything else is `Unavailable` (the dependency failed) or `Corrupt` (a stored item
/// could not be read back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no account exists for this trader")]
    NoAccount,
    #[error("buying power does not cover the reservation")]
    InsufficientFunds,
    #[error("the position does not cover the sell")]
    InsufficientPosition,
    #[error("the open orders limit has been reached")]
    OpenOrderLimit,
    #[error("the daily loss limit has been reached")]
    DailyLossLimit,
    /// The trading state of `scope` (the deployment's, or the trader's own) does not
    /// admit the order; `state` is the state the store found.
    #[error("trading is {state} for {scope}")]
    TradingRestricted { scope: TradingScope, state: TradingState },
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the idempotency key was taken by another request")]
    IdempotencyKeyTaken,
    /// The order's client order id belongs to the trader's open order `order_id`.
    #[error("the client order id is in use by open order {order_id}")]
    ClientOrderIdTaken { order_id: OrderId },
    /// An identical order (`DuplicateGuard`) was placed at `placed_at` as `order_id`,
    /// within the window.
    #[error("an identical order {order_id} was placed at {placed_at}")]
    DuplicateOrder { order_id: OrderId, placed_at: Timestamp },
    /// Another submit of the trader committed since its rolling-minute notional was
    /// read: read it again and admit the order anew.
    #[error("the trader's notional window changed since it was read")]
    NotionalWindowMoved,
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: &'static str, detail: String },
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}
