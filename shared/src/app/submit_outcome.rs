//! What a submit answers: its outcome (accepted, refused, replayed) and the reply
//! stored with its idempotency key, rendered by the caller's `SubmitReplies`.

use super::error::AppError;
use crate::domain::{Order, OrderError, OrderId};
use crate::ports::IdempotencyRecord;

/// A submit's reply as its caller renders it, stored with the idempotency key so a
/// retry with the same key gets it back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReply {
    pub status: u16,
    pub body: String,
}

impl StoredReply {
    pub(super) fn of(r: &IdempotencyRecord) -> Self {
        Self {
            status: r.status,
            body: r.body.clone(),
        }
    }
}

/// How the caller writes a submit's outcome down (the port through which the HTTP
/// layer's rendering reaches the key's record without the use case knowing HTTP).
pub trait SubmitReplies: Send + Sync {
    /// The reply for an accepted order.
    fn accepted(&self, order: &Order) -> Result<StoredReply, AppError>;
    /// The reply for a refused order whose refusal is recorded under `audit_id`.
    fn refused(&self, error: &OrderError, audit_id: OrderId) -> StoredReply;
    /// The reply for a replace accepted (the order as it waits for the venue).
    fn replace_accepted(&self, order: &Order) -> Result<StoredReply, AppError> {
        self.accepted(order)
    }
}

/// What became of a submit that was answered (an `Err` is one that was not: nothing
/// of it is stored, and a retry with the same key is answered afresh).
#[derive(Clone, Debug, PartialEq)]
pub enum SubmitOutcome {
    /// The order is committed: by this call, or by an earlier attempt of this very
    /// request (without a key) whose answer was lost.
    Accepted { order: Box<Order>, reply: StoredReply },
    /// The order was refused: the refusal's audit record is the one chain under
    /// `audit_id`, and with a key `reply` is the key's outcome.
    Refused {
        error: OrderError,
        audit_id: OrderId,
        reply: StoredReply,
    },
    /// An earlier request with the same key and body was answered: its stored reply.
    Replayed(StoredReply),
}

impl SubmitOutcome {
    pub fn reply(&self) -> &StoredReply {
        match self {
            Self::Accepted { reply, .. } | Self::Refused { reply, .. } | Self::Replayed(reply) => reply,
        }
    }

    pub fn into_reply(self) -> StoredReply {
        match self {
            Self::Accepted { reply, .. } | Self::Refused { reply, .. } | Self::Replayed(reply) => reply,
        }
    }
}

/// The trader's submit budget after a submit was counted against it (Alpaca's
/// `X-RateLimit-*` figures): the minute's `limit`, how many more fit in it, and when
/// (unix seconds) the next minute opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateQuota {
    pub limit: u32,
    pub remaining: u32,
    pub reset_at: i64,
}
