//! `OrderStore` on DynamoDB: the trait's one impl (submits, transitions, idempotency and
//! the rate live in their own files), order reads and lists.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;

use super::DynamoStore;
use crate::adapters::aws::items::*;
use crate::adapters::cash_flag;
use crate::domain::{
    Account, AuditRecord, ClientOrderId, Fill, IdempotencyKey, NotionalWindow, Order, OrderId, OrderStatus, RiskLimits,
    Symbol, Timestamp, TraderId,
};
use crate::ports::{
    AccountAdmin, IdempotencyRecord, MAX_ORDERS_EXAMINED, NewOrder, OperatorAction, OrderFilter, OrderPage, OrderStore,
    RateDecision, StoreError, TransitionWrite,
};

#[async_trait]
impl OrderStore for DynamoStore {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError> {
        account_from_items(
            &self
                .query_prefix(&self.orders_table, trader_pk(trader), ACCOUNT_SK)
                .await?,
        )
    }

    async fn fund_account(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
    ) -> Result<Account, StoreError> {
        self.fund(trader, cash, limits, &OperatorAction::unattributed()).await
    }

    async fn deposit_position(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
    ) -> Result<(), StoreError> {
        self.deposit(trader, symbol, quantity, average_cost, &OperatorAction::unattributed())
            .await
    }

    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError> {
        self.commit_new_order(new).await
    }

    async fn get_order(&self, trader: &TraderId, order: &OrderId) -> Result<Option<Order>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(trader), order_sk(order))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(order_from_item).transpose()
    }

    async fn transition(&self, w: TransitionWrite) -> Result<(), StoreError> {
        let (items, at) = self.transition_items(&w, true)?;
        match self.commit_transition(&w, items, at).await {
            Err(StoreError::Conflict) if w.booking.as_ref().is_some_and(|b| b.cash < Decimal::ZERO) => {
                // The fill's cash guard may be what failed: booked as the venue did it
                // all the same, and flagged (`adapters::cash_flag`).
                let cash = self.account_cash(&w.before.trader_id).await?;
                match cash {
                    Some(cash) if cash_flag::takes_cash_below_zero(&w, cash) => {
                        let (items, at) = self.transition_items(&w, false)?;
                        self.commit_transition(&w, items, at).await?;
                        cash_flag::flag_cash_below_zero(&w, cash);
                        Ok(())
                    }
                    _ => Err(StoreError::Conflict),
                }
            }
            other => other,
        }
    }

    async fn request_replace(&self, w: TransitionWrite) -> Result<(), StoreError> {
        // Checked against the deployment's trading state as a submit is: a halt
        // committed before the replace refuses it.
        let (mut items, mut at) = self.transition_items(&w, true)?;
        at.deployment = Some(items.len());
        items.push(self.deployment_state_check(&w.before.trader_id, w.before.side)?);
        self.commit_transition(&w, items, at).await
    }

    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let filter = OrderFilter {
            status,
            ..OrderFilter::default()
        };
        self.filter_orders(trader, &filter, limit, after).await
    }

    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let limit = limit.max(1) as usize;
        // Only the status is in a key (GSI1); the other filters are applied to the items
        // read, which costs the same read units as a FilterExpression would.
        let only_status = OrderFilter {
            status: filter.status,
            ascending: filter.ascending,
            ..OrderFilter::default()
        } == *filter;
        let (mut orders, mut read, mut cursor) = (Vec::new(), 0usize, after);
        loop {
            let want = if only_status {
                limit - orders.len()
            } else {
                MAX_ORDERS_EXAMINED - read
            };
            let (items, more) = self.order_query(trader, filter, want, cursor).await?;
            let count = items.len();
            for (i, item) in items.iter().enumerate() {
                let o = order_from_item(item)?;
                read += 1;
                cursor = Some(o.order_id);
                if filter.matches(&o) {
                    orders.push(o);
                }
                let full = orders.len() == limit || read == MAX_ORDERS_EXAMINED;
                if full {
                    let unread = i + 1 < count || more;
                    return Ok(OrderPage {
                        orders,
                        next: if unread { cursor } else { None },
                    });
                }
            }
            if !more {
                return Ok(OrderPage { orders, next: None });
            }
        }
    }
    async fn idempotency(
        &self,
        trader: &TraderId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.live_idempotency(trader, key, now).await
    }

    async fn record_rejection(
        &self,
        audit: AuditRecord,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.commit_rejection(audit, idempotency).await
    }

    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError> {
        self.count_submit(trader, limit, now).await
    }

    async fn notional_window(&self, trader: &TraderId) -> Result<NotionalWindow, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(trader), NOTIONAL_SK.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map_or(Ok(NotionalWindow::default()), notional_from_item)
    }

    async fn account_with_window(
        &self,
        trader: &TraderId,
    ) -> Result<Option<(Account, Option<NotionalWindow>)>, StoreError> {
        let items = self
            .query_prefix(&self.orders_table, trader_pk(trader), ACCOUNT_SK)
            .await?;
        let Some(account) = account_from_items(&items)? else {
            return Ok(None);
        };
        let window = if account.limits.max_notional_per_minute > Decimal::ZERO {
            let stored = items
                .iter()
                .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == NOTIONAL_SK));
            Some(stored.map_or(Ok(NotionalWindow::default()), notional_from_item)?)
        } else {
            None
        };
        Ok(Some((account, window)))
    }

    async fn order_by_client_order_id(
        &self,
        trader: &TraderId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, StoreError> {
        match self.client_order_holder(trader, client_order_id).await? {
            Some(order) => self.get_order(trader, &order).await,
            None => Ok(None),
        }
    }

    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError> {
        let items = self
            .query_prefix(&self.orders_table, trader_pk(trader), &fill_prefix(order))
            .await?;
        items.iter().map(fill_from_item).collect()
    }
}

impl DynamoStore {
    /// One Query of a trader's orders (by status on GSI1 when the filter names one) in
    /// the filter's direction, after `after`: the items and whether more may follow.
    async fn order_query(
        &self,
        trader: &TraderId,
        filter: &OrderFilter,
        limit: usize,
        after: Option<OrderId>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.orders_table)
            .scan_index_forward(filter.ascending)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        q = match filter.status {
            None => q
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(trader_pk(trader)))
                .expression_attribute_values(":prefix", s("ORDER#")),
            Some(st) => q
                .index_name("GSI1")
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "GSI1PK")
                .expression_attribute_values(":pk", s(status_pk(trader, st))),
        };
        if let Some(after) = after {
            let mut start = key(trader_pk(trader), order_sk(&after));
            if let Some(st) = filter.status {
                start.insert("GSI1PK".into(), s(status_pk(trader, st)));
                start.insert("GSI1SK".into(), s(order_sk(&after)));
            }
            q = q.set_exclusive_start_key(Some(start));
        }
        let page = q.send().await.map_err(unavailable)?;
        let more = page.last_evaluated_key().is_some_and(|k| !k.is_empty());
        Ok((page.items.unwrap_or_default(), more))
    }
}
