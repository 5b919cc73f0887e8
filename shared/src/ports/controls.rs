//! The operators' trading controls (`TradingControls`, issue 19).

use async_trait::async_trait;

use super::{OperatorAction, StoreError};
use crate::domain::{TraderId, TradingScope, TradingState};

/// A trading state change an operator made (or found already made: the same operation
/// id applied before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradingStateChange {
    pub scope: TradingScope,
    pub before: TradingState,
    pub after: TradingState,
    /// The audit record's sequence on the scope's chain.
    pub sequence: u64,
}

/// The operators' trading controls (issue 19): the deployment's and each trader's
/// trading state. The deployment's lives on the account item of
/// [`DEPLOYMENT_PRINCIPAL`] (no cash, never a caller: the API refuses that id), so its
/// changes form an `ACCOUNT#` operator chain anchored like any account's, which
/// `verify-audit` checks with the rest; a trader's lives on their account item. Each
/// change writes its `SET_TRADING_STATE` record in the same transaction and moves the
/// chain's anchor; the orders table's stream carries the change to the bus.
#[async_trait]
pub trait TradingControls: Send + Sync {
    /// The state of `scope` (`active` when never set; `NoAccount` for a trader
    /// without an account).
    async fn trading_state(&self, scope: &TradingScope) -> Result<TradingState, StoreError>;

    /// Sets the state of `scope` by `by`, with an optional reason for the record. An
    /// operation id already applied changes nothing and returns the change it made.
    async fn set_trading_state(
        &self,
        scope: &TradingScope,
        state: TradingState,
        reason: Option<&str>,
        by: &OperatorAction,
    ) -> Result<TradingStateChange, StoreError>;
}

/// The principal whose account item holds the deployment's trading state. `@` never
/// starts an identity provider's subject (Cognito's are UUIDs), and the API refuses it
/// as a caller.
pub const DEPLOYMENT_PRINCIPAL: &str = "@deployment";

/// The trader id of [`DEPLOYMENT_PRINCIPAL`].
pub fn deployment_principal() -> TraderId {
    // A constant made of key-safe characters: parsing cannot fail.
    TraderId::parse(DEPLOYMENT_PRINCIPAL).unwrap_or_else(|_| unreachable!("DEPLOYMENT_PRINCIPAL is a valid trader id"))
}

impl TradingScope {
    /// The account whose item and chain hold this scope's state, `deployment` being
    /// the store's deployment principal.
    pub fn principal(&self, deployment: &TraderId) -> TraderId {
        match self {
            TradingScope::Deployment => deployment.clone(),
            TradingScope::Trader(t) => t.clone(),
        }
    }
}
