// Long because: the order aggregate's fields and what every event does to it, with its tests.
//! The order aggregate: its fields (SPEC §2/§3) and what each event does to it and to
//! the trader's money. `Order::apply` is pure: it returns the next order and the
//! account effect; stores commit both in one transaction.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::OrderError;
use super::ids::{ClientOrderId, OrderId, Symbol, TraderId};
use super::money::{Price, Quantity, round_average};
use super::replace::PendingReplace;
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
    /// Until when a placement the executor sent may still be acted on by the venue:
    /// set with the claim (and with a retried placement) to the time of the write plus
    /// the venue's whole-request timeout plus a margin (`app::execute::ExecutePolicy`).
    /// Before it, "the venue has no such order" proves nothing: the placement may be
    /// in flight. `None` on items written before the field existed. Internal.
    #[serde(skip)]
    pub placement_deadline: Option<Timestamp>,
    /// Σ quantity × price of the fills booked so far, exact (the average is rounded),
    /// so that the next fill's price needs no read of every fill. `None` on items
    /// written before the field existed: the executor computes it once from the
    /// fills. Internal.
    #[serde(skip)]
    pub booked_notional: Option<Decimal>,
    /// A replace waiting for the venue's answer (`domain::replace`): the new values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_replace: Option<PendingReplace>,
    /// The client order id of the venue order working for this one once a replace
    /// made it (`None`: the order id). Internal.
    #[serde(skip)]
    pub venue_client_id: Option<OrderId>,
    /// What the venue versions this order's replaces ended had filled between them:
    /// the live version's own filled quantity adds to it. Internal.
    #[serde(skip)]
    pub replaced_filled: Decimal,
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
    /// The executor places a SUBMITTED order that the venue does not know after its
    /// placement window closed (the claimer died or its placement failed): a new
    /// window opens before the venue hears of it again.
    RetryPlacement,
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
    /// A trader asked to replace the working order with `pending`'s values.
    RequestReplace {
        pending: PendingReplace,
    },
    /// The venue replaced its order: the order takes the pending values, with
    /// `quantity` its new total as the venue will trade it (what the replaced versions
    /// filled, `replaced_filled` of them new, plus what the replacement trades).
    ConfirmReplace {
        quantity: Quantity,
        replaced_filled: Decimal,
        reason: Option<String>,
    },
    /// The venue's order could no longer be changed (or the venue refused the
    /// change): the order keeps its values and gives back what the replace held.
    RefuseReplace {
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
            Self::RetryPlacement => "PLACEMENT_RETRY",
            Self::ConfirmCancel { .. } => "CANCEL_CONFIRM",
            Self::Reject { .. } => "REJECT",
            Self::Expire { .. } => "EXPIRE",
            Self::Stall { .. } => "STALL",
            Self::RequestReplace { .. } => "REPLACE_REQUEST",
            Self::ConfirmReplace { .. } => "REPLACE",
            Self::RefuseReplace { .. } => "REPLACE_REFUSED",
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
            OrderEvent::RetryPlacement => EventKind::RetryPlacement,
            OrderEvent::ConfirmCancel { .. } => EventKind::ConfirmCancel,
            OrderEvent::Reject { .. } => EventKind::Reject,
            OrderEvent::Expire { .. } => EventKind::Expire,
            OrderEvent::Stall { .. } => EventKind::Stall,
            OrderEvent::RequestReplace { .. } => EventKind::RequestReplace,
            OrderEvent::ConfirmReplace { .. } | OrderEvent::RefuseReplace { .. } if self.filled_quantity.is_zero() => {
                EventKind::EndReplace
            }
            OrderEvent::ConfirmReplace { .. } | OrderEvent::RefuseReplace { .. } => EventKind::EndReplaceAfterFills,
        };
        let to = status::next(self.status, kind)?;

        let mut next = self.clone();
        next.status = to;
        next.version += 1;
        next.updated_at = now;
        let mut effect = AccountEffect::default();
        let mut fill = None;
        // A late fill of an order already terminal (see `status::next`): what it held
        // was released when it ended, so the fill releases nothing more.
        let was_terminal = self.status.is_terminal();
        // What a pending replace holds beyond the order's own needs: kept apart from
        // what fills release, given back when the replace ends.
        let extra = self
            .pending_replace
            .as_ref()
            .map_or(Decimal::ZERO, |p| p.extra_reserved);

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
                next.booked_notional = self.booked_notional.map(|b| b + q * p);
                let notional_before = self.average_fill_price.unwrap_or_default() * before;
                next.average_fill_price = Some(round_average((notional_before + q * p) / next.filled_quantity));
                match self.side {
                    Side::Buy => {
                        // Release the reservation of the filled part at the rate it was
                        // reserved at; the last fill releases whatever is left, so
                        // rounding can never strand cash.
                        let own = self.reserved_amount - extra;
                        let release = super::money::pro_rata_release(own, self.remaining(), q);
                        next.reserved_amount = self.reserved_amount - release;
                        effect.reserved = -release;
                    }
                    Side::Sell if was_terminal => {}
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
            OrderEvent::Claim | OrderEvent::RequestCancel | OrderEvent::RetryPlacement => {}
            OrderEvent::RequestReplace { pending } => {
                match self.side {
                    Side::Buy => {
                        next.reserved_amount += pending.extra_reserved;
                        effect.reserved = pending.extra_reserved;
                    }
                    Side::Sell => effect.position_reserved = pending.extra_reserved,
                }
                next.pending_replace = Some(pending.clone());
            }
            OrderEvent::ConfirmReplace {
                quantity,
                replaced_filled,
                reason,
            } => {
                let Some(p) = &self.pending_replace else {
                    return Err(status::InvalidTransition {
                        from: self.status,
                        event: kind,
                    }
                    .into());
                };
                if quantity.get() <= self.filled_quantity {
                    return Err(OrderError::Overfill {
                        quantity: self.filled_quantity,
                        remaining: quantity.get(),
                    });
                }
                next.quantity = *quantity;
                next.limit_price = p.limit_price;
                next.stop_price = p.stop_price;
                next.time_in_force = p.time_in_force;
                next.venue_client_id = Some(p.venue_client_id);
                next.replaced_filled = self.replaced_filled + replaced_filled;
                next.pending_replace = None;
                next.reason = reason.clone();
                match self.side {
                    Side::Buy => {
                        next.reserved_amount = p.cash_for(next.remaining());
                        effect.reserved = next.reserved_amount - self.reserved_amount;
                    }
                    Side::Sell => effect.position_reserved = next.remaining() - (self.remaining() + extra),
                }
            }
            OrderEvent::RefuseReplace { reason } => {
                if self.pending_replace.is_none() {
                    return Err(status::InvalidTransition {
                        from: self.status,
                        event: kind,
                    }
                    .into());
                }
                match self.side {
                    Side::Buy => {
                        next.reserved_amount -= extra;
                        effect.reserved = -extra;
                    }
                    Side::Sell => effect.position_reserved = -extra,
                }
                next.pending_replace = None;
                next.reason = Some(reason.clone());
            }
        }
        // Execution moving again (after a redrive) ends a stall: its reason goes (the
        // STALL audit record keeps it). Only a stall leaves a reason on an order that
        // can still be claimed or filled.
        if matches!(event, OrderEvent::Claim | OrderEvent::Fill { .. }) {
            next.reason = None;
        }
        if was_terminal {
            next.reason = Some(format!(
                "The venue reported a fill after this order was {}; the fill is booked",
                self.status
            ));
        }

        if to.is_terminal() && !was_terminal {
            // Whatever is still held goes back to the trader.
            effect.reserved -= next.reserved_amount;
            next.reserved_amount = Decimal::ZERO;
            if self.side == Side::Sell {
                effect.position_reserved -= next.remaining() + extra;
            }
            next.pending_replace = None;
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
            placement_deadline: None,
            booked_notional: Some(Decimal::ZERO),
            pending_replace: None,
            venue_client_id: None,
            replaced_filled: Decimal::ZERO,
        }
    }
}

