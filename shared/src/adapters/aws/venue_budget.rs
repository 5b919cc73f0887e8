//! `VenueBudget` on DynamoDB: one counter item per API key and window in the orders
//! table (`VENUE#<key digest>` / `WINDOW#<start>`), taken with one conditional
//! `UpdateItem` (`count < per_window`), so every function instance draws from the
//! same budget and two racing takes can never both get the last request. A caller
//! that leaves a reserve to others (execute, the intake's share) takes only while
//! `count < per_window - reserve`. TTL removes
//! a window's item two minutes after it closed.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::items::{EXPIRES_AT, key, n};
use crate::domain::Timestamp;
use crate::domain::audit::sha256_hex;
use crate::ports::{BudgetDecision, StoreError, VenueBudget, VenueRate};

const SERVICE: &str = "DynamoDB";
/// A 429's back-off is honoured up to this long (Alpaca's windows are a minute).
const MAX_BACKOFF_SECS: i64 = 120;

#[derive(Clone, Debug)]
pub struct DynamoVenueBudget {
    client: Client,
    orders_table: String,
}

impl DynamoVenueBudget {
    pub fn new(client: Client, orders_table: impl Into<String>) -> Self {
        Self {
            client,
            orders_table: orders_table.into(),
        }
    }
}

/// The partition of an API key's windows: a digest, so the key id is not stored.
pub fn budget_pk(api_key: &str) -> String {
    format!("VENUE#{}", &sha256_hex(api_key.as_bytes())[..16])
}

pub fn window_sk(start: i64) -> String {
    format!("WINDOW#{start}")
}

fn unavailable(e: SdkError<UpdateItemError, impl std::fmt::Debug>) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        detail: DisplayErrorContext(&e).to_string(),
    }
}

#[async_trait]
impl VenueBudget for DynamoVenueBudget {
    async fn take_venue_request_leaving(
        &self,
        api_key: &str,
        rate: VenueRate,
        reserve: u32,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError> {
        let (start, retry_after_secs) = rate.window(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(budget_pk(api_key), window_sk(start))))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one, #exp = :exp")
            .condition_expression("attribute_not_exists(#count) OR #count < :cap")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(rate.per_window().saturating_sub(reserve).max(1)))
            .expression_attribute_values(":exp", n(start + 120))
            .send()
            .await;
        match result {
            Ok(_) => Ok(BudgetDecision::Granted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(BudgetDecision::Wait { retry_after_secs })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn spend_venue_windows(
        &self,
        api_key: &str,
        rate: VenueRate,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let (mut start, _) = rate.window(now);
        let last = until.unix_seconds().min(now.unix_seconds() + MAX_BACKOFF_SECS);
        // Rare (the budget keeps us under the venue's limit): one write per window.
        while start < last {
            self.client
                .update_item()
                .table_name(&self.orders_table)
                .set_key(Some(key(budget_pk(api_key), window_sk(start))))
                .update_expression("SET #count = :cap, #exp = :exp")
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":cap", n(rate.per_window()))
                .expression_attribute_values(":exp", n(start + 120))
                .send()
                .await
                .map_err(unavailable)?;
            start += i64::from(rate.window_secs.max(1));
        }
        Ok(())
    }
}
