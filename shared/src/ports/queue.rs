//! The work queue (`WorkQueue`) and its messages.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{OrderId, TraderId};

/// Work for the execute function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkMessage {
    /// Send a PENDING order to the venue (or reconcile it after a crash).
    Execute { trader_id: TraderId, order_id: OrderId },
    /// Cancel a working order at the venue.
    Cancel { trader_id: TraderId, order_id: OrderId },
    /// Replace a working order at the venue with its pending replace's values.
    Replace { trader_id: TraderId, order_id: OrderId },
    /// Look at an order again. No longer sent (the venue intake and its sweep follow
    /// resting orders); one still queued or dead-lettered from before is handled as
    /// a look at the order, as `Execute` is. `seq` is read and ignored.
    Recheck {
        trader_id: TraderId,
        order_id: OrderId,
        #[serde(default)]
        seq: u64,
    },
    /// The outbox's copy (the orders table's stream, `app::publish`) of an `Execute`
    /// or `Cancel` the API sends itself right after its commit (the fast path, issue
    /// 17). Sent [`BACKSTOP_DELAY_SECS`] late, and only when the order still waits for
    /// the work when the outbox reads it; acts as the message it backs only while
    /// that is still so (`Backstopped::waits`). Once the order moved on, the fast
    /// path's message got there first and owns the order (SQS brings that one back
    /// if its executor dies), so a second copy would only cost venue calls.
    Backstop {
        trader_id: TraderId,
        order_id: OrderId,
        of: Backstopped,
    },
}

/// How late the outbox's copy of a fast-path message is sent: long enough that the
/// fast path's own message has almost always been taken by then (it is sent within
/// milliseconds of the commit and executed at once), short enough that an order whose
/// fast-path send failed waits only this long.
pub const BACKSTOP_DELAY_SECS: u32 = 5;

/// The work a [`WorkMessage::Backstop`] stands in for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backstopped {
    Execute,
    Cancel,
    Replace,
}

impl Backstopped {
    /// Whether an order in `status` still waits for this work: an `Execute` for a
    /// PENDING order (no one claimed it), a `Cancel` for a CANCEL_REQUESTED one (the
    /// venue has not confirmed the cancel).
    pub fn waits(self, status: crate::domain::OrderStatus) -> bool {
        use crate::domain::OrderStatus as S;
        match self {
            Self::Execute => status == S::Pending,
            Self::Cancel => status == S::CancelRequested,
            Self::Replace => status == S::ReplaceRequested,
        }
    }

    /// The message this stands in for.
    pub fn message(self, trader_id: &TraderId, order_id: OrderId) -> WorkMessage {
        let trader_id = trader_id.clone();
        match self {
            Self::Execute => WorkMessage::Execute { trader_id, order_id },
            Self::Cancel => WorkMessage::Cancel { trader_id, order_id },
            Self::Replace => WorkMessage::Replace { trader_id, order_id },
        }
    }
}

impl WorkMessage {
    pub fn ids(&self) -> (&TraderId, &OrderId) {
        match self {
            Self::Execute { trader_id, order_id }
            | Self::Cancel { trader_id, order_id }
            | Self::Replace { trader_id, order_id }
            | Self::Recheck {
                trader_id, order_id, ..
            }
            | Self::Backstop {
                trader_id, order_id, ..
            } => (trader_id, order_id),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue is unavailable: {0}")]
    Unavailable(String),
    #[error("message could not be encoded: {0}")]
    Encode(String),
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, message: &WorkMessage, delay_seconds: u32) -> Result<(), QueueError>;
    /// Sends `messages` in order, each delayed `delay_seconds`, in as few calls as the
    /// queue takes (SQS: ten a call). On failure, the index of the first message that
    /// may not have been sent: every one before it was (some after it may have been too).
    async fn send_all(&self, messages: &[WorkMessage], delay_seconds: u32) -> Result<(), (usize, QueueError)> {
        for (i, message) in messages.iter().enumerate() {
            self.send(message, delay_seconds).await.map_err(|e| (i, e))?;
        }
        Ok(())
    }
    async fn receive(&self, max: u32, wait_seconds: u32) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;
    /// Hides a received message for `seconds` more (the retry backoff of SPEC §6).
    async fn change_visibility(&self, receipt_handle: &str, seconds: u32) -> Result<(), QueueError>;
}
