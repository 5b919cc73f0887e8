//! The order aggregate: its fields (SPEC §2/§3) and what each event does to it and to
//! the trader's money. `Order::apply` is pure: it returns the next order and the
//! account effect; stores commit both in one transaction.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::OrderError;
use super::ids::{ClientOrderId, OrderId, Symbol, TraderId};
use super::money::{Price, Quantity, round_average};
use super::status::{self, EventKind, OrderStatus};
use super::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
}

impl OrderType {
    pub fn needs_limit_price(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }
    pub fn needs_stop_price(self) -> bool {
        matches!(self, Self::Stop | Self::StopLimit)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Day,
    Gtc,
    Ioc,
    Fok,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const NAMES: &'static [&'static str] = &[$($name),+];
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($name => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
wire_names!(Side { Buy => "buy", Sell => "sell" });
wire_names!(OrderType { Market => "market", Limit => "limit", Stop => "stop", StopLimit => "stop_limit" });
wire_names!(TimeInForce { Day => "day", Gtc => "gtc", Ioc => "ioc", Fok => "fok" });

/// An order as stored and as returned by the API (SPEC §3 field list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub client_order_id: Option<ClientOrderId>,
    pub trader_id: TraderId,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub quantity: Quantity,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    #[serde(with = "rust_decimal::serde::str")]
    pub filled_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub average_fill_price: Option<Decimal>,
    /// Cash still held for this order (buys). Sells hold position quantity instead:
    /// the unfilled remainder.
    #[serde(with = "rust_decimal::serde::str")]
    pub reserved_amount: Decimal,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub reason: Option<String>,
    /// Hash of the order's latest audit record, so the next record can link to it
    /// without reading the audit table. Internal: not part of the API's order.
    #[serde(skip)]
    pub audit_head: String,
}

/// What happened to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderEvent {
    Claim,
    Fill {
        execution_id: String,
        quantity: Decimal,
        price: Decimal,
    },
    RequestCancel,
    ConfirmCancel {
        reason: Option<String>,
    },
    Reject {
        reason: String,
    },
    Expire {
        reason: Option<String>,
    },
    /// Execution gave up (see `EventKind::Stall`); `reason` says why.
    Stall {
        reason: String,
    },
}

impl OrderEvent {
    /// A short upper-case name, used as the audit record's action.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Claim => "CLAIM",
            Self::Fill { .. } => "FILL",
            Self::RequestCancel => "CANCEL_REQUEST",
            Self::ConfirmCancel { .. } => "CANCEL_CONFIRM",
            Self::Reject { .. } => "REJECT",
            Self::Expire { .. } => "EXPIRE",
            Self::Stall { .. } => "STALL",
        }
    }
}

/// A fill as executed at the venue; `execution_id` deduplicates redelivered fills.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub order_id: OrderId,
    pub execution_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    pub executed_at: Timestamp,
}

/// A trade to book on the trader's position (see `Account::book_trade`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
}

/// The change an event makes to the trader's account. Cash and reservation changes
/// are additive, so stores apply them with atomic `ADD`s; a trade needs the position's
/// cost basis and is booked against a versioned snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountEffect {
    /// Change in cash reserved for open buys (negative releases).
    pub reserved: Decimal,
    /// Change in position quantity reserved for open sells (negative releases).
    pub position_reserved: Decimal,
    /// Change in the number of open orders.
    pub open_orders: i64,
    pub trade: Option<Trade>,
}

impl AccountEffect {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The result of applying an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub order: Order,
    pub effect: AccountEffect,
    pub fill: Option<Fill>,
}

impl Order {
    pub fn remaining(&self) -> Decimal {
        self.quantity.get() - self.filled_quantity
    }

