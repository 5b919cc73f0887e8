//! What an operator reads (issue 22, the console's operator view): the trading state of
//! the deployment or of one trader, as submit sees it. Changing it is `controls`.

use serde::Serialize;

use super::error::AppError;
use crate::domain::{TradingScope, TradingState};
use crate::ports::{StoreError, TradingControls};

/// `GET .../trading-state`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TradingStateView {
    /// `deployment`, or the trader's id.
    pub scope: String,
    pub state: TradingState,
}

/// The scope's trading state; a trader without an account is `TraderNotFound`.
pub async fn trading_state(controls: &dyn TradingControls, scope: TradingScope) -> Result<TradingStateView, AppError> {
    let state = controls.trading_state(&scope).await.map_err(|e| match (e, &scope) {
        (StoreError::NoAccount, TradingScope::Trader(t)) => AppError::TraderNotFound(t.to_string()),
        (e, _) => e.into(),
    })?;
    Ok(TradingStateView {
        scope: match &scope {
            TradingScope::Deployment => "deployment".into(),
            TradingScope::Trader(t) => t.to_string(),
        },
        state,
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::domain::TraderId;
    use crate::ports::{OperatorAction, OrderStore};

    fn alice() -> TraderId {
        TraderId::parse("alice").unwrap()
    }

    #[tokio::test]
    async fn the_state_read_is_the_state_set_for_the_deployment_and_for_a_trader() {
        let store = MemoryStore::new();
        store.fund_account(&alice(), Decimal::from(1000), None).await.unwrap();
        let view = trading_state(&store, TradingScope::Deployment).await.unwrap();
        assert_eq!((view.scope.as_str(), view.state), ("deployment", TradingState::Active));
        let trader = TradingScope::Trader(alice());
        assert_eq!(
            trading_state(&store, trader.clone()).await.unwrap().state,
            TradingState::Active
        );
        let ops = OperatorAction::new("ops");
        store
            .set_trading_state(&trader, TradingState::Halted, Some("test"), &ops)
            .await
            .unwrap();
        store
            .set_trading_state(&TradingScope::Deployment, TradingState::Reducing, None, &ops)
            .await
            .unwrap();
        let view = trading_state(&store, trader).await.unwrap();
        assert_eq!((view.scope.as_str(), view.state), ("alice", TradingState::Halted));
        let view = trading_state(&store, TradingScope::Deployment).await.unwrap();
        assert_eq!(view.state, TradingState::Reducing);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({"scope": "deployment", "state": "reducing"})
        );
    }

    #[tokio::test]
    async fn a_trader_without_an_account_is_not_found() {
        let store = MemoryStore::new();
        let err = trading_state(&store, TradingScope::Trader(alice())).await.unwrap_err();
        assert!(
            matches!(err, AppError::TraderNotFound(ref t) if t == "alice"),
            "{err:?}"
        );
    }
}
