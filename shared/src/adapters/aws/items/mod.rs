//! DynamoDB item mapping: the only place attribute maps are built or read.
//!
//! Orders table (single table), keys:
//! - account     `TRADER#<t>` / `ACCOUNT`
//! - position    `TRADER#<t>` / `ACCOUNT#POS#<symbol>` (one query reads the account and all its positions)
//! - notional    `TRADER#<t>` / `ACCOUNT#NOTIONAL`: the rolling-minute notional window (read with the account)
//! - order       `TRADER#<t>` / `ORDER#<id>`, `GSI1PK = TRADER#<t>#<STATUS>`, `GSI1SK = ORDER#<id>`
//! - fill        `TRADER#<t>` / `FILL#<order id>#<execution id>`
//! - client id   `TRADER#<t>` / `CLIENT#<client order id>`: `order_id` of the trader's latest order with it
//!
//! Audit table: `ORDER#<id>` / 20-digit zero-padded sequence; an account's operator
//! changes `ACCOUNT#<trader>` / the same. The account item keeps its chain's anchor
//! (`audit_seq`, `audit_head`).
//!
//! Money is stored as DynamoDB numbers (exact decimals, 38 digits) so that conditions
//! can compare them; `available = cash - reserved` is kept on the account (and on
//! positions) because condition expressions cannot do arithmetic.
//!
//! One file per kind of item (`keys` and `reader` serve them all); everything public is
//! re-exported here.

mod accounts;
mod attention;
mod audit;
mod keys;
mod orders;
mod reader;
#[cfg(test)]
mod tests;

pub use accounts::*;
pub use attention::*;
pub use audit::*;
pub use keys::*;
pub use orders::*;
pub use reader::*;
