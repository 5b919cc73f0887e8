//! What needs an operator (issue 22): orders execution gave up on (stalled, their work
//! message dead-lettered) and what the reconciliation sweep found (corrections it
//! made, mismatches it could not correct), kept as records an operator lists by UTC
//! day (`AttentionLog`); and the work queue's dead-letter queue (`DeadLetters`), its
//! depth and the move of its messages back to the work queue.

use async_trait::async_trait;
use serde::Serialize;
use time::Date;

use super::{QueueError, StoreError};
use crate::domain::{OrderId, OrderStatus, Timestamp, TraderId};

/// Which list a record is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// Execution stopped retrying; the work message is in the dead-letter queue.
    Stalled,
    /// The reconciliation sweep corrected the order to what the venue says, or found a
    /// mismatch it could not correct.
    Reconciliation,
}

impl AttentionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stalled => "stalled",
            Self::Reconciliation => "reconciliation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stalled" => Some(Self::Stalled),
            "reconciliation" => Some(Self::Reconciliation),
            _ => None,
        }
    }
}

/// One case for an operator. Written with the transition that made it (a stall, a
/// correction), or on its own for a mismatch nothing corrected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attention {
    pub kind: AttentionKind,
    pub trader_id: TraderId,
    pub order_id: OrderId,
    pub at: Timestamp,
    /// The order's status before, and after (the same for a stall or a mismatch).
    pub from_status: OrderStatus,
    pub to_status: OrderStatus,
    /// What the venue said (reconciliation only).
    pub venue_status: Option<String>,
    pub venue_order_id: Option<String>,
    pub reason: String,
    /// False for a reconciliation mismatch left for an operator.
    pub corrected: bool,
}

impl Attention {
    /// Records are kept this long (DynamoDB TTL), then removed.
    pub const LIFETIME_SECS: i64 = 30 * 24 * 60 * 60;

    /// The UTC day the record is listed under.
    pub fn day(&self) -> Date {
        self.at.datetime().date()
    }

    /// Its place in the day's list, and the list's cursor: the instant in unix
    /// milliseconds (13 digits, so text order is time order) and the order id.
    pub fn position(&self) -> String {
        format!("{:013}#{}", self.at.unix_millis(), self.order_id)
    }

    /// Whether `cursor` is a position (`position`'s shape), so a made-up one is refused.
    pub fn is_position(cursor: &str) -> bool {
        cursor.split_once('#').is_some_and(|(millis, id)| {
            millis.len() == 13 && millis.bytes().all(|b| b.is_ascii_digit()) && OrderId::parse(id).is_ok()
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttentionPage {
    pub records: Vec<Attention>,
    /// The last record's position when more may follow.
    pub next: Option<String>,
}

#[async_trait]
pub trait AttentionLog: Send + Sync {
    /// Records a case no transition carries (a mismatch the sweep cannot correct),
    /// once per `once` key and UTC day: `false` when that key was already recorded
    /// that day (the sweep finds the same mismatch on every pass).
    async fn record_attention_once(&self, record: &Attention, once: &str) -> Result<bool, StoreError>;

    /// The day's records of `kind`, newest first, after the position `after`.
    async fn attention_records(
        &self,
        kind: AttentionKind,
        day: Date,
        limit: u32,
        after: Option<&str>,
    ) -> Result<AttentionPage, StoreError>;
}

/// The answer of a redrive: how many messages went back to the work queue, and
/// whether the dead-letter queue may hold more (call again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Redriven {
    pub moved: u32,
    pub more: bool,
}

/// The work queue's dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// About how many messages it holds (SQS `ApproximateNumberOfMessages`: visible
    /// ones; `in_flight` those being moved or looked at), read without receiving any.
    async fn dead_letter_depth(&self) -> Result<DeadLetterDepth, QueueError>;

    /// Moves up to `max` messages back to the work queue, each sent there before it is
    /// deleted here (a crash between leaves it in both; execute handles a work message
    /// twice harmlessly: it claims the order with a conditional write).
    async fn redrive_dead_letters(&self, max: u32) -> Result<Redriven, QueueError>;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeadLetterDepth {
    pub messages: u64,
    pub in_flight: u64,
}
