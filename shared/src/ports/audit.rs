//! The append-only audit trail (`AuditLog`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{AuditRecord, OrderId};

/// The append-only audit trail. There is deliberately no update or delete.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends a record; `AlreadyExists` if its (order, sequence) is taken.
    async fn append(&self, record: &AuditRecord) -> Result<(), StoreError>;
    /// An order's records in sequence order, each record of changes with its
    /// `before` and `after` rebuilt from the chain (`domain::expand_chain`).
    async fn records(&self, order: &OrderId) -> Result<Vec<AuditRecord>, StoreError>;
}
