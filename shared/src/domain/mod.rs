//! The pure domain: no I/O, no AWS types, no Lambda types.
//!
//! # Layout
//! - `ids`, `money`, `time`: validated value types.
//! - `status`: the status machine's one transition table.
//! - `order`: the order aggregate and what each event does to it.
//! - `account`: cash, reservations, positions, P&L and limits.
//! - `validation`, `risk`: the submit checks of SPEC §4.
//! - `audit`: hash-chained audit records and their verifier.
//! - `error`: every refusal, with its user-facing message.
//! - `notional_window`: the notional a trader sent over the last rolling minute.
//! - `checks`: the deployment's erroneous-order checks (price band, quantity, restricted symbols).
//! - `replace`: replacing a working order (what it holds until the venue answers).
//! - `controls`: trading states (active, reducing, halted) an operator sets.
//! - `change`: a committed change of an order, as the orders table's stream carries it.

pub mod account;
pub mod audit;
pub mod change;
pub mod checks;
pub mod controls;
pub mod error;
pub mod ids;
pub mod money;
pub mod notional_window;
pub mod order;
pub mod replace;
pub mod risk;
pub mod status;
pub mod time;
pub mod validation;

pub use account::{Account, PnlUpdate, Position, RiskLimits};
pub use audit::{
    AccountAnchor, AccountAuditRecord, AuditEntry, AuditRecord, ChainBreak, Changes, DEPOSIT_POSITION, FUND,
    GENESIS_HASH, SUBMIT_REJECTED, deposit_snapshots, deposited, expand_chain, fund_snapshots, sha256_hex,
    verify_account_chain, verify_anchored, verify_chain, verify_orphan,
};
pub use change::{ChangeKind, OrderChange};
pub use checks::OrderChecks;
pub use controls::{SET_TRADING_STATE, TradingScope, TradingState, trading_state_snapshots};
pub use error::{FieldError, IdError, OrderError};
pub use ids::{ClientOrderId, IdempotencyKey, OrderId, Symbol, TraderId};
pub use money::{Price, Quantity, usd};
pub use notional_window::{NotionalEntry, NotionalWindow};
pub use order::{AccountEffect, Applied, Fill, Order, OrderEvent, OrderType, Side, TimeInForce, Trade};
pub use replace::{PendingReplace, assess_replace};
pub use risk::{Assessment, Pricing, Reservation, assess};
pub use status::{EventKind, InvalidTransition, OrderStatus};
pub use time::Timestamp;
pub use validation::{OrderDraft, ReplaceDraft, validate_order, validate_replace};

#[cfg(test)]
pub(crate) mod test_support {
    use rust_decimal::Decimal;
    use std::str::FromStr;

    /// `dec(10)`, `dec("150.25")`.
    pub fn dec(v: impl ToString) -> Decimal {
        Decimal::from_str(&v.to_string()).expect("test decimal")
    }
}
