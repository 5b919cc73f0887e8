//! The append-only audit trail (`AuditLog`).

use async_trait::async_trait;

use super::DynamoStore;
use crate::adapters::aws::items::*;
use crate::domain::{AuditRecord, OrderId, expand_chain};
use crate::ports::{AuditLog, StoreError};

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
        let mut records = self
            .query_prefix(&self.audit_table, audit_pk(order), "")
            .await?
            .iter()
            .map(audit_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        expand_chain(&mut records);
        Ok(records)
    }
}
