//! The position reads (issue 20, Alpaca's `GET /v2/positions` and
//! `GET /v2/positions/{symbol}`): the trader's held positions as the account shows
//! them, one by symbol (a symbol not held is not found).

use serde::Serialize;

use super::error::AppError;
use super::query::PositionView;
use crate::domain::{Account, Symbol, TraderId};
use crate::ports::OrderStore;

#[derive(Debug, Serialize)]
pub struct PositionList {
    pub positions: Vec<PositionView>,
}

fn held(account: &Account) -> impl Iterator<Item = PositionView> + '_ {
    account
        .positions
        .iter()
        .filter(|p| !p.quantity.is_zero())
        .map(|p| PositionView {
            symbol: p.symbol.clone(),
            quantity: p.quantity,
            average_cost: p.average_cost,
        })
}

pub async fn positions(store: &dyn OrderStore, trader: &TraderId) -> Result<PositionList, AppError> {
    let account = store.get_account(trader).await?.ok_or(AppError::AccountNotFound)?;
    Ok(PositionList {
        positions: held(&account).collect(),
    })
}

/// The position in `raw_symbol`; a symbol that is not one, or not held, is not found.
pub async fn position(store: &dyn OrderStore, trader: &TraderId, raw_symbol: &str) -> Result<PositionView, AppError> {
    let not_found = || AppError::PositionNotFound(raw_symbol.to_owned());
    let symbol = Symbol::parse(raw_symbol).map_err(|_| not_found())?;
    let account = store.get_account(trader).await?.ok_or(AppError::AccountNotFound)?;
    held(&account).find(|p| p.symbol == symbol).ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use rust_decimal::Decimal;

    #[tokio::test]
    async fn held_positions_are_listed_and_found_and_others_are_not_found() {
        let store = MemoryStore::new();
        let trader = TraderId::parse("alice").unwrap();
        store.fund_account(&trader, Decimal::from(100), None).await.unwrap();
        let aapl = Symbol::parse("AAPL").unwrap();
        store
            .deposit_position(&trader, &aapl, Decimal::from(5), Decimal::from(150))
            .await
            .unwrap();
        let list = positions(&store, &trader).await.unwrap();
        assert_eq!(list.positions.len(), 1);
        let one = position(&store, &trader, "AAPL").await.unwrap();
        assert_eq!((one.quantity, one.average_cost), (Decimal::from(5), Decimal::from(150)));
        for missing in ["MSFT", "not a symbol"] {
            let e = position(&store, &trader, missing).await.unwrap_err();
            assert_eq!(e, AppError::PositionNotFound(missing.into()));
            assert_eq!(e.to_string(), format!("No position in {missing} is held"));
        }
        let nobody = TraderId::parse("nobody").unwrap();
        assert_eq!(positions(&store, &nobody).await.unwrap_err(), AppError::AccountNotFound);
    }
}
