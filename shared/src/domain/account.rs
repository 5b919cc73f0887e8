//! A trader's account: cash, cash reserved for open buys, positions (with quantity
//! reserved for open sells), today's realized P&L, and the risk limits (SPEC §4).
//! Buying power is derived (`cash - reserved`), never stored independently in the
//! domain; stores may keep a copy for conditional writes.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use super::controls::TradingState;
use super::ids::{Symbol, TraderId};
use super::money::{cents, round_average};
use super::order::{Side, Trade};

/// Per-trader limits; configurable per account (SPEC §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLimits {
    #[serde(with = "rust_decimal::serde::str")]
    pub max_order_notional: Decimal,
    pub max_open_orders: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub daily_loss_limit: Decimal,
    pub orders_per_minute: u32,
    /// Duplicate detection (issue 19): an order sent without an `Idempotency-Key` that
    /// is identical (symbol, side, type, quantity, prices, time in force) to one the
    /// trader placed within this many seconds is refused unless confirmed. 0: off.
    #[serde(default)]
    pub duplicate_window_secs: u32,
    /// Symbols this trader may not trade (issue 19), beside the deployment's list.
    #[serde(default)]
    pub restricted_symbols: Vec<Symbol>,
    /// The most notional this trader may send over any rolling minute (issue 19;
    /// `domain::notional_window`), counted at the price each order is valued at. 0: off.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub max_notional_per_minute: Decimal,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            max_order_notional: Decimal::from(1_000_000),
            max_open_orders: 200,
            daily_loss_limit: Decimal::from(5_000),
            orders_per_minute: 100,
            duplicate_window_secs: 0,
            restricted_symbols: Vec::new(),
            max_notional_per_minute: Decimal::ZERO,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: Symbol,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Quantity held by open sell orders.
    #[serde(with = "rust_decimal::serde::str")]
    pub reserved: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub average_cost: Decimal,
    /// Bumped by every booked trade; trades are written conditional on it.
    pub version: u64,
}

impl Position {
    pub fn empty(symbol: Symbol) -> Self {
        Self {
            symbol,
            quantity: Decimal::ZERO,
            reserved: Decimal::ZERO,
            average_cost: Decimal::ZERO,
            version: 0,
        }
    }

    pub fn available(&self) -> Decimal {
        self.quantity - self.reserved
    }

    /// Books a trade: returns the new position and the realized P&L of it (sells
    /// realize against the average cost; buys realize nothing). Short selling is not
    /// offered, so a sell never exceeds the reserved quantity it was checked against.
    pub fn book(&self, trade: &Trade) -> (Position, Decimal) {
        let mut next = self.clone();
        next.version += 1;
        let realized = match trade.side {
            Side::Buy => {
                let quantity = self.quantity + trade.quantity;
                next.average_cost =
                    round_average((self.quantity * self.average_cost + trade.quantity * trade.price) / quantity);
                next.quantity = quantity;
                Decimal::ZERO
            }
            Side::Sell => {
                next.quantity = self.quantity - trade.quantity;
                if next.quantity.is_zero() {
                    next.average_cost = Decimal::ZERO;
                }
                // Realized P&L is money: booked to the cent.
                cents(trade.quantity * (trade.price - self.average_cost))
            }
        };
        (next, realized)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub trader_id: TraderId,
    #[serde(with = "rust_decimal::serde::str")]
    pub cash: Decimal,
    /// Cash held by open buy orders.
    #[serde(with = "rust_decimal::serde::str")]
    pub reserved: Decimal,
    pub open_orders: u32,
    /// Realized P&L of `pnl_day`; a different day means nothing realized today yet.
    #[serde(with = "rust_decimal::serde::str")]
    pub realized_pnl: Decimal,
    pub pnl_day: Option<Date>,
    pub positions: Vec<Position>,
    pub limits: RiskLimits,
    /// The trader's own trading state, set by an operator (`controls`).
    #[serde(default)]
    pub trading_state: TradingState,
}

impl Account {
    pub fn new(trader_id: TraderId, cash: Decimal) -> Self {
        Self {
            trader_id,
            cash,
            reserved: Decimal::ZERO,
            open_orders: 0,
            realized_pnl: Decimal::ZERO,
            pnl_day: None,
            positions: Vec::new(),
            limits: RiskLimits::default(),
            trading_state: TradingState::Active,
        }
    }

