//! Live order updates over WebSocket (issue 18): the messages, the cursor, the limits.
//! The use cases are `live_routes` (the WebSocket routes) and `fanout` (the events),
//! kept apart so that each function's IAM covers only the port calls it makes.
//!
//! * `connect` / `disconnect` keep the connections table (one partition per trader).
//! * `fan_out` sends the status events of a batch of the orders table's stream to every
//!   live connection of each event's trader and of no one else, each trader's in order;
//!   connections the management API answers 410 Gone are forgotten, expired ones
//!   closed, and one that missed an event is closed so that its client resumes from its
//!   cursor; only if that close fails is the batch retried from the event. Never dropped.
//! * `subscribe` replays, for a client resuming with a cursor, the current state of
//!   every order of its trader changed since then, before the live events it already
//!   receives.
//!
//! Every `order_update` carries `cursor`: the time of the change it reports. A client
//! resumes with the last cursor it saw. Events of different orders may reach the
//! fan-out out of time order (stream shards, retries), so the replay starts
//! `REPLAY_OVERLAP_SECS` before the cursor: a client may see an update twice and drops
//! the repeat by (`order_id`, `version`), keeping the highest version per order.

use serde::Serialize;

use crate::domain::{Order, Timestamp};
use crate::ports::{PushError, StatusEvent, StoreError};

/// API Gateway closes a WebSocket connection after 2 hours (its quota); the
/// connections table's TTL matches it.
pub const CONNECTION_LIFETIME_SECS: i64 = 2 * 60 * 60;

/// How far before the cursor a replay starts: longer than an event takes from the
/// commit to the fan-out (p99 well under a second; a retried delivery seconds).
pub const REPLAY_OVERLAP_SECS: i64 = 60;

/// Orders one `subscribe` replays at most; `complete: false` in its `subscribed`
/// message says to subscribe again from the cursor it carries.
pub const REPLAY_LIMIT: usize = 200;

/// A message sent on a trader's WebSocket (infra/asyncapi.yaml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// An order's state: a live status change, or (`replay: true`) the current state of
    /// an order that changed since the client's cursor (`previous_status` null then).
    OrderUpdate {
        replay: bool,
        cursor: Timestamp,
        #[serde(flatten)]
        event: StatusEvent,
    },
    /// A request the server refused (a bad cursor, a message that is not JSON).
    Error { detail: String },
    /// The end of a `subscribe`'s replay.
    Subscribed {
        /// Where to resume from: the last replayed change, else the cursor given.
        cursor: Option<Timestamp>,
        replayed: usize,
        /// False when the replay stopped at `REPLAY_LIMIT`: subscribe again from `cursor`.
        complete: bool,
    },
}

impl LiveMessage {
    pub fn live(event: &StatusEvent) -> Self {
        Self::OrderUpdate {
            replay: false,
            cursor: event.timestamp,
            event: event.clone(),
        }
    }

    pub fn replayed(order: &Order) -> Self {
        Self::OrderUpdate {
            replay: true,
            cursor: order.updated_at,
            event: StatusEvent::of(None, order),
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, LiveError> {
        serde_json::to_vec(self).map_err(|e| LiveError::Encode(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error("the connections or orders could not be read: {0}")]
    Store(#[from] StoreError),
    #[error(
        "cursor `{0}` is not one this stream sent: send the `cursor` of the last message you received \
         (an RFC 3339 time such as 2026-11-25T13:01:37.907Z), or none"
    )]
    BadCursor(String),
    #[error("a message could not be encoded: {0}")]
    Encode(String),
    /// Some connections did not get the message; `delivered` did.
    #[error("{} of {} connections did not get the message: {}", failed.len(), failed.len() + delivered,
        failed.iter().map(|(c, e)| format!("{c}: {e}")).collect::<Vec<_>>().join("; "))]
    Undelivered {
        failed: Vec<(String, PushError)>,
        delivered: usize,
    },
}

/// Parses a client's cursor: the `cursor` of a message this stream sent.
pub fn parse_cursor(raw: Option<&str>) -> Result<Option<Timestamp>, LiveError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Timestamp::parse(text)
            .map(Some)
            .map_err(|_| LiveError::BadCursor(text.chars().take(64).collect())),
    }
}
