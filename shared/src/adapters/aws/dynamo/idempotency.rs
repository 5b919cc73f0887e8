//! Idempotency records (SPEC §5) and the per-minute submit counters, on the orders table.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::{Attempts, Cancelled, DynamoStore, build_error, put_new, update_applied};
use crate::adapters::aws::items;
use crate::adapters::aws::items::*;
use crate::domain::{AuditRecord, IdempotencyKey, Timestamp, TraderId};
use crate::ports::{AuditLog, IdempotencyRecord, RateDecision, StoreError, rate_window};

impl DynamoStore {
    /// Puts an idempotency record unless a live one holds the key (an expired record
    /// may still be there: TTL deletes lazily).
    pub(super) fn put_idempotency(&self, r: &IdempotencyRecord) -> Result<TransactWriteItem, StoreError> {
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

    pub(super) async fn live_idempotency(
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

    pub(super) async fn commit_rejection(
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

    pub(super) async fn count_submit(
        &self,
        trader: &TraderId,
        limit: u32,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
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
}
