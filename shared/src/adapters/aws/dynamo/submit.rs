//! A submit's transaction (the order, its reservation, the guards, the client order id)
//! and the reading of its refusal.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use rust_decimal::Decimal;

use super::controls::admits_state;
use super::{Attempts, Cancelled, DynamoStore, Expr, build_error, put_new, update_item};
use crate::adapters::aws::items;
use crate::adapters::aws::items::*;
use crate::domain::{
    ClientOrderId, NotionalWindow, OrderId, OrderStatus, Reservation, TraderId, TradingScope, TradingState,
};
use crate::ports::{DuplicateGuard, NewOrder, StoreError};

impl DynamoStore {
    /// `OrderStore::create_order`.
    pub(super) async fn commit_new_order(&self, new: NewOrder) -> Result<(), StoreError> {
        let trader = &new.order.trader_id;
        let mut items = vec![
            put_new(&self.orders_table, order_to_item(&new.order))?,
            put_new(&self.audit_table, audit_to_item(&new.audit))?,
        ];
        let idempotency_at = new.idempotency.as_ref().map(|_| items.len());
        if let Some(r) = &new.idempotency {
            items.push(self.put_idempotency(r)?);
        }
        // The client order id: its item names the trader's latest order with it, and is
        // taken only from no order or from one that has ended (a ConditionCheck on that
        // order in this transaction), so no two open orders share it, and nothing has to
        // release it when an order ends.
        let mut client_at = Vec::new();
        let mut holder = None;
        if let Some(cid) = &new.order.client_order_id {
            holder = self.client_order_holder(trader, cid).await?;
            client_at.push(items.len());
            items.push(self.take_client_order_id(trader, cid, &new.order.order_id, holder)?);
            if let Some(previous) = &holder {
                client_at.push(items.len());
                items.push(self.order_ended_check(trader, previous)?);
            }
        }
        // Duplicate detection: the fingerprint's item, taken only when it is absent or
        // its window has passed (unless the order is confirmed, which takes it anyway).
        let duplicate_at = new.duplicate.as_ref().map(|_| items.len());
        if let Some(d) = &new.duplicate {
            items.push(self.take_fingerprint(&new, d)?);
        }
        // The rolling-minute notional, written over the version it was read at.
        let notional_at = new.notional_window.as_ref().map(|_| items.len());
        if let Some(w) = &new.notional_window {
            items.push(self.put_notional_window(trader, w)?);
        }
        let account_at = items.len();

        // The account: open-order count and the guards, plus the cash reservation.
        let mut e = Expr::default();
        let (pk, oo, pnl, day) = (
            e.name(PK),
            e.name("open_orders"),
            e.name("realized_pnl"),
            e.name("pnl_day"),
        );
        let one = e.value(n(1));
        let max_open = e.value(n(new.guards.max_open_orders));
        let today = e.value(s(new.guards.today.to_string()));
        let neg_limit = e.value(n(-new.guards.daily_loss_limit));
        let mut sets = vec![format!("{oo} = {oo} + {one}")];
        let admits = admits_state(&mut e, new.guards.side);
        let mut condition = format!(
            "attribute_exists({pk}) AND {admits} AND {oo} < {max_open} AND (attribute_not_exists({day}) OR {day} <> {today} OR {pnl} > {neg_limit})"
        );
        if new.guards.daily_loss_limit <= Decimal::ZERO {
            // A limit of zero is reached before any loss (as in `risk::assess`); no
            // account item can pass this, and the refusal is explained from the item.
            condition.push_str(&format!(" AND attribute_not_exists({pk})"));
        }
        if let Reservation::Cash(amount) = &new.reservation {
            let (res, av) = (e.name("reserved"), e.name("available"));
            let amt = e.value(n(amount));
            sets.push(format!("{res} = {res} + {amt}, {av} = {av} - {amt}"));
            condition.push_str(&format!(" AND {av} >= {amt}"));
        }
        let account_key = key(trader_pk(trader), ACCOUNT_SK.into());
        items.push(update_item(e.update(
            &self.orders_table,
            account_key,
            format!("SET {}", sets.join(", ")),
            Some(condition),
        )?));

        if let Reservation::Position { symbol, quantity } = &new.reservation {
            let mut e = Expr::default();
            let (pk, res, av) = (e.name(PK), e.name("reserved"), e.name("available"));
            let q = e.value(n(quantity));
            let update = format!("SET {res} = {res} + {q}, {av} = {av} - {q}");
            let condition = format!("attribute_exists({pk}) AND {av} >= {q}");
            items.push(update_item(e.update(
                &self.orders_table,
                key(trader_pk(trader), position_sk(symbol)),
                update,
                Some(condition),
            )?));
        }

        // The deployment's trading state, on the copy this trader's submits check: a
        // halt committed before this transaction refuses it.
        let deployment_at = items.len();
        items.push(self.deployment_state_check(trader, new.guards.side)?);

        match self.transact(items, Attempts::Once).await {
            Ok(()) => Ok(()),
            Err(Ok(Cancelled::Conditions(failed))) => {
                let mut refusal = None;
                // Same precedence as the in-memory store: ids, idempotency key, client order
                // id, duplicate fingerprint, notional window, deployment state, account, position.
                let mut failed = failed;
                failed.sort_by_key(|(i, _)| match *i {
                    0 | 1 => 0,
                    i if Some(i) == idempotency_at => 1,
                    i if client_at.contains(&i) => 2,
                    i if Some(i) == duplicate_at => 3,
                    i if Some(i) == notional_at => 4,
                    i if i == deployment_at => 5,
                    i if i == account_at => 6,
                    _ => 7,
                });
                for (i, old) in &failed {
                    let e = match *i {
                        0 | 1 => StoreError::AlreadyExists,
                        i if Some(i) == idempotency_at => StoreError::IdempotencyKeyTaken,
                        i if client_at.contains(&i) => {
                            // The id's item names its open order (a submit that raced this
                            // one), or the order checked is still open.
                            let named = old.as_ref().filter(|_| i == client_at[0]).map(client_order_from_item);
                            match (named, holder) {
                                (Some(Ok(order_id)), _) | (_, Some(order_id)) => {
                                    StoreError::ClientOrderIdTaken { order_id }
                                }
                                (Some(Err(e)), None) => e,
                                (None, None) => StoreError::Conflict,
                            }
                        }
                        i if Some(i) == duplicate_at => match old.as_ref().map(duplicate_from_item) {
                            Some(Ok((order_id, placed_at))) => StoreError::DuplicateOrder { order_id, placed_at },
                            Some(Err(e)) => e,
                            None => StoreError::Conflict,
                        },
                        i if Some(i) == notional_at => StoreError::NotionalWindowMoved,
                        i if i == deployment_at => StoreError::TradingRestricted {
                            scope: TradingScope::Deployment,
                            state: old.as_ref().map_or(Ok(TradingState::Halted), trading_state_from_item)?,
                        },
                        i if i == account_at => explain_account_refusal(old.as_ref(), &new),
                        _ => StoreError::InsufficientPosition,
                    };
                    refusal.get_or_insert(e);
                }
                Err(refusal.unwrap_or(StoreError::Conflict))
            }
            // Only a transaction conflict is `Conflict`, which submit retries with the
            // same items; throttling and the like are `Unavailable` (503).
            Err(Ok(other)) => Err(other.into_error()),
            Err(Err(e)) => Err(e),
        }
    }
}

