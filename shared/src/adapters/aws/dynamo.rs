// Long because: one adapter for every aggregate of the orders table; the split per aggregate (issue 21 item 3) is
// under way separately.
//! `OrderStore` and `AuditLog` on DynamoDB. Every multi-item change is one
//! `TransactWriteItems`; which condition failed is read from the cancellation
//! reasons (by item position), so callers get the same `StoreError` as from the
//! in-memory store.
//!
//! DynamoDB limits that shape this file: a transaction takes at most 100 items and
//! one action per item; condition expressions cannot do arithmetic (hence the stored
//! `available`); `status`, `type` and others are reserved words (hence `#names`).

use super::items::unavailable;
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use rust_decimal::Decimal;

use super::items;
use super::items::*;
use crate::domain::{
    Account, AccountAnchor, AccountAuditRecord, AuditRecord, ClientOrderId, DEPOSIT_POSITION, FUND, Fill,
    IdempotencyKey, Order, OrderId, OrderStatus, Position, Reservation, RiskLimits, SET_TRADING_STATE, Side, Symbol,
    Timestamp, TraderId, TradingScope, TradingState, deposit_snapshots, deposited, fund_snapshots,
    trading_state_snapshots,
};
use crate::ports::{
    AccountAdmin, AuditLog, IdempotencyRecord, MAX_ORDERS_EXAMINED, NewOrder, OperatorAction, OrderFilter, OrderPage,
    OrderStore, RateDecision, StoreError, TradingControls, TradingStateChange, TransitionWrite, rate_window,
};

const SERVICE: &str = "DynamoDB";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    orders_table: String,
    audit_table: String,
    /// Whose account item holds the deployment's trading state
    /// (`ports::DEPLOYMENT_PRINCIPAL`; tests sharing tables use one of their own).
    deployment: TraderId,
}

impl DynamoStore {
    pub fn new(client: Client, orders_table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            client,
            orders_table: orders_table.into(),
            audit_table: audit_table.into(),
            deployment: crate::ports::deployment_principal(),
        }
    }

    /// The same store with the deployment's trading state on `principal`'s item: for
    /// tests that share the tables with others and must not halt them.
    pub fn with_deployment_principal(mut self, principal: TraderId) -> Self {
        self.deployment = principal;
        self
    }
}

/// `Ok(true)` when a conditional UpdateItem applied, `Ok(false)` when its condition
/// did not hold, `Unavailable` otherwise.
fn update_applied<O, R>(result: Result<O, SdkError<UpdateItemError, R>>) -> Result<bool, StoreError>
where
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(e)),
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        detail: format!("request could not be built: {e}"),
    }
}

/// Expression attribute names and values, collected while writing an expression.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// `#name` placeholder for an attribute.
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    /// `:v<n>` placeholder for a value.
    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn update(self, table: &str, key: Item, update: String, condition: Option<String>) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(self.names).filter(|m| !m.is_empty()))
            .set_expression_attribute_values(Some(self.values).filter(|m| !m.is_empty()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)
    }
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// `(attribute_not_exists(trading_state) OR trading_state IN (...))`: the stored
/// trading state admits an order of `side` (absent: `active`).
fn admits_state(e: &mut Expr, side: Side) -> String {
    let ts = e.name(TRADING_STATE);
    let states: Vec<String> = TradingState::admitting(side)
        .iter()
        .map(|st| e.value(s(st.as_str())))
        .collect();
    format!("(attribute_not_exists({ts}) OR {ts} IN ({}))", states.join(", "))
}

fn update_item(u: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(u).build()
}

