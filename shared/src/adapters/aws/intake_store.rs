//! `IntakeStore` on DynamoDB, in the orders table:
//!
//! - the feed cursor: `VENUEFEED#<feed>` / `CURSOR`, `position` (JSON) and
//!   `version`, written with `PutItem` conditional on the version read
//!   (`attribute_not_exists(PK)` for the first write), so two passes can never move
//!   it backwards: one conditional write per page of executions;
//! - the order locator: `ORDERREF#<order id>` / `REF` with the trader, put
//!   conditional on being new or naming the same trader: one write per order that
//!   reaches the venue;
//! - venue aliases: `VENUEALIAS#<venue order id>` / `ALIAS` with our order id: one
//!   write per venue order that executes (or is a replacement).
//!
//! - the working index: `WORKING#<shard>` / `<order id>` with the trader (and the
//!   replacement's venue order id once the venue replaced ours; `cancel_done` once
//!   the executor's part of a cancel of it is over, which the outbox reads): one put per
//!   placement attempt, one delete when the sweep finds it ended or when the venue's
//!   rate limit refused the placement (nothing sent); execute reads it (`GetItem`)
//!   before it looks a SUBMITTED order up at the venue. Spread over
//!   `WORKING_SHARDS` partitions by the order id, so puts and deletes of a busy day
//!   never meet one partition's write limit; the sweep reads them all with one
//!   `Query` (a page) per shard.
//!
//! None of these sort keys is `ORDER#…`, so the status event stream skips them.

use super::items::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{Item, PK, SK, key, n, s};
use crate::domain::{OrderId, TraderId};
use crate::ports::{FeedPosition, IntakeStore, StoreError, StoredCursor, WorkingOrder};

#[derive(Clone, Debug)]
pub struct DynamoIntakeStore {
    client: Client,
    orders_table: String,
}

impl DynamoIntakeStore {
    pub fn new(client: Client, orders_table: impl Into<String>) -> Self {
        Self {
            client,
            orders_table: orders_table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(pk, sk.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item().cloned())
    }
}

pub fn cursor_pk(feed: &str) -> String {
    format!("VENUEFEED#{feed}")
}
pub fn order_ref_pk(order: &OrderId) -> String {
    format!("ORDERREF#{order}")
}
pub fn alias_pk(venue_order_id: &str) -> String {
    format!("VENUEALIAS#{venue_order_id}")
}

/// Partitions of the working index.
pub const WORKING_SHARDS: u32 = 4;

/// The working index partition of `order`.
pub fn working_pk(order: &OrderId) -> String {
    let shard = order.to_string().bytes().map(u32::from).sum::<u32>() % WORKING_SHARDS;
    format!("WORKING#{shard}")
}

fn conditional_failed<R>(e: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_conditional_check_failed_exception())
}

/// The working index entry's mark of a cancel the venue accepted.
const CANCEL_DONE: &str = "cancel_done";

fn marked_cancel_done(item: &Item) -> bool {
    matches!(item.get(CANCEL_DONE), Some(AttributeValue::Bool(true)))
}

fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is missing or malformed"
        ))),
    }
}

#[async_trait]
impl IntakeStore for DynamoIntakeStore {
    async fn feed_cursor(&self, feed: &str) -> Result<Option<StoredCursor>, StoreError> {
        let Some(item) = self.get(cursor_pk(feed), "CURSOR").await? else {
            return Ok(None);
        };
        let position: FeedPosition = serde_json::from_str(&string(&item, "position")?)
            .map_err(|e| StoreError::Corrupt(format!("feed cursor position: {e}")))?;
        let version = match item.get("version") {
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map_err(|_| StoreError::Corrupt("feed cursor version".into()))?,
            _ => return Err(StoreError::Corrupt("feed cursor version is missing".into())),
        };
        Ok(Some(StoredCursor { position, version }))
    }

