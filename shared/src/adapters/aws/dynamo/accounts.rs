//! Operators' changes to accounts (`AccountAdmin`): each one a transaction with its
//! record on the account's operator chain.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use rust_decimal::Decimal;

use super::{Attempts, DynamoStore, Expr, put_new, update_item};
use crate::adapters::aws::items::*;
use crate::domain::{
    Account, AccountAnchor, AccountAuditRecord, DEPOSIT_POSITION, FUND, Position, RiskLimits, Symbol, Timestamp,
    TraderId, deposit_snapshots, deposited, fund_snapshots,
};
use crate::ports::{AccountAdmin, OperatorAction, OrderStore, StoreError};

/// How often an operator change is tried when the account moved between the read and
/// the write (a fill landing, another operator change).
const OPERATOR_ATTEMPTS: usize = 8;

impl DynamoStore {
    /// The account with its positions, and its chain's anchor: one consistent query.
    async fn account_and_anchor(&self, trader: &TraderId) -> Result<Option<(Account, AccountAnchor)>, StoreError> {
        let items = self
            .query_prefix(&self.orders_table, trader_pk(trader), ACCOUNT_SK)
            .await?;
        Ok(account_from_items(&items)?.zip(account_anchor_from_items(&items)?))
    }

    /// Whether `by`'s operation is already in `trader`'s chain.
    async fn applied(&self, trader: &TraderId, by: &OperatorAction) -> Result<bool, StoreError> {
        Ok(self
            .account_records(trader)
            .await?
            .iter()
            .any(|r| r.operation_id == by.operation_id))
    }

    /// The chain's next record, and the account item's anchor update and condition
    /// for it (written into `e`): the anchor moves only from where it was read.
    pub(super) fn next_record(
        e: &mut Expr,
        trader: &TraderId,
        anchor: &AccountAnchor,
        by: &OperatorAction,
        action: &str,
        (before, after): (Option<serde_json::Value>, Option<serde_json::Value>),
    ) -> (AccountAuditRecord, String, String) {
        let record = AccountAuditRecord::seal(
            trader.clone(),
            anchor.sequence + 1,
            &anchor.head,
            by.actor.clone(),
            action,
            Timestamp::now(),
            before,
            after,
            by.operation_id.clone(),
        );
        let (seq, head) = (e.name(AUDIT_SEQ), e.name(AUDIT_HEAD));
        let (to, hash) = (e.value(n(record.sequence)), e.value(s(record.hash.clone())));
        let set = format!("{seq} = {to}, {head} = {hash}");
        let condition = if anchor.sequence == 0 {
            format!("attribute_not_exists({seq})")
        } else {
            let from = e.value(n(anchor.sequence));
            format!("{seq} = {from}")
        };
        (record, set, condition)
    }