/// When a DAY order submitted at `t` stops working: the close (16:00 New York time)
/// of the US equities regular session it belongs to, the first weekday close at or
/// after `t` (an order of the evening, the night or the weekend waits for the next
/// session, as Alpaca queues it). Daylight saving follows the US rule (second Sunday
/// of March to first Sunday of November). Exchange holidays are not modelled: an
/// order submitted on one is held to that day's close, i.e. it is expired early,
/// never late.
pub fn session_close(t: Timestamp) -> Timestamp {
    let at = t.datetime();
    let mut day = at.date().previous_day().unwrap_or(at.date());
    loop {
        if !matches!(day.weekday(), time::Weekday::Saturday | time::Weekday::Sunday) {
            let close = new_york_close(day);
            if close >= at {
                return Timestamp::from_datetime(close);
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => return t,
        }
    }
}

/// 16:00 in New York on `day`, in UTC: 20:00 under daylight saving time, else 21:00.
fn new_york_close(day: time::Date) -> time::OffsetDateTime {
    use time::Month;
    let nth_sunday = |month: Month, n: u8| {
        time::Date::from_calendar_date(day.year(), month, 1).ok().map(|first| {
            let to_sunday = (7 + 6 - first.weekday().number_days_from_monday()) % 7;
            first + time::Duration::days(i64::from(to_sunday) + 7 * i64::from(n - 1))
        })
    };
    let dst = match (nth_sunday(Month::March, 2), nth_sunday(Month::November, 1)) {
        (Some(start), Some(end)) => day >= start && day < end,
        _ => false,
    };
    let hour = if dst { 20 } else { 21 };
    day.with_hms(hour, 0, 0)
        .map(|t| t.assume_utc())
        .unwrap_or_else(|_| day.midnight().assume_utc())
}

impl Order {
    /// Why this order, not yet at the venue, must no longer go there at `now`: its
    /// time in force is over. A DAY order after the close of its session
    /// (`session_close`); a market order, or an immediate one (IOC, FOK), once older
    /// than `max_immediate_age_secs`, since it would execute at a price its trader
    /// never saw. `None`: it may still go.
    pub fn stale_reason(&self, now: Timestamp, max_immediate_age_secs: i64) -> Option<String> {
        let age_ms = now.unix_millis() - self.created_at.unix_millis();
        let immediate =
            self.order_type == OrderType::Market || matches!(self.time_in_force, TimeInForce::Ioc | TimeInForce::Fok);
        if immediate && age_ms > max_immediate_age_secs.saturating_mul(1000) {
            let what = if self.order_type == OrderType::Market {
                "a market order"
            } else {
                "an immediate (IOC/FOK) order"
            };
            return Some(format!(
                "Expired before it reached the venue: {what} submitted {} s ago, more than the {} s such an order may wait",
                age_ms / 1000,
                max_immediate_age_secs
            ));
        }
        if self.time_in_force == TimeInForce::Day {
            let close = session_close(self.created_at);
            if now > close {
                return Some(format!(
                    "Expired before it reached the venue: a DAY order of the session that closed at {close}"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod stale_tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_session_closes_at_four_in_new_york_on_weekdays() {
        for (submitted, close) in [
            // Winter (EST, UTC-5): 21:00 UTC.
            ("2026-01-14T15:00:00Z", "2026-01-14T21:00:00Z"),
            // After the close: the next session.
            ("2026-01-14T21:00:01Z", "2026-01-15T21:00:00Z"),
            // Friday evening and the weekend: Monday.
            ("2026-01-16T22:00:00Z", "2026-01-19T21:00:00Z"),
            ("2026-01-18T12:00:00Z", "2026-01-19T21:00:00Z"),
            // Summer (EDT, UTC-4): 20:00 UTC.
            ("2026-07-01T13:30:00Z", "2026-07-01T20:00:00Z"),
            // 01:00 UTC on Wednesday is still Tuesday evening in New York.
            ("2026-07-01T01:00:00Z", "2026-07-01T20:00:00Z"),
            // The switch days: DST starts 2026-03-08 and ends 2026-11-01 (Sundays).
            ("2026-03-06T12:00:00Z", "2026-03-06T21:00:00Z"),
            ("2026-03-09T12:00:00Z", "2026-03-09T20:00:00Z"),
            ("2026-10-30T12:00:00Z", "2026-10-30T20:00:00Z"),
            ("2026-11-02T12:00:00Z", "2026-11-02T21:00:00Z"),
            // Exactly at the close: still that session.
            ("2026-01-14T21:00:00Z", "2026-01-14T21:00:00Z"),
        ] {
            assert_eq!(session_close(at(submitted)), at(close), "submitted {submitted}");
        }
    }
}