/// Index of the first item whose condition failed, and that reason; `None` when the
/// transaction was cancelled for another cause (conflict, throttling).
fn failed_condition(reasons: &[CancellationReason]) -> Option<(usize, &CancellationReason)> {
    reasons
        .iter()
        .enumerate()
        .find(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
}

enum Cancelled {
    /// Conditions failed: (item index, old item if it existed) for each failed item.
    Conditions(Vec<(usize, Option<Item>)>),
    /// No condition failed, but an item was in a concurrent transaction
    /// (`TransactionConflict`): nothing was written and the same write may be tried
    /// again (AWS documents it as retryable); the caller's read may be stale too.
    Conflict,
    /// Cancelled for another reason (throttling, capacity, validation); the codes.
    Other(String),
}

/// The cancellation reason DynamoDB gives an item that another transaction holds.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

impl Cancelled {
    /// `Conflict` (retryable by the caller) for a transaction conflict, and
    /// `Unavailable` naming the codes for any other cancellation.
    fn into_error(self) -> StoreError {
        match self {
            Self::Conditions(_) | Self::Conflict => StoreError::Conflict,
            Self::Other(codes) => StoreError::Unavailable {
                service: SERVICE,
                detail: format!("transaction cancelled: {codes}"),
            },
        }
    }
}

/// How many times the SDK may send one transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempts {
    /// The SDK's retries (timeouts, throttling): a retried write that had already
    /// committed fails its own conditions, which the caller reads as `Conflict` /
    /// `AlreadyExists` and re-reads (execute's transitions).
    Sdk,
    /// One attempt. A submit's write whose attempt timed out may still commit (the
    /// request was sent); a retry by the SDK would then refuse it on its own order
    /// id and turn a success into an error. Without the retry the caller gets 503
    /// and retries with its Idempotency-Key, which replays the committed outcome.
    Once,
}

/// The whole-operation timeout the client was built with (`super::timeout_config`).
fn operation_timeout(sdk: &Client) -> Option<std::time::Duration> {
    sdk.config().timeout_config().and_then(|t| t.operation_timeout())
}