    /// Runs `attempt` (one read and one conditional transaction) until it commits or
    /// finds the operation already applied.
    pub(super) async fn operator_change<F, Fut>(
        &self,
        trader: &TraderId,
        by: &OperatorAction,
        attempt: F,
    ) -> Result<(), StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<TransactWriteItem>>, StoreError>>,
    {
        for _ in 0..OPERATOR_ATTEMPTS {
            // Before every try: an SDK retry of a transaction that had committed, or an
            // operator re-running the same operation, finds its record and stops.
            if self.applied(trader, by).await? {
                return Ok(());
            }
            let Some(items) = attempt().await? else {
                return Err(StoreError::NoAccount);
            };
            match self.transact(items, Attempts::Sdk).await {
                Ok(()) => return Ok(()),
                Err(Ok(_)) => continue,
                Err(Err(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl AccountAdmin for DynamoStore {
    async fn fund(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
        by: &OperatorAction,
    ) -> Result<Account, StoreError> {
        self.operator_change(trader, by, || async {
            let read = self.account_and_anchor(trader).await?;
            let (before, anchor) = match read {
                Some((a, anchor)) => (Some(a), anchor),
                None => (None, AccountAnchor::genesis()),
            };
            let mut after = before
                .clone()
                .unwrap_or_else(|| Account::new(trader.clone(), Decimal::ZERO));
            after.cash += cash;
            if let Some(l) = &limits {
                after.limits = l.clone();
            }
            let mut e = Expr::default();
            let snapshots = fund_snapshots(before.as_ref(), &after);
            let (record, anchor_set, anchor_condition) =
                Self::next_record(&mut e, trader, &anchor, by, FUND, snapshots);
            let zero = e.value(n(0));
            let c = e.value(n(cash));
            let t = e.value(s(trader.as_str()));
            let mut sets = vec![format!("{} = {t}", e.name("trader_id")), anchor_set];
            for attr in ["cash", "available"] {
                let a = e.name(attr);
                sets.push(format!("{a} = if_not_exists({a}, {zero}) + {c}"));
            }
            for attr in ["reserved", "open_orders", "realized_pnl"] {
                let a = e.name(attr);
                sets.push(format!("{a} = if_not_exists({a}, {zero})"));
            }
            let given = limits.is_some();
            let l = limits.clone().unwrap_or_default();
            for (attr, value) in [
                ("max_order_notional", n(l.max_order_notional)),
                ("max_open_orders", n(l.max_open_orders)),
                ("daily_loss_limit", n(l.daily_loss_limit)),
                ("orders_per_minute", n(l.orders_per_minute)),
                ("duplicate_window_secs", n(l.duplicate_window_secs)),
                ("restricted_symbols", s(restricted_list(&l.restricted_symbols))),
                ("max_notional_per_minute", n(l.max_notional_per_minute)),
            ] {
                let a = e.name(attr);
                let v = e.value(value);
                sets.push(if given {
                    format!("{a} = {v}")
                } else {
                    format!("{a} = if_not_exists({a}, {v})")
                });
            }
            // The before and after recorded are exact: the write holds only if the
            // cash is still what was read (a fill in between: read again).
            let condition = match &before {
                None => format!("attribute_not_exists({})", e.name(PK)),
                Some(a) => {
                    let (cash_attr, c0) = (e.name("cash"), e.value(n(a.cash)));
                    format!("{cash_attr} = {c0} AND {anchor_condition}")
                }
            };
            let update = e.update(
                &self.orders_table,
                key(trader_pk(trader), ACCOUNT_SK.into()),
                format!("SET {}", sets.join(", ")),
                Some(condition),
            )?;
            Ok(Some(vec![
                update_item(update),
                put_new(&self.audit_table, account_audit_to_item(&record))?,
            ]))
        })
        .await?;
        self.get_account(trader).await?.ok_or(StoreError::NoAccount)
    }

    async fn deposit(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
        by: &OperatorAction,
    ) -> Result<(), StoreError> {
        self.operator_change(trader, by, || async {
            let Some((account, anchor)) = self.account_and_anchor(trader).await? else {
                return Ok(None);
            };
            let before = account
                .position(symbol)
                .cloned()
                .unwrap_or_else(|| Position::empty(symbol.clone()));
            let after = deposited(&before, quantity, average_cost);
            let mut e = Expr::default();
            let snapshots = deposit_snapshots(&before, &after);
            let (record, anchor_set, anchor_condition) =
                Self::next_record(&mut e, trader, &anchor, by, DEPOSIT_POSITION, snapshots);
            let pk = e.name(PK);
            let account_update = e.update(
                &self.orders_table,
                key(trader_pk(trader), ACCOUNT_SK.into()),
                format!("SET {anchor_set}"),
                Some(format!("attribute_exists({pk}) AND {anchor_condition}")),
            )?;

            // The position at the version read: quantity and average cost as computed,
            // `available` moved by the deposit (reservations move it on their own).
            let mut e = Expr::default();
            let zero = e.value(n(0));
            let (sy, qa, ac, av, re, ve) = (
                e.name("symbol"),
                e.name("quantity"),
                e.name("average_cost"),
                e.name("available"),
                e.name("reserved"),
                e.name("version"),
            );
            let (sym, q1, a1, dq, v1) = (
                e.value(s(symbol.as_str())),
                e.value(n(after.quantity)),
                e.value(n(after.average_cost)),
                e.value(n(quantity)),
                e.value(n(after.version)),
            );
            let update = format!(
                "SET {sy} = {sym}, {qa} = {q1}, {ac} = {a1}, {av} = if_not_exists({av}, {zero}) + {dq}, \
                 {re} = if_not_exists({re}, {zero}), {ve} = {v1}"
            );
            let condition = if before.version == 0 {
                format!("attribute_not_exists({}) OR {ve} = {zero}", e.name(PK))
            } else {
                let v0 = e.value(n(before.version));
                format!("{ve} = {v0}")
            };
            let position_update = e.update(
                &self.orders_table,
                key(trader_pk(trader), position_sk(symbol)),
                update,
                Some(condition),
            )?;
            Ok(Some(vec![
                update_item(account_update),
                update_item(position_update),
                put_new(&self.audit_table, account_audit_to_item(&record))?,
            ]))
        })
        .await
    }

    async fn account_records(&self, trader: &TraderId) -> Result<Vec<AccountAuditRecord>, StoreError> {
        self.query_prefix(&self.audit_table, account_audit_pk(trader), "")
            .await?
            .iter()
            .map(account_audit_from_item)
            .collect()
    }

    async fn account_anchor(&self, trader: &TraderId) -> Result<Option<AccountAnchor>, StoreError> {
        account_anchor_from_items(
            &self
                .query_prefix(&self.orders_table, trader_pk(trader), ACCOUNT_SK)
                .await?,
        )
    }
}
