//! `OrderChanges` on the orders table's `TraderUpdates` index (issue 18): hash key PK
//! (TRADER#<trader>), range key `updated_at`. Only order items carry `updated_at`, so
//! the index is sparse: a trader's orders by their last change, for the replay of a
//! resumed live stream. A GSI read is eventually consistent; the replay starts a minute
//! before the client's cursor, which also covers an index a moment behind.
//!
//! `updated_at` is RFC 3339 with the fraction's trailing zeros cut (`...:37Z`,
//! `...:37.5Z`), so text order is not time order within one second. The key condition
//! compares against the whole second (`YYYY-MM-DDTHH:MM:SS`: every time in or after that
//! second sorts at or after it) and the exact bound is applied to the decoded orders.

use super::items::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::items::{PK, order_from_item, s, trader_pk};
use crate::domain::{Order, Timestamp, TraderId};
use crate::ports::{OrderChanges, StoreError};

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
}

/// The whole second of `t` as the index's key text: `2026-11-27T10:00:05`.
pub fn second_prefix(t: Timestamp) -> String {
    let text = t.to_string();
    text.get(..19).unwrap_or(&text).to_owned()
}

#[async_trait]
impl OrderChanges for DynamoOrderChanges {
    async fn changed_since(&self, trader: &TraderId, since: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.orders_table)
                .index_name("TraderUpdates")
                .key_condition_expression("#pk = :pk AND #updated >= :since")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#updated", "updated_at")
                .expression_attribute_values(":pk", s(trader_pk(trader)))
                .expression_attribute_values(":since", s(second_prefix(since)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                let order = order_from_item(item)?;
                if order.updated_at >= since && &order.trader_id == trader {
                    out.push(order);
                }
            }
            // Text order within a second is not time order, but whole seconds come in
            // order: once `limit` orders lie in seconds before the last one read, the
            // first `limit` by time are all here.
            let more = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            let settled = out.last().map_or(0, |last| {
                let open = second_prefix(last.updated_at);
                out.iter().filter(|o| second_prefix(o.updated_at) != open).count()
            });
            match more {
                Some(k) if settled < limit => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|o| (o.updated_at, o.order_id));
        out.truncate(limit);
        Ok(out)
    }
}