impl DynamoStore {
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        attempts: Attempts,
    ) -> Result<(), Result<Cancelled, StoreError>> {
        let mut call = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .customize();
        if attempts == Attempts::Once {
            let mut once = aws_sdk_dynamodb::Config::builder().retry_config(aws_config::retry::RetryConfig::disabled());
            // The one attempt may take the whole operation's time.
            if let Some(whole) = operation_timeout(&self.client) {
                let mut timeouts = aws_config::timeout::TimeoutConfig::builder();
                timeouts.set_operation_attempt_timeout(Some(whole));
                once = once.timeout_config(timeouts.build());
            }
            call = call.config_override(once);
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let reasons = c.cancellation_reasons();
                    if failed_condition(reasons).is_none() {
                        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                        tracing::debug!(codes = %codes.join(","), "transaction cancelled without a failed condition");
                        // Items that caused nothing say "None".
                        let causes: Vec<&str> = codes.iter().copied().filter(|c| *c != "None").collect();
                        if !causes.is_empty() && causes.iter().all(|c| *c == TRANSACTION_CONFLICT) {
                            return Err(Ok(Cancelled::Conflict));
                        }
                        return Err(Ok(Cancelled::Other(codes.join(","))));
                    }
                    let failed = reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, r)| (i, r.item().cloned().filter(|m| !m.is_empty())))
                        .collect();
                    Err(Ok(Cancelled::Conditions(failed)))
                }
                other => Err(Err(StoreError::Unavailable {
                    service: SERVICE,
                    detail: DisplayErrorContext(&other).to_string(),
                })),
            },
        }
    }

    /// Puts an idempotency record unless a live one holds the key (an expired record
    /// may still be there: TTL deletes lazily).
    fn put_idempotency(&self, r: &IdempotencyRecord) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.orders_table)
            .set_item(Some(idempotency_to_item(r)))
            .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", n(r.created_at.unix_seconds()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Every item of `table` under `pk` whose sort key starts with `prefix` (all of
    /// the partition when `prefix` is empty), strongly consistent, in key order.
    async fn query_prefix(&self, table: &str, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(table)
            .consistent_read(true)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk));
        q = if prefix.is_empty() {
            q.key_condition_expression("#pk = :pk")
        } else {
            q.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":prefix", s(prefix))
        };
        self.query_all(q).await
    }

    async fn query_all(
        &self,
        mut q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = q.clone().send().await.map_err(unavailable)?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => q = q.set_exclusive_start_key(Some(k.clone())),
                _ => return Ok(out),
            }
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
                // id, deployment state, account, position.
                let mut failed = failed;
                failed.sort_by_key(|(i, _)| match *i {
                    0 | 1 => 0,
                    i if Some(i) == idempotency_at => 1,
                    i if client_at.contains(&i) => 2,
                    i if i == deployment_at => 3,
                    i if i == account_at => 4,
                    _ => 5,
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
        let (items, at) = self.transition_items(&w)?;
        self.commit_transition(&w, items, at).await
    }

    async fn request_replace(&self, w: TransitionWrite) -> Result<(), StoreError> {
        // Checked against the deployment's trading state as a submit is: a halt
        // committed before the replace refuses it.
        let (mut items, mut at) = self.transition_items(&w)?;
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
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(items::key(trader_pk(trader), idempotency_sk(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let record = out.item().map(idempotency_from_item).transpose()?;
        Ok(record.filter(|r| r.is_live(now)))
    }

    async fn record_rejection(
        &self,
        audit: AuditRecord,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let Some(record) = idempotency else {
            return self.append(&audit).await;
        };
        let items = vec![
            put_new(&self.audit_table, audit_to_item(&audit))?,
            self.put_idempotency(&record)?,
        ];
        match self.transact(items, Attempts::Once).await {
            Ok(()) => Ok(()),
            Err(Ok(Cancelled::Conditions(failed))) => Err(match failed.first() {
                Some((0, _)) => StoreError::AlreadyExists,
                _ => StoreError::IdempotencyKeyTaken,
            }),
            Err(Ok(Cancelled::Conflict | Cancelled::Other(_))) => Err(StoreError::Conflict),
            Err(Err(e)) => Err(e),
        }
    }

    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError> {
        let (window, retry_after_secs) = rate_window(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.orders_table)
            .set_key(Some(items::key(trader_pk(trader), rate_sk(window))))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one, #exp = :exp")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            // The counter outlives its minute a little, then TTL removes it.
            .expression_attribute_values(":exp", n(window + 120))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        let counted = result
            .as_ref()
            .ok()
            .and_then(|out| out.attributes())
            .and_then(|a| a.get("count"))
            .and_then(|c| c.as_n().ok())
            .and_then(|c| c.parse::<u32>().ok());
        Ok(if update_applied(result)? {
            RateDecision::Allowed {
                // The count is this submit's place in the minute; had it not come back,
                // say nothing is left rather than promise what may not be there.
                remaining: counted.map_or(0, |c| limit.saturating_sub(c)),
            }
        } else {
            RateDecision::Limited { retry_after_secs }
        })
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

impl DynamoStore {
    /// The order the client order id's item names, if the id was ever used.
    async fn client_order_holder(&self, trader: &TraderId, cid: &ClientOrderId) -> Result<Option<OrderId>, StoreError> {
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
    fn next_record(
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
    async fn operator_change<F, Fut>(
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

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.audit_table)
            .set_item(Some(audit_to_item(record)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn records(&self, order: &OrderId) -> Result<Vec<AuditRecord>, StoreError> {
        self.query_prefix(&self.audit_table, audit_pk(order), "")
            .await?
            .iter()
            .map(audit_from_item)
            .collect()
    }
}

/// Where a transition's conditional items sit in its transaction.
struct TransitionAt {
    fill: Option<usize>,
    account: Option<usize>,
    position: Option<usize>,
    idempotency: Option<usize>,
    deployment: Option<usize>,
}

impl DynamoStore {
    /// The items of a transition's transaction, and where the conditional ones are.
    fn transition_items(&self, w: &TransitionWrite) -> Result<(Vec<TransactWriteItem>, TransitionAt), StoreError> {
        let trader = &w.before.trader_id;
        let mut items = Vec::with_capacity(5);

        // 0: the order, conditional on the status and version it was read at.
        let mut e = Expr::default();
        let mut sets = Vec::new();
        for (attr, value) in order_mutable_attrs(&w.after) {
            let (a, v) = (e.name(&attr), e.value(value));
            sets.push(format!("{a} = {v}"));
        }
        let (g, gv) = (e.name("GSI1PK"), e.value(s(status_pk(trader, w.after.status))));
        sets.push(format!("{g} = {gv}"));
        let (st, ve) = (e.name("status"), e.name("version"));
        let (from, v) = (e.value(s(w.before.status.as_str())), e.value(n(w.before.version)));
        let condition = format!("{st} = {from} AND {ve} = {v}");
        let mut update = format!("SET {}", sets.join(", "));
        let mut removes = Vec::new();
        if w.before.reason.is_some() && w.after.reason.is_none() {
            // A stall's reason ends when execution moves on (`Order::apply`).
            removes.push(e.name("reason"));
        }
        if w.before.pending_replace.is_some() && w.after.pending_replace.is_none() {
            // The venue answered the replace (or the order ended first).
            removes.push(e.name("pending_replace"));
        }
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let order_key = key(trader_pk(trader), order_sk(&w.before.order_id));
        items.push(update_item(e.update(
            &self.orders_table,
            order_key,
            update,
            Some(condition),
        )?));

        // 1: the audit record; 2: the fill, once per execution id.
        items.push(put_new(&self.audit_table, audit_to_item(&w.audit))?);
        let fill_at = w.fill.as_ref().map(|_| items.len());
        if let Some(f) = &w.fill {
            items.push(put_new(&self.orders_table, fill_to_item(trader, f))?);
        }

        // The account: additive changes, and today's P&L for a booked trade.
        let touches_account = !w.effect.is_empty() || w.booking.is_some();
        let account_at = touches_account.then_some(items.len());
        if touches_account {
            let mut e = Expr::default();
            let pk = e.name(PK);
            let cash = w.booking.as_ref().map_or(Decimal::ZERO, |b| b.cash);
            let mut sets = Vec::new();
            for (attr, delta) in [
                ("reserved", w.effect.reserved),
                ("available", cash - w.effect.reserved),
                ("cash", cash),
            ] {
                if !delta.is_zero() {
                    let (a, d) = (e.name(attr), e.value(n(delta)));
                    sets.push(format!("{a} = {a} + {d}"));
                }
            }
            if w.effect.open_orders != 0 {
                let (a, d) = (e.name("open_orders"), e.value(n(w.effect.open_orders)));
                sets.push(format!("{a} = {a} + {d}"));
            }
            let mut condition = format!("attribute_exists({pk})");
            if w.effect.reserved > Decimal::ZERO {
                // A replace holds more: only out of what is available (the use case
                // checked a snapshot; this is the atomic check).
                let (av, need) = (e.name("available"), e.value(n(w.effect.reserved)));
                condition.push_str(&format!(" AND {av} >= {need}"));
            }
            if let Some(b) = &w.booking {
                let (pnl, day) = (e.name("realized_pnl"), e.name("pnl_day"));
                let (delta, d) = (e.value(n(b.pnl.delta)), e.value(s(b.pnl.day.to_string())));
                if b.pnl.same_day() {
                    sets.push(format!("{pnl} = {pnl} + {delta}"));
                    condition.push_str(&format!(" AND {day} = {d}"));
                } else {
                    sets.push(format!("{pnl} = {delta}, {day} = {d}"));
                    match b.pnl.seen_day {
                        Some(seen) => {
                            let sv = e.value(s(seen.to_string()));
                            condition.push_str(&format!(" AND {day} = {sv}"));
                        }
                        None => condition.push_str(&format!(" AND attribute_not_exists({day})")),
                    }
                }
            }
            if sets.is_empty() {
                let (a, zero) = (e.name("open_orders"), e.value(n(0)));
                sets.push(format!("{a} = {a} + {zero}"));
            }
            let account_key = key(trader_pk(trader), ACCOUNT_SK.into());
            items.push(update_item(e.update(
                &self.orders_table,
                account_key,
                format!("SET {}", sets.join(", ")),
                Some(condition),
            )?));
        }

        // The position: reservation release, and the booked trade at the version read.
        let mut position_at = None;
        if !w.effect.position_reserved.is_zero() || w.booking.is_some() {
            let mut e = Expr::default();
            let (res, av) = (e.name("reserved"), e.name("available"));
            let pr = w.effect.position_reserved;
            let (update, condition) = match &w.booking {
                None => {
                    let (d, neg, pk) = (e.value(n(pr)), e.value(n(-pr)), e.name(PK));
                    let mut condition = format!("attribute_exists({pk})");
                    if pr > Decimal::ZERO {
                        // A replace of a sell holds more shares: only what is available.
                        condition.push_str(&format!(" AND {av} >= {d}"));
                    }
                    (format!("SET {res} = {res} + {d}, {av} = {av} + {neg}"), condition)
                }
                Some(b) => {
                    let (qa, ac, ve, sy) = (
                        e.name("quantity"),
                        e.name("average_cost"),
                        e.name("version"),
                        e.name("symbol"),
                    );
                    let (q, c, v, sym) = (
                        e.value(n(b.after.quantity)),
                        e.value(n(b.after.average_cost)),
                        e.value(n(b.after.version)),
                        e.value(s(b.after.symbol.as_str())),
                    );
                    let avail_delta = (b.after.quantity - b.before.quantity) - pr;
                    let base = format!("{qa} = {q}, {ac} = {c}, {ve} = {v}, {sy} = {sym}");
                    if b.before.version == 0 {
                        let (r0, a0, pk) = (e.value(n(pr)), e.value(n(avail_delta)), e.name(PK));
                        (
                            format!("SET {base}, {res} = {r0}, {av} = {a0}"),
                            format!("attribute_not_exists({pk})"),
                        )
                    } else {
                        let (d, ad, old) = (e.value(n(pr)), e.value(n(avail_delta)), e.value(n(b.before.version)));
                        (
                            format!("SET {base}, {res} = {res} + {d}, {av} = {av} + {ad}"),
                            format!("{ve} = {old}"),
                        )
                    }
                }
            };
            let position_key = key(trader_pk(trader), position_sk(&w.before.symbol));
            position_at = Some(items.len());
            items.push(update_item(e.update(
                &self.orders_table,
                position_key,
                update,
                Some(condition),
            )?));
        }
        let idempotency_at = w.idempotency.as_ref().map(|_| items.len());
        if let Some(r) = &w.idempotency {
            items.push(self.put_idempotency(r)?);
        }

        Ok((
            items,
            TransitionAt {
                fill: fill_at,
                account: account_at,
                position: position_at,
                idempotency: idempotency_at,
                deployment: None,
            },
        ))
    }

    /// Commits a transition's items, naming the refusal when a condition failed.
    async fn commit_transition(
        &self,
        w: &TransitionWrite,
        items: Vec<TransactWriteItem>,
        at: TransitionAt,
    ) -> Result<(), StoreError> {
        let TransitionAt {
            fill: fill_at,
            account: account_at,
            position: position_at,
            idempotency: idempotency_at,
            deployment: deployment_at,
        } = at;
        match self.transact(items, Attempts::Sdk).await {
            Ok(()) => Ok(()),
            Err(Ok(Cancelled::Conditions(failed))) => {
                let refusal = failed.iter().map(|(i, old)| match *i {
                    0 => StoreError::Conflict,
                    1 => StoreError::AlreadyExists,
                    i if Some(i) == fill_at => StoreError::AlreadyExists,
                    i if Some(i) == account_at && old.is_none() => StoreError::NoAccount,
                    i if Some(i) == account_at && w.effect.reserved > Decimal::ZERO => StoreError::InsufficientFunds,
                    i if Some(i) == position_at
                        && w.effect.position_reserved > Decimal::ZERO
                        && w.booking.is_none() =>
                    {
                        StoreError::InsufficientPosition
                    }
                    i if Some(i) == idempotency_at => StoreError::IdempotencyKeyTaken,
                    i if Some(i) == deployment_at => StoreError::TradingRestricted {
                        scope: TradingScope::Deployment,
                        state: old
                            .as_ref()
                            .map_or(Ok(TradingState::Halted), trading_state_from_item)
                            .unwrap_or(TradingState::Halted),
                    },
                    _ => StoreError::Conflict,
                });
                // Same precedence as the in-memory store: order, fill, audit, account, position.
                let mut all: Vec<(usize, StoreError)> = failed.iter().map(|(i, _)| *i).zip(refusal).collect();
                all.sort_by_key(|(i, _)| match *i {
                    0 => 0,
                    i if Some(i) == fill_at => 1,
                    1 => 2,
                    i => i + 3,
                });
                Err(all.into_iter().next().map_or(StoreError::Conflict, |(_, e)| e))
            }
            Err(Ok(Cancelled::Conflict | Cancelled::Other(_))) => Err(StoreError::Conflict),
            Err(Err(e)) => Err(e),
        }
    }
}

// ---- trading controls (issue 19) ------------------------------------------------
// The trading state lives on the account item of the trader (or of the deployment
// principal, with its DEPLOYMENT_STATE_SHARDS copies that submits check); each change
// is one transaction with its SET_TRADING_STATE record on the account's operator chain.

impl DynamoStore {
    /// The submit's check of the deployment's trading state, on the copy `trader`'s
    /// submits read: absent (never set) or a state that admits `side`.
    fn deployment_state_check(&self, trader: &TraderId, side: Side) -> Result<TransactWriteItem, StoreError> {
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
                };
                for (attr, value) in [
                    ("max_order_notional", n(l.max_order_notional)),
                    ("max_open_orders", n(l.max_open_orders)),
                    ("daily_loss_limit", n(l.daily_loss_limit)),
                    ("orders_per_minute", n(l.orders_per_minute)),
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
