//! Live order updates over WebSocket (issue 18): who hears what, and the messages.
//!
//! * `connect` / `disconnect` keep the connections table (one partition per trader).
//! * `fan_out` sends one `Order Status Changed` event to every live connection of the
//!   event's trader and of no one else; connections the management API answers 410 Gone
//!   are forgotten, expired ones closed; any other failure is returned (the invocation
//!   fails and is retried), never dropped.
//! * `subscribe` replays, for a client resuming with a cursor, the current state of
//!   every order of its trader changed since then, before the live events it already
//!   receives.
//!
//! Every `order_update` carries `cursor`: the time of the change it reports. A client
//! resumes with the last cursor it saw. Events of different orders may reach the
//! fan-out out of time order (stream shards, retries), so the replay starts
//! `REPLAY_OVERLAP_SECS` before the cursor: a client may see an update twice and drops
//! the repeat by (`order_id`, `version`), keeping the highest version per order.

use futures::future::join_all;
use serde::Serialize;

use crate::domain::{Order, Timestamp, TraderId};
use crate::ports::{Connections, LiveConnection, OrderChanges, PushError, Pusher, StatusEvent, StoreError};

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

/// Records a new connection of `trader`. It lasts API Gateway's 2 hours, or until the
/// connect token expires if that is sooner.
pub async fn connect(
    connections: &dyn Connections,
    trader: &TraderId,
    connection_id: &str,
    token_expires: Option<Timestamp>,
    now: Timestamp,
) -> Result<LiveConnection, LiveError> {
    let limit = now.plus_seconds(CONNECTION_LIFETIME_SECS);
    let connection = LiveConnection {
        connection_id: connection_id.to_owned(),
        trader_id: trader.clone(),
        connected_at: now,
        expires_at: token_expires.map_or(limit, |t| t.min(limit)),
    };
    connections.add(&connection).await?;
    Ok(connection)
}

pub async fn disconnect(
    connections: &dyn Connections,
    trader: &TraderId,
    connection_id: &str,
) -> Result<(), LiveError> {
    Ok(connections.remove(trader, connection_id).await?)
}

/// What a fan-out did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FanoutReport {
    pub delivered: usize,
    /// Connections that answered Gone, now forgotten.
    pub gone: usize,
    /// Connections past their token's expiry (or 2 hours), closed and forgotten.
    pub expired: usize,
    /// Recorded under the trader's key but naming another trader: never sent to.
    pub foreign: usize,
}

/// Sends `event` to every live connection of its trader. Gone and expired connections
/// are forgotten (a failure to forget one is logged: its TTL removes it); any other
/// failure is an `Undelivered` error naming the connections that missed it.
#[tracing::instrument(skip_all, fields(order_id = %event.order_id, trader_id = %event.trader_id, version = event.version))]
pub async fn fan_out(
    connections: &dyn Connections,
    pusher: &dyn Pusher,
    event: &StatusEvent,
    now: Timestamp,
) -> Result<FanoutReport, LiveError> {
    let message = LiveMessage::live(event).to_bytes()?;
    let mut report = FanoutReport::default();
    let mut live = Vec::new();
    for c in connections.of_trader(&event.trader_id).await? {
        if c.trader_id != event.trader_id {
            tracing::error!(connection_id = %c.connection_id, stored_trader = %c.trader_id,
                "a connection recorded under another trader's key: not sent to");
            report.foreign += 1;
        } else if c.expires_at <= now {
            report.expired += 1;
            if let Err(e) = pusher.close(&c.connection_id).await
                && e != PushError::Gone
            {
                tracing::warn!(connection_id = %c.connection_id, error = %e, "an expired connection could not be closed");
            }
            forget(connections, &c).await;
        } else {
            live.push(c);
        }
    }
    let outcomes = join_all(live.iter().map(|c| pusher.push(&c.connection_id, &message))).await;
    let mut failed = Vec::new();
    for (c, outcome) in live.iter().zip(outcomes) {
        match outcome {
            Ok(()) => report.delivered += 1,
            Err(PushError::Gone) => {
                report.gone += 1;
                forget(connections, c).await;
            }
            Err(e) => failed.push((c.connection_id.clone(), e)),
        }
    }
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(LiveError::Undelivered {
            failed,
            delivered: report.delivered,
        })
    }
}

async fn forget(connections: &dyn Connections, c: &LiveConnection) {
    if let Err(e) = connections.remove(&c.trader_id, &c.connection_id).await {
        tracing::warn!(connection_id = %c.connection_id, error = %e, "a closed connection could not be forgotten; its TTL will");
    }
}

/// What a subscribe replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeReport {
    pub replayed: usize,
    pub complete: bool,
    pub cursor: Option<Timestamp>,
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

/// Replays to `connection_id` the current state of every order of `trader` changed
/// since `cursor` (less the overlap), oldest first, then sends `subscribed`. Without a
/// cursor there is nothing to replay: the connection already gets the live events.
#[tracing::instrument(skip(orders, pusher), fields(trader_id = %trader))]
pub async fn subscribe(
    orders: &dyn OrderChanges,
    pusher: &dyn Pusher,
    trader: &TraderId,
    connection_id: &str,
    cursor: Option<Timestamp>,
) -> Result<SubscribeReport, LiveError> {
    let mut report = SubscribeReport {
        replayed: 0,
        complete: true,
        cursor,
    };
    if let Some(from) = cursor {
        let mut changed = orders
            .changed_since(trader, from.plus_seconds(-REPLAY_OVERLAP_SECS), REPLAY_LIMIT + 1)
            .await?;
        changed.retain(|o| &o.trader_id == trader);
        if changed.len() > REPLAY_LIMIT {
            changed.truncate(REPLAY_LIMIT);
            report.complete = false;
        }
        for order in &changed {
            send(pusher, connection_id, &LiveMessage::replayed(order)).await?;
            report.replayed += 1;
            report.cursor = report.cursor.max(Some(order.updated_at));
        }
    }
    let done = LiveMessage::Subscribed {
        cursor: report.cursor,
        replayed: report.replayed,
        complete: report.complete,
    };
    send(pusher, connection_id, &done).await?;
    Ok(report)
}

async fn send(pusher: &dyn Pusher, connection_id: &str, message: &LiveMessage) -> Result<(), LiveError> {
    pusher
        .push(connection_id, &message.to_bytes()?)
        .await
        .map_err(|e| LiveError::Undelivered {
            failed: vec![(connection_id.to_owned(), e)],
            delivered: 0,
        })
}
