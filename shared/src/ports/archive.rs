//! The audit trail's write-once copy (`WriteOnceStore`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Timestamp;

/// One audit record as the table holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveEntry {
    /// The item's partition key: the chain (`ORDER#<id>`, `ACCOUNT#<trader>`).
    pub chain: String,
    /// The item's sort key: the record's place in its chain.
    pub position: String,
    pub at: Timestamp,
    pub hash: String,
    /// The whole item, DynamoDB JSON: what the copy keeps.
    pub item: serde_json::Value,
}

/// The write-once copy of the audit trail (SPEC §8; SEC 17a-4(f)): objects that, once
/// written, nobody can change or delete until their retention ends (S3 Object Lock in
/// compliance mode). Keys are `/`-separated paths.
#[async_trait]
pub trait WriteOnceStore: Send + Sync {
    /// Writes `body` at `key` unless an object is already there: `Ok(true)` when this
    /// call wrote it, `Ok(false)` when one was there (a redelivered record).
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError>;
    /// The object at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every key under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}