    /// Applies `event` at `now`. The version goes up by one on every accepted event.
    pub fn apply(&self, event: &OrderEvent, now: Timestamp) -> Result<Applied, OrderError> {
        let kind = match event {
            OrderEvent::Claim => EventKind::Claim,
            OrderEvent::Fill { quantity, price, .. } => {
                if *quantity <= Decimal::ZERO || *price <= Decimal::ZERO {
                    return Err(OrderError::BadFill);
                }
                if *quantity > self.remaining() {
                    return Err(OrderError::Overfill {
                        quantity: *quantity,
                        remaining: self.remaining(),
                    });
                }
                if *quantity == self.remaining() {
                    EventKind::FinalFill
                } else {
                    EventKind::PartialFill
                }
            }
            OrderEvent::RequestCancel => EventKind::RequestCancel,
            OrderEvent::ConfirmCancel { .. } => EventKind::ConfirmCancel,
            OrderEvent::Reject { .. } => EventKind::Reject,
            OrderEvent::Expire { .. } => EventKind::Expire,
            OrderEvent::Stall { .. } => EventKind::Stall,
        };
        let to = status::next(self.status, kind)?;

        let mut next = self.clone();
        next.status = to;
        next.version += 1;
        next.updated_at = now;
        let mut effect = AccountEffect::default();
        let mut fill = None;

        match event {
            OrderEvent::Fill {
                execution_id,
                quantity,
                price,
            } => {
                let q = *quantity;
                let p = *price;
                let before = self.filled_quantity;
                next.filled_quantity = before + q;
                let notional_before = self.average_fill_price.unwrap_or_default() * before;
                next.average_fill_price = Some(round_average((notional_before + q * p) / next.filled_quantity));
                match self.side {
                    Side::Buy => {
                        // Release the reservation of the filled part at the rate it was
                        // reserved at; the last fill releases whatever is left, so
                        // rounding can never strand cash.
                        let release = super::money::pro_rata_release(self.reserved_amount, self.remaining(), q);
                        next.reserved_amount = self.reserved_amount - release;
                        effect.reserved = -release;
                    }
                    Side::Sell => effect.position_reserved = -q,
                }
                effect.trade = Some(Trade {
                    side: self.side,
                    quantity: q,
                    price: p,
                });
                fill = Some(Fill {
                    order_id: self.order_id,
                    execution_id: execution_id.clone(),
                    quantity: q,
                    price: p,
                    executed_at: now,
                });
            }
            OrderEvent::ConfirmCancel { reason } | OrderEvent::Expire { reason } => next.reason = reason.clone(),
            OrderEvent::Reject { reason } | OrderEvent::Stall { reason } => next.reason = Some(reason.clone()),
            OrderEvent::Claim | OrderEvent::RequestCancel => {}
        }
        // Execution moving again (after a redrive) ends a stall: its reason goes (the
        // STALL audit record keeps it). Only a stall leaves a reason on an order that
        // can still be claimed or filled.
        if matches!(event, OrderEvent::Claim | OrderEvent::Fill { .. }) {
            next.reason = None;
        }

        if to.is_terminal() {
            // Whatever is still held goes back to the trader.
            effect.reserved -= next.reserved_amount;
            next.reserved_amount = Decimal::ZERO;
            if self.side == Side::Sell {
                effect.position_reserved -= next.remaining();
            }
            effect.open_orders -= 1;
        }
        Ok(Applied {
            order: next,
            effect,
            fill,
        })
    }
}

impl Order {
    /// A new order as submitted: PENDING, version 1, holding `reserved_amount` cash
    /// (zero for sells, which hold position quantity).
    pub fn pending(
        order_id: OrderId,
        trader_id: TraderId,
        draft: super::validation::OrderDraft,
        reserved_amount: Decimal,
        now: Timestamp,
    ) -> Self {
        Self {
            order_id,
            client_order_id: draft.client_order_id,
            trader_id,
            symbol: draft.symbol,
            side: draft.side,
            order_type: draft.order_type,
            quantity: draft.quantity,
            limit_price: draft.limit_price,
            stop_price: draft.stop_price,
            time_in_force: draft.time_in_force,
            status: OrderStatus::Pending,
            filled_quantity: Decimal::ZERO,
            average_fill_price: None,
            reserved_amount,
            version: 1,
            created_at: now,
            updated_at: now,
            reason: None,
            audit_head: String::new(),
        }
    }
}
