//! `OrderChanges` on the orders table's `TraderChanges` index (issues 18 and 17): hash
//! key PK (TRADER#<trader>), range key `changed_minute`, the minute of the order's last
//! change (`updated_at` cut to `YYYY-MM-DDTHH:MM`). Only order items carry it, so the
//! index is sparse: a trader's orders by the minute they last changed, for the replay
//! of a resumed live stream.
//!
//! The index holds keys only (KEYS_ONLY) and its key moves once a minute at most: the
//! changes of an order within one minute (a marketable order's submit, claim and fill)
//! write the index once, where an index on `updated_at` with the whole order wrote it
//! five times (issue 17, BENCHMARKS.md "where its write units go"). The replay pays
//! instead: it reads the orders the keys name (`BatchGetItem`, consistent), then keeps
//! those changed at or after the cursor. A GSI read is eventually consistent; the replay
//! starts a minute before the client's cursor, which also covers an index a moment
//! behind.

use std::collections::HashMap;
use std::time::Duration;

use super::items::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::items::{CHANGED_MINUTE, PK, SK, changed_minute, order_from_item, s, trader_pk};
use crate::domain::{Order, Timestamp, TraderId};
use crate::ports::{OrderChanges, StoreError};

/// Keys of one `BatchGetItem` (DynamoDB's limit).
const BATCH: usize = 100;
/// Rounds of a batch's unprocessed keys before the replay gives up (throttled).
const BATCH_ROUNDS: u32 = 5;

#[derive(Clone, Debug)]
pub struct DynamoOrderChanges {
    client: Client,
    orders_table: String,
}

impl DynamoOrderChanges {
    pub fn new(client: Client, orders_table: impl Into<String>) -> Self {
        Self {
            client,
            orders_table: orders_table.into(),
        }
    }

    /// The orders `keys` name, read consistently, in no particular order; an order gone
    /// since the index named it is left out.
    async fn orders(&self, keys: Vec<HashMap<String, AttributeValue>>) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round == BATCH_ROUNDS {
                    return Err(StoreError::Unavailable {
                        service: "DynamoDB",
                        detail: format!(
                            "the replay's reads stayed unprocessed after {BATCH_ROUNDS} rounds (throttled)"
                        ),
                    });
                }
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << round)).await;
                }
                round += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable {
                        service: "DynamoDB",
                        detail: format!("request could not be built: {e}"),
                    })?;
                let page = self
                    .client
                    .batch_get_item()
                    .request_items(&self.orders_table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in page
                    .responses()
                    .and_then(|r| r.get(&self.orders_table))
                    .into_iter()
                    .flatten()
                {
                    out.push(order_from_item(item)?);
                }
                pending = page
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.orders_table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl OrderChanges for DynamoOrderChanges {
    async fn changed_since(&self, trader: &TraderId, since: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        let since_minute = changed_minute(since);
        let mut keys: Vec<(String, HashMap<String, AttributeValue>)> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.orders_table)
                .index_name("TraderChanges")
                .key_condition_expression("#pk = :pk AND #minute >= :since")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#minute", CHANGED_MINUTE)
                .expression_attribute_values(":pk", s(trader_pk(trader)))
                .expression_attribute_values(":since", s(since_minute.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                let minute = item
                    .get(CHANGED_MINUTE)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let key: HashMap<String, AttributeValue> = [PK, SK]
                    .into_iter()
                    .filter_map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
                    .collect();
                keys.push((minute, key));
            }
            // Whole minutes come in order: once `limit` orders lie in minutes after the
            // cursor's own (all of them changed after it) and before the last one read,
            // the first `limit` by time are all among the keys read.
            let more = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            let settled = keys.last().map_or(0, |(last, _)| {
                keys.iter().filter(|(m, _)| m != last && *m != since_minute).count()
            });
            match more {
                Some(k) if settled < limit => start = Some(k),
                _ => break,
            }
        }
        let mut out: Vec<Order> = self
            .orders(keys.into_iter().map(|(_, k)| k).collect())
            .await?
            .into_iter()
            .filter(|o| o.updated_at >= since && &o.trader_id == trader)
            .collect();
        out.sort_by_key(|o| (o.updated_at, o.order_id));
        out.truncate(limit);
        Ok(out)
    }
}