/// Decides which submit condition failed, from the old account item DynamoDB returned.
fn explain_account_refusal(old: Option<&Item>, new: &NewOrder) -> StoreError {
    let Some(item) = old else { return StoreError::NoAccount };
    let account = match account_from_items(std::slice::from_ref(item)) {
        Ok(Some(a)) => a,
        Ok(None) => return StoreError::NoAccount,
        Err(e) => return e,
    };
    if !account.trading_state.admits(new.guards.side) {
        StoreError::TradingRestricted {
            scope: TradingScope::Trader(account.trader_id),
            state: account.trading_state,
        }
    } else if account.losses_on(new.guards.today) >= new.guards.daily_loss_limit {
        StoreError::DailyLossLimit
    } else if account.open_orders >= new.guards.max_open_orders {
        StoreError::OpenOrderLimit
    } else {
        StoreError::InsufficientFunds
    }
}

impl DynamoStore {
    /// The order the client order id's item names, if the id was ever used.
    pub(super) async fn client_order_holder(
        &self,
        trader: &TraderId,
        cid: &ClientOrderId,
    ) -> Result<Option<OrderId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(trader), client_order_sk(cid))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(client_order_from_item).transpose()
    }

    /// Points the client order id's item at `order`, if it still names `holder` (none:
    /// the id was never used).
    fn take_client_order_id(
        &self,
        trader: &TraderId,
        cid: &ClientOrderId,
        order: &OrderId,
        holder: Option<OrderId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let condition = match holder {
            None => format!("attribute_not_exists({})", e.name(PK)),
            Some(h) => format!("{} = {}", e.name("order_id"), e.value(s(h.to_string()))),
        };
        let put = Put::builder()
            .table_name(&self.orders_table)
            .set_item(Some(client_order_to_item(trader, cid, order)))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values).filter(|m| !m.is_empty()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The order's fingerprint item: conditional on no live one unless confirmed.
    fn take_fingerprint(&self, new: &NewOrder, d: &DuplicateGuard) -> Result<TransactWriteItem, StoreError> {
        let o = &new.order;
        let item = duplicate_to_item(&o.trader_id, &d.fingerprint, &o.order_id, o.created_at, d.window_secs);
        let mut put = Put::builder().table_name(&self.orders_table).set_item(Some(item));
        if !d.confirmed {
            let mut e = Expr::default();
            let condition = format!(
                "attribute_not_exists({}) OR {} <= {}",
                e.name(PK),
                e.name("until_ms"),
                e.value(n(o.created_at.unix_millis()))
            );
            put = put
                .condition_expression(condition)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    /// The trader's notional window, if it is still at the version it was read at.
    fn put_notional_window(&self, trader: &TraderId, w: &NotionalWindow) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let condition = match w.version {
            0 => format!("attribute_not_exists({})", e.name(PK)),
            v => format!("{} = {}", e.name("ver"), e.value(n(v))),
        };
        let put = Put::builder()
            .table_name(&self.orders_table)
            .set_item(Some(notional_to_item(trader, w)))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values).filter(|m| !m.is_empty()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The order has ended (a terminal status), or is gone.
    fn order_ended_check(&self, trader: &TraderId, order: &OrderId) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let (pk, st) = (e.name(PK), e.name("status"));
        let ended: Vec<String> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .map(|s| e.value(items::s(s.as_str())))
            .collect();
        let check = ConditionCheck::builder()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(trader), order_sk(order))))
            .condition_expression(format!("attribute_not_exists({pk}) OR {st} IN ({})", ended.join(", ")))
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}
