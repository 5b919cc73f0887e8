//! Live order updates (issue 18): WebSocket connections (`Connections`), sending on them
//! (`Pusher`), and the replay of a resumed stream (`OrderChanges`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{Order, Timestamp, TraderId};

/// A trader's WebSocket connection, as the connections table keeps it. API Gateway
/// closes a WebSocket connection after 2 hours at most; `expires_at` is that limit, or
/// the connect token's expiry when sooner, and is also the item's TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConnection {
    pub connection_id: String,
    pub trader_id: TraderId,
    pub connected_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The connections of each trader (the connections table: one partition per trader).
#[async_trait]
pub trait Connections: Send + Sync {
    /// Records a connection (a repeat of the same id overwrites it).
    async fn add(&self, connection: &LiveConnection) -> Result<(), StoreError>;
    /// Forgets a connection; forgetting one that is not there is not an error.
    async fn remove(&self, trader: &TraderId, connection_id: &str) -> Result<(), StoreError>;
    /// Every recorded connection of the trader, expired ones included (DynamoDB's TTL
    /// deletes items up to days late: callers check `expires_at`).
    async fn of_trader(&self, trader: &TraderId) -> Result<Vec<LiveConnection>, StoreError>;
    /// Every recorded connection, of any trader, whose `expires_at` is at or before
    /// `now` (the sweep that closes them at their token's expiry).
    async fn expired(&self, now: Timestamp) -> Result<Vec<LiveConnection>, StoreError>;
}

/// Why a message could not be sent on a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The connection is closed (the management API's 410 Gone): forget it.
    #[error("the connection is gone")]
    Gone,
    /// Anything else (throttled, unavailable, refused): the message was not delivered.
    #[error("the message was not delivered: {0}")]
    Failed(String),
}

/// Sends messages to WebSocket connections (API Gateway's management API,
/// `POST /@connections/{id}`) and closes them (`DELETE /@connections/{id}`).
#[async_trait]
pub trait Pusher: Send + Sync {
    async fn push(&self, connection_id: &str, message: &[u8]) -> Result<(), PushError>;
    async fn close(&self, connection_id: &str) -> Result<(), PushError>;
}

/// A trader's orders by the time they last changed: the replay of a resumed stream.
#[async_trait]
pub trait OrderChanges: Send + Sync {
    /// The current state of the trader's orders whose `updated_at` is at or after
    /// `since`, oldest change first, at most `limit` of them.
    async fn changed_since(&self, trader: &TraderId, since: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError>;
}
