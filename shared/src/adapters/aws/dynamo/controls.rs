//! The operators' trading controls (`TradingControls`, issue 19).
//!
//! The trading state lives on the account item of the trader (or of the deployment
//! principal, with its DEPLOYMENT_STATE_SHARDS copies that submits check); each change
//! is one transaction with its SET_TRADING_STATE record on the account's operator chain.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::{DynamoStore, Expr, build_error, put_new, update_item};
use crate::adapters::aws::items::*;
use crate::domain::{
    AccountAnchor, SET_TRADING_STATE, Side, TraderId, TradingScope, TradingState, trading_state_snapshots,
};
use crate::ports::{AccountAdmin, OperatorAction, StoreError, TradingControls, TradingStateChange};

/// `(attribute_not_exists(trading_state) OR trading_state IN (...))`: the stored
/// trading state admits an order of `side` (absent: `active`).
pub(super) fn admits_state(e: &mut Expr, side: Side) -> String {
    let ts = e.name(TRADING_STATE);
    let states: Vec<String> = TradingState::admitting(side)
        .iter()
        .map(|st| e.value(s(st.as_str())))
        .collect();
    format!("(attribute_not_exists({ts}) OR {ts} IN ({}))", states.join(", "))
}

impl DynamoStore {
    /// The submit's check of the deployment's trading state, on the copy `trader`'s
    /// submits read: absent (never set) or a state that admits `side`.
    pub(super) fn deployment_state_check(
        &self,
        trader: &TraderId,
        side: Side,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let pk = e.name(PK);
        let admits = admits_state(&mut e, side);
        let check = ConditionCheck::builder()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(&self.deployment), deployment_state_sk(trader))))
            .condition_expression(format!("attribute_not_exists({pk}) OR {admits}"))
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The change `by` made, from its record on the chain of `scope`'s principal.
    async fn recorded_change(
        &self,
        scope: &TradingScope,
        by: &OperatorAction,
    ) -> Result<TradingStateChange, StoreError> {
        let records = self.account_records(&scope.principal(&self.deployment)).await?;
        let record = records
            .iter()
            .find(|r| r.operation_id == by.operation_id)
            .ok_or_else(|| StoreError::Corrupt(format!("operation {} has no record", by.operation_id)))?;
        if record.action != SET_TRADING_STATE {
            return Err(StoreError::Corrupt(format!(
                "operation {} was a {}, not a {SET_TRADING_STATE}",
                by.operation_id, record.action
            )));
        }
        let state = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(|v| v.get(TRADING_STATE))
                .and_then(|s| s.as_str())
                .and_then(TradingState::parse)
                .ok_or_else(|| StoreError::Corrupt(format!("record {} lacks a trading state", record.sequence)))
        };
        Ok(TradingStateChange {
            scope: scope.clone(),
            before: state(&record.before)?,
            after: state(&record.after)?,
            sequence: record.sequence,
        })
    }
}

#[async_trait]
impl TradingControls for DynamoStore {
    async fn trading_state(&self, scope: &TradingScope) -> Result<TradingState, StoreError> {
        let items = self
            .query_prefix(
                &self.orders_table,
                trader_pk(&scope.principal(&self.deployment)),
                ACCOUNT_SK,
            )
            .await?;
        let account = items
            .iter()
            .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK));
        match (account, scope) {
            (Some(item), _) => trading_state_from_item(item),
            (None, TradingScope::Deployment) => Ok(TradingState::Active),
            (None, TradingScope::Trader(_)) => Err(StoreError::NoAccount),
        }
    }

    async fn set_trading_state(
        &self,
        scope: &TradingScope,
        state: TradingState,
        reason: Option<&str>,
        by: &OperatorAction,
    ) -> Result<TradingStateChange, StoreError> {
        let principal = scope.principal(&self.deployment);
        self.operator_change(&principal, by, || async {
            let items = self
                .query_prefix(&self.orders_table, trader_pk(&principal), ACCOUNT_SK)
                .await?;
            let anchor = account_anchor_from_items(&items)?;
            let item = items
                .iter()
                .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK));
            let (before, anchor) = match (item, anchor, scope) {
                (Some(i), Some(a), _) => (trading_state_from_item(i)?, a),
                (_, _, TradingScope::Trader(_)) => return Ok(None),
                (_, _, TradingScope::Deployment) => (TradingState::Active, AccountAnchor::genesis()),
            };
            let mut e = Expr::default();
            let snapshots = trading_state_snapshots(before, state, reason);
            let (record, anchor_set, anchor_condition) =
                Self::next_record(&mut e, &principal, &anchor, by, SET_TRADING_STATE, snapshots);
            let (ts, st) = (e.name(TRADING_STATE), e.value(s(state.as_str())));
            let mut sets = vec![format!("{ts} = {st}"), anchor_set];
            // The state must still be what the record says it was.
            let (pk, was) = (e.name(PK), e.value(s(before.as_str())));
            let mut condition = format!(
                "{anchor_condition} AND (attribute_not_exists({ts}) OR {ts} = {was}) AND attribute_exists({pk})"
            );
            if item.is_none() {
                // The deployment principal's first change creates its item: an account
                // with nothing in it, so that every reader of account items can read it.
                let zero = e.value(n(0));
                let t = e.value(s(principal.as_str()));
                sets.push(format!("{} = {t}", e.name("trader_id")));
                for attr in ["cash", "available", "reserved", "open_orders", "realized_pnl"] {
                    sets.push(format!("{} = {zero}", e.name(attr)));
                }
                let l = crate::domain::RiskLimits {
                    max_order_notional: rust_decimal::Decimal::ZERO,
                    max_open_orders: 0,
                    daily_loss_limit: rust_decimal::Decimal::ZERO,
                    orders_per_minute: 0,
                    duplicate_window_secs: 0,
                    restricted_symbols: Vec::new(),
                    max_notional_per_minute: rust_decimal::Decimal::ZERO,
                };
                for (attr, value) in [
                    ("max_order_notional", n(l.max_order_notional)),
                    ("max_open_orders", n(l.max_open_orders)),
                    ("daily_loss_limit", n(l.daily_loss_limit)),
                    ("orders_per_minute", n(l.orders_per_minute)),
                    ("duplicate_window_secs", n(l.duplicate_window_secs)),
                ] {
                    let v = e.value(value);
                    sets.push(format!("{} = {v}", e.name(attr)));
                }
                condition = format!("attribute_not_exists({pk})");
            }
            let update = e.update(
                &self.orders_table,
                key(trader_pk(&principal), ACCOUNT_SK.into()),
                format!("SET {}", sets.join(", ")),
                Some(condition),
            )?;
            let mut writes = vec![
                update_item(update),
                put_new(&self.audit_table, account_audit_to_item(&record))?,
            ];
            if *scope == TradingScope::Deployment {
                for shard in 0..DEPLOYMENT_STATE_SHARDS {
                    let mut e = Expr::default();
                    let (ts, st) = (e.name(TRADING_STATE), e.value(s(state.as_str())));
                    writes.push(update_item(e.update(
                        &self.orders_table,
                        key(trader_pk(&principal), trading_shard_sk(shard)),
                        format!("SET {ts} = {st}"),
                        None,
                    )?));
                }
            }
            Ok(Some(writes))
        })
        .await?;
        self.recorded_change(scope, by).await
    }
}