    pub fn buying_power(&self) -> Decimal {
        self.cash - self.reserved
    }

    pub fn position(&self, symbol: &Symbol) -> Option<&Position> {
        self.positions.iter().find(|p| &p.symbol == symbol)
    }

    pub fn realized_pnl_on(&self, day: Date) -> Decimal {
        if self.pnl_day == Some(day) {
            self.realized_pnl
        } else {
            Decimal::ZERO
        }
    }

    /// Today's realized losses as a positive amount (zero when today is a gain).
    pub fn losses_on(&self, day: Date) -> Decimal {
        (-self.realized_pnl_on(day)).max(Decimal::ZERO)
    }
}

/// How a trade changes today's realized P&L: added to today's figure when the
/// account is already on `day`, else starting `day` at `delta`. Stores write the
/// second form conditional on the day they read (`seen_day`), so two fills racing
/// over midnight cannot both restart the day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PnlUpdate {
    pub seen_day: Option<Date>,
    pub day: Date,
    pub delta: Decimal,
}

impl PnlUpdate {
    pub fn new(account: &Account, day: Date, realized: Decimal) -> Self {
        Self {
            seen_day: account.pnl_day,
            day,
            delta: realized,
        }
    }

    pub fn same_day(&self) -> bool {
        self.seen_day == Some(self.day)
    }

    /// Applies the update to a snapshot (what the stores do atomically).
    pub fn apply_to(&self, account: &mut Account) {
        if account.pnl_day == Some(self.day) {
            account.realized_pnl += self.delta;
        } else {
            account.pnl_day = Some(self.day);
            account.realized_pnl = self.delta;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::dec;

    fn pos() -> Position {
        Position::empty(Symbol::parse("AAPL").unwrap())
    }

    #[test]
    fn buys_average_the_cost_and_sells_realize_against_it() {
        let (p, r) = pos().book(&Trade {
            side: Side::Buy,
            quantity: dec(10),
            price: dec(100),
        });
        assert_eq!(r, Decimal::ZERO);
        let (p, _) = p.book(&Trade {
            side: Side::Buy,
            quantity: dec(10),
            price: dec(110),
        });
        assert_eq!((p.quantity, p.average_cost), (dec(20), dec(105)));
        let (p, r) = p.book(&Trade {
            side: Side::Sell,
            quantity: dec(5),
            price: dec(100),
        });
        assert_eq!(r, dec(-25));
        assert_eq!((p.quantity, p.average_cost, p.version), (dec(15), dec(105), 3));
        let (p, r) = p.book(&Trade {
            side: Side::Sell,
            quantity: dec(15),
            price: dec(106),
        });
        assert_eq!((r, p.quantity, p.average_cost), (dec(15), Decimal::ZERO, Decimal::ZERO));
    }

    #[test]
    fn pnl_resets_on_a_new_day() {
        let mut a = Account::new(TraderId::parse("t").unwrap(), dec(1000));
        let d1 = time::macros::date!(2026 - 11 - 23);
        let d2 = time::macros::date!(2026 - 11 - 24);
        a.pnl_day = Some(d1);
        a.realized_pnl = dec(-700);
        assert_eq!(a.losses_on(d1), dec(700));
        assert_eq!(a.losses_on(d2), Decimal::ZERO);
        let mut next_day = a.clone();
        PnlUpdate::new(&a, d2, dec(-10)).apply_to(&mut next_day);
        assert_eq!((next_day.realized_pnl, next_day.pnl_day), (dec(-10), Some(d2)));
        let mut same_day = a.clone();
        PnlUpdate::new(&a, d1, dec(-10)).apply_to(&mut same_day);
        assert_eq!(same_day.realized_pnl, dec(-710));
    }
}
