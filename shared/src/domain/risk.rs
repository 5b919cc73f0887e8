//! Pre-trade checks against an account snapshot (SPEC §4.2–4.3). The snapshot decides
//! the message; the store re-checks funds, position and open-order count atomically
//! in the order's transaction, so concurrent submits can never overspend.

use std::collections::HashMap;

use rust_decimal::{Decimal, RoundingStrategy};
use time::Date;

use super::account::Account;
use super::checks::OrderChecks;
use super::controls::{TradingScope, TradingState};
use super::error::OrderError;
use super::ids::Symbol;
use super::money::Price;
use super::order::{OrderType, Side};
use super::validation::OrderDraft;

/// Prices used to value orders without a limit price.
#[derive(Clone, Debug, Default)]
pub struct Pricing {
    /// Reference (last) prices by symbol.
    pub reference: HashMap<Symbol, Price>,
    /// Fraction added to the reference or stop price when reserving cash for a
    /// market or stop buy, so a moving market cannot fill beyond what was held.
    pub collar: Decimal,
    /// The deployment's erroneous-order checks (price band around these reference
    /// prices, quantity, restricted symbols).
    pub checks: OrderChecks,
}

/// What the order holds while it is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    Cash(Decimal),
    Position { symbol: Symbol, quantity: Decimal },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub notional: Decimal,
    pub reservation: Reservation,
}

impl Pricing {
    /// The price an order is valued at, and the one cash is reserved at for buys.
    pub fn prices_of(&self, draft: &OrderDraft) -> Result<(Decimal, Decimal), OrderError> {
        self.prices(draft)
    }

    /// Whether an order of `order_type` is priced by its symbol's reference price: a
    /// market order's value, or a limit or stop price checked against the price band.
    pub fn needs_reference(&self, order_type: OrderType) -> bool {
        order_type == OrderType::Market || self.checks.price_band.is_some()
    }

    /// These prices with `symbol`'s reference price at `price` (e.g. the latest trade
    /// from market data, taking the place of the static one).
    pub fn with_reference(&self, symbol: &Symbol, price: Price) -> Pricing {
        let mut priced = self.clone();
        priced.reference.insert(symbol.clone(), price);
        priced
    }

    fn prices(&self, draft: &OrderDraft) -> Result<(Decimal, Decimal), OrderError> {
        let reference = || {
            self.reference
                .get(&draft.symbol)
                .map(|p| p.get())
                .ok_or_else(|| OrderError::NoReferencePrice {
                    symbol: draft.symbol.to_string(),
                })
        };
        let with_collar = |p: Decimal| p * (Decimal::ONE + self.collar);
        Ok(match (draft.order_type, draft.limit_price, draft.stop_price) {
            (OrderType::Limit | OrderType::StopLimit, Some(limit), _) => (limit.get(), limit.get()),
            (OrderType::Stop, _, Some(stop)) => (stop.get(), with_collar(stop.get())),
            _ => {
                let r = reference()?;
                (r, with_collar(r))
            }
        })
    }
}

