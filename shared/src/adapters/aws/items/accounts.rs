//! Account and position items (with the trading state on account items).

use aws_sdk_dynamodb::types::AttributeValue;
use time::Date;
use time::format_description::well_known::Iso8601;

use super::keys::*;
use super::reader::{Reader, corrupt, put_opt};
use crate::domain::{Account, Position, RiskLimits, Symbol, TradingState};
use crate::ports::StoreError;

/// A stored trading state (absent: `active`).
pub fn trading_state_from_item(item: &Item) -> Result<TradingState, StoreError> {
    match item.get(TRADING_STATE) {
        None => Ok(TradingState::Active),
        Some(AttributeValue::S(raw)) => TradingState::parse(raw).ok_or_else(|| corrupt("account", TRADING_STATE)),
        Some(_) => Err(corrupt("account", TRADING_STATE)),
    }
}

pub fn account_to_item(a: &Account) -> Item {
    let mut item = key(trader_pk(&a.trader_id), ACCOUNT_SK.into());
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("cash".into(), n(a.cash));
    item.insert("reserved".into(), n(a.reserved));
    item.insert("available".into(), n(a.buying_power()));
    item.insert("open_orders".into(), n(a.open_orders));
    item.insert("realized_pnl".into(), n(a.realized_pnl));
    put_opt(&mut item, "pnl_day", a.pnl_day.map(|d| s(d.to_string())));
    item.insert("max_order_notional".into(), n(a.limits.max_order_notional));
    item.insert("max_open_orders".into(), n(a.limits.max_open_orders));
    item.insert("daily_loss_limit".into(), n(a.limits.daily_loss_limit));
    item.insert("orders_per_minute".into(), n(a.limits.orders_per_minute));
    item.insert("duplicate_window_secs".into(), n(a.limits.duplicate_window_secs));
    item.insert("max_notional_per_minute".into(), n(a.limits.max_notional_per_minute));
    item.insert(
        "restricted_symbols".into(),
        s(restricted_list(&a.limits.restricted_symbols)),
    );
    item.insert(TRADING_STATE.into(), s(a.trading_state.as_str()));
    item
}

/// A trader's restricted symbols as stored: comma separated (empty: none).
pub fn restricted_list(symbols: &[Symbol]) -> String {
    symbols.iter().map(Symbol::as_str).collect::<Vec<_>>().join(",")
}

/// The stored list read back; `None` if a name in it is not a symbol. Absent: none.
fn restricted_from(raw: Option<&str>) -> Option<Vec<Symbol>> {
    raw.unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Symbol::parse(s).ok())
        .collect()
}

fn parse_day(raw: &str) -> Option<Date> {
    Date::parse(raw, &Iso8601::DATE).ok()
}

pub fn account_from_items(items: &[Item]) -> Result<Option<Account>, StoreError> {
    let Some(acct) = items
        .iter()
        .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK))
    else {
        return Ok(None);
    };
    let r = Reader::new(acct, "account");
    let pnl_day = match r.opt_str("pnl_day") {
        Some(raw) => Some(parse_day(raw).ok_or_else(|| corrupt("account", "pnl_day"))?),
        None => None,
    };
    let mut positions = Vec::new();
    for item in items {
        if matches!(item.get(SK), Some(AttributeValue::S(sk)) if sk.starts_with(POSITION_PREFIX)) {
            positions.push(position_from_item(item)?);
        }
    }
    positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    Ok(Some(Account {
        trader_id: r.parse("trader_id")?,
        cash: r.dec("cash")?,
        reserved: r.dec("reserved")?,
        open_orders: r.u32("open_orders")?,
        realized_pnl: r.dec("realized_pnl")?,
        pnl_day,
        positions,
        limits: RiskLimits {
            max_order_notional: r.dec("max_order_notional")?,
            max_open_orders: r.u32("max_open_orders")?,
            daily_loss_limit: r.dec("daily_loss_limit")?,
            orders_per_minute: r.u32("orders_per_minute")?,
            // Absent on accounts written before duplicate detection: off.
            duplicate_window_secs: match r.opt_dec("duplicate_window_secs")? {
                None => 0,
                Some(_) => r.u32("duplicate_window_secs")?,
            },
            restricted_symbols: restricted_from(r.opt_str("restricted_symbols"))
                .ok_or_else(|| corrupt("account", "restricted_symbols"))?,
            // Absent on accounts written before the limit: off.
            max_notional_per_minute: r.opt_dec("max_notional_per_minute")?.unwrap_or_default(),
        },
        trading_state: trading_state_from_item(acct)?,
    }))
}

fn position_from_item(item: &Item) -> Result<Position, StoreError> {
    let r = Reader::new(item, "position");
    Ok(Position {
        symbol: Symbol::parse(r.str("symbol")?).map_err(|_| corrupt("position", "symbol"))?,
        quantity: r.dec("quantity")?,
        reserved: r.dec("reserved")?,
        average_cost: r.dec("average_cost")?,
        version: r.u64("version")?,
    })
}
