//! Operators' changes to accounts (`AccountAdmin`) and who makes them (`OperatorAction`).

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::StoreError;
use crate::domain::{Account, AccountAnchor, AccountAuditRecord, RiskLimits, Symbol, TraderId};

/// Who makes an operator change and the change's id. The id makes it idempotent: a
/// store applies one operation id once (an SDK retry of a write that committed, or
/// an operator re-running a command with the same id, changes nothing more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorAction {
    /// `operator:<name>`.
    pub actor: String,
    pub operation_id: String,
}

impl OperatorAction {
    /// A new operation by operator `name`.
    pub fn new(name: &str) -> Self {
        Self::with_id(name, ulid::Ulid::new().to_string())
    }

    pub fn with_id(name: &str, operation_id: impl Into<String>) -> Self {
        Self {
            actor: format!("operator:{name}"),
            operation_id: operation_id.into(),
        }
    }

    /// What `OrderStore::fund_account` / `deposit_position` record.
    pub fn unattributed() -> Self {
        Self::new("unattributed")
    }
}

/// Operators' changes to accounts (SPEC §8): each one writes an
/// `AccountAuditRecord` to the account's chain in the same transaction as the
/// change, and moves the chain's anchor on the account item.
#[async_trait]
pub trait AccountAdmin: Send + Sync {
    /// `OrderStore::fund_account`, recorded as a FUND by `by`; an operation id already
    /// applied returns the account unchanged.
    async fn fund(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
        by: &OperatorAction,
    ) -> Result<Account, StoreError>;

    /// `OrderStore::deposit_position`, recorded as a DEPOSIT_POSITION by `by`.
    async fn deposit(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
        by: &OperatorAction,
    ) -> Result<(), StoreError>;

    /// The account's operator chain, in sequence order.
    async fn account_records(&self, trader: &TraderId) -> Result<Vec<AccountAuditRecord>, StoreError>;

    /// The chain's anchor as the account item keeps it; `None` without an account.
    async fn account_anchor(&self, trader: &TraderId) -> Result<Option<AccountAnchor>, StoreError>;
}