    async fn advance_feed_cursor(&self, feed: &str, expected: u64, to: &FeedPosition) -> Result<(), StoreError> {
        let position = serde_json::to_string(to).map_err(|e| StoreError::Corrupt(format!("feed cursor: {e}")))?;
        let mut item = key(cursor_pk(feed), "CURSOR".to_owned());
        item.insert("position".into(), s(position));
        item.insert("version".into(), n(expected + 1));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.orders_table)
            .set_item(Some(item));
        put = if expected == 0 {
            put.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(expected))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_order_ref(&self, order: &OrderId, trader: &TraderId) -> Result<(), StoreError> {
        let mut item = key(order_ref_pk(order), "REF".to_owned());
        item.insert("trader_id".into(), s(trader.to_string()));
        let result = self
            .client
            .put_item()
            .table_name(&self.orders_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #t = :t")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#t", "trader_id")
            .expression_attribute_values(":t", s(trader.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn order_trader(&self, order: &OrderId) -> Result<Option<TraderId>, StoreError> {
        let Some(item) = self.get(order_ref_pk(order), "REF").await? else {
            return Ok(None);
        };
        let raw = string(&item, "trader_id")?;
        TraderId::parse(&raw)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("order locator of {order}: trader `{raw}`")))
    }

    async fn put_venue_alias(&self, venue_order_id: &str, order: &OrderId) -> Result<(), StoreError> {
        let mut item = key(alias_pk(venue_order_id), "ALIAS".to_owned());
        item.insert("order_id".into(), s(order.to_string()));
        self.client
            .put_item()
            .table_name(&self.orders_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn venue_alias(&self, venue_order_id: &str) -> Result<Option<OrderId>, StoreError> {
        let Some(item) = self.get(alias_pk(venue_order_id), "ALIAS").await? else {
            return Ok(None);
        };
        let raw = string(&item, "order_id")?;
        OrderId::parse(&raw)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("venue alias {venue_order_id}: order `{raw}`")))
    }

    async fn put_working(&self, order: &WorkingOrder) -> Result<(), StoreError> {
        let mut item = key(working_pk(&order.order_id), order.order_id.to_string());
        item.insert("trader_id".into(), s(order.trader_id.to_string()));
        if let Some(venue) = &order.venue_order_id {
            item.insert("venue_order_id".into(), s(venue.clone()));
        }
        if order.cancel_done {
            item.insert(CANCEL_DONE.into(), AttributeValue::Bool(true));
        }
        self.client
            .put_item()
            .table_name(&self.orders_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn working_orders(&self) -> Result<Vec<WorkingOrder>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..WORKING_SHARDS {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.orders_table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(format!("WORKING#{shard}")))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out.items() {
                    let raw = string(item, SK)?;
                    let order_id = OrderId::parse(&raw)
                        .map_err(|_| StoreError::Corrupt(format!("working index: order `{raw}`")))?;
                    let trader = string(item, "trader_id")?;
                    let trader_id = TraderId::parse(&trader)
                        .map_err(|_| StoreError::Corrupt(format!("working index of {order_id}: trader `{trader}`")))?;
                    let venue_order_id = match item.get("venue_order_id") {
                        Some(AttributeValue::S(v)) => Some(v.clone()),
                        _ => None,
                    };
                    all.push(WorkingOrder {
                        order_id,
                        trader_id,
                        venue_order_id,
                        cancel_done: marked_cancel_done(item),
                    });
                }
                match out.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
        }
        Ok(all)
    }

    async fn is_working(&self, order: &OrderId) -> Result<bool, StoreError> {
        Ok(self.get(working_pk(order), &order.to_string()).await?.is_some())
    }

    async fn cancel_done(&self, order: &OrderId) -> Result<bool, StoreError> {
        Ok(self
            .get(working_pk(order), &order.to_string())
            .await?
            .is_some_and(|item| marked_cancel_done(&item)))
    }

    async fn remove_working(&self, order: &OrderId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(working_pk(order), order.to_string())))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
