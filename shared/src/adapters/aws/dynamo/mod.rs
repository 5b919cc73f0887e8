//! `OrderStore`, `AccountAdmin`, `AuditLog` and `TradingControls` on DynamoDB. Every
//! multi-item change is one `TransactWriteItems`; which condition failed is read from
//! the cancellation reasons (by item position), so callers get the same `StoreError` as
//! from the in-memory store.
//!
//! DynamoDB limits that shape this adapter: a transaction takes at most 100 items and
//! one action per item; condition expressions cannot do arithmetic (hence the stored
//! `available`); `status`, `type` and others are reserved words (hence `#names`).
//!
//! One file per aggregate: `orders` (the `OrderStore` impl, reads and lists), `submit`
//! (a new order's transaction, client order ids), `transitions`, `idempotency` (keys and
//! the submit rate), `accounts` (operator changes), `audit`, `controls` (trading state);
//! this file holds the store and the transaction plumbing they share.

use super::items::unavailable;
use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::items::*;
use crate::domain::TraderId;
use crate::ports::StoreError;

mod accounts;
mod attention;
mod audit;
mod controls;
mod idempotency;
mod orders;
mod submit;
mod transitions;

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
