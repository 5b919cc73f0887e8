//! `AttentionLog` on the orders table (items: `items::attention`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use time::Date;

use super::{Attempts, Cancelled, DynamoStore, build_error, put_new};
use crate::adapters::aws::items::*;
use crate::ports::{Attention, AttentionKind, AttentionLog, AttentionPage, StoreError};

#[async_trait]
impl AttentionLog for DynamoStore {
    async fn record_attention_once(&self, record: &Attention, once: &str) -> Result<bool, StoreError> {
        let marker = put_new(&self.orders_table, attention_once_item(record, once))?;
        let put = Put::builder()
            .table_name(&self.orders_table)
            .set_item(Some(attention_to_item(record)))
            .build()
            .map_err(build_error)?;
        let items = vec![marker, TransactWriteItem::builder().put(put).build()];
        match self.transact(items, Attempts::Sdk).await {
            Ok(()) => Ok(true),
            // The marker exists: recorded before today (or by an SDK retry of this write).
            Err(Ok(Cancelled::Conditions(_))) => Ok(false),
            Err(Ok(other)) => Err(other.into_error()),
            Err(Err(e)) => Err(e),
        }
    }

    async fn attention_records(
        &self,
        kind: AttentionKind,
        day: Date,
        limit: u32,
        after: Option<&str>,
    ) -> Result<AttentionPage, StoreError> {
        let pk = attention_pk(kind, day);
        let out = self
            .client
            .query()
            .table_name(&self.orders_table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(|a| key(pk, a.to_owned())))
            .send()
            .await
            .map_err(unavailable)?;
        let records = out
            .items()
            .iter()
            .map(attention_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get(SK))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(AttentionPage { records, next })
    }
}