/// Checks an order against the trader's account and limits on `today`.
pub fn assess(draft: &OrderDraft, account: &Account, pricing: &Pricing, today: Date) -> Result<Assessment, OrderError> {
    // The trader's own trading state (the deployment's is checked in the submit's
    // transaction; the store checks this one there too, against the item as it is).
    if !account.trading_state.admits(draft.side) {
        let scope = TradingScope::Trader(account.trader_id.clone());
        return Err(match account.trading_state {
            TradingState::Reducing => OrderError::ReduceOnly { scope },
            _ => OrderError::TradingHalted { scope },
        });
    }
    pricing
        .checks
        .check(draft, pricing.reference.get(&draft.symbol).cloned())?;
    let limits = &account.limits;
    if limits.restricted_symbols.contains(&draft.symbol) {
        return Err(OrderError::RestrictedForAccount {
            symbol: draft.symbol.to_string(),
        });
    }
    let losses = account.losses_on(today);
    if losses >= limits.daily_loss_limit {
        return Err(OrderError::DailyLossLimit {
            limit: limits.daily_loss_limit,
            losses,
        });
    }
    if account.open_orders >= limits.max_open_orders {
        return Err(OrderError::MaxOpenOrders {
            limit: limits.max_open_orders,
        });
    }
    let quantity = draft.quantity.get();
    let (value_price, reserve_price) = pricing.prices(draft)?;
    let notional = quantity * value_price;
    if notional > limits.max_order_notional {
        return Err(OrderError::MaxNotional {
            notional,
            limit: limits.max_order_notional,
        });
    }
    let reservation = match draft.side {
        Side::Buy => {
            // Held in whole cents, rounded up.
            let mut required = (quantity * reserve_price).round_dp_with_strategy(2, RoundingStrategy::AwayFromZero);
            required.rescale(2);
            let available = account.buying_power();
            if required > available {
                return Err(OrderError::InsufficientFunds { required, available });
            }
            Reservation::Cash(required)
        }
        Side::Sell => {
            let available = account.position(&draft.symbol).map_or(Decimal::ZERO, |p| p.available());
            if quantity > available {
                return Err(OrderError::InsufficientPosition {
                    symbol: draft.symbol.to_string(),
                    requested: quantity,
                    available,
                });
            }
            Reservation::Position {
                symbol: draft.symbol.clone(),
                quantity,
            }
        }
    };
    Ok(Assessment { notional, reservation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Position;
    use crate::domain::ids::TraderId;
    use crate::domain::test_support::dec;
    use crate::domain::validation::validate_order;
    use serde_json::json;

    const TODAY: Date = time::macros::date!(2026 - 11 - 24);

    fn account(cash: i64) -> Account {
        Account::new(TraderId::parse("alice").unwrap(), Decimal::from(cash))
    }

    fn pricing() -> Pricing {
        let mut reference = HashMap::new();
        reference.insert(Symbol::parse("AAPL").unwrap(), Price::parse(dec(200)).unwrap());
        Pricing {
            reference,
            collar: dec("0.05"),
            ..Pricing::default()
        }
    }

    fn draft(body: serde_json::Value) -> OrderDraft {
        validate_order(&body).unwrap()
    }

    #[test]
    fn limit_buy_reserves_quantity_times_limit_and_reports_the_spec_message() {
        let d =
            draft(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "100", "limit_price": "150"}));
        let mut a = account(20_000);
        a.reserved = dec(16_800);
        let err = assess(&d, &a, &pricing(), TODAY).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Insufficient funds for $15,000.00 order; available: $3,200.00"
        );
        a.reserved = Decimal::ZERO;
        assert_eq!(
            assess(&d, &a, &pricing(), TODAY).unwrap().reservation,
            Reservation::Cash(dec(15_000))
        );
    }

    #[test]
    fn market_buy_reserves_reference_plus_collar() {
        let d = draft(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "10"}));
        let got = assess(&d, &account(10_000), &pricing(), TODAY).unwrap();
        assert_eq!(got.reservation, Reservation::Cash(dec(2_100)));
        let d = draft(json!({"symbol": "MSFT", "side": "buy", "type": "market", "quantity": "10"}));
        assert!(matches!(
            assess(&d, &account(10_000), &pricing(), TODAY),
            Err(OrderError::NoReferencePrice { .. })
        ));
    }

    #[test]
    fn sells_need_an_available_position() {
        let d = draft(json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "10", "limit_price": "1"}));
        let mut a = account(0);
        let err = assess(&d, &a, &pricing(), TODAY).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Insufficient position for sell of 10 AAPL; available: 0"
        );
        let mut p = Position::empty(Symbol::parse("AAPL").unwrap());
        p.quantity = dec(12);
        p.reserved = dec(4);
        a.positions.push(p);
        assert_eq!(
            assess(&d, &a, &pricing(), TODAY).unwrap_err().to_string(),
            "Insufficient position for sell of 10 AAPL; available: 8"
        );
    }

    #[test]
    fn limits_are_enforced_in_order() {
        let d = draft(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"}));
        let mut a = account(1_000_000);
        a.pnl_day = Some(TODAY);
        a.realized_pnl = dec(-5_000);
        assert_eq!(
            assess(&d, &a, &pricing(), TODAY).unwrap_err().to_string(),
            "Daily loss limit of $5,000.00 has been reached. Current losses: $5,000.00"
        );
        a.pnl_day = Some(time::macros::date!(2026 - 11 - 23));
        assert!(
            assess(&d, &a, &pricing(), TODAY).is_ok(),
            "yesterday's losses do not count"
        );
        a.open_orders = a.limits.max_open_orders;
        assert!(matches!(
            assess(&d, &a, &pricing(), TODAY),
            Err(OrderError::MaxOpenOrders { limit: 200 })
        ));
        a.open_orders = 0;
        a.limits.max_order_notional = dec(5);
        assert_eq!(
            assess(&d, &a, &pricing(), TODAY).unwrap_err().to_string(),
            "Order notional of $10.00 exceeds the per-order limit of $5.00"
        );
    }
}
