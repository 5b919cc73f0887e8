//! The WebSocket routes' use cases (issue 18): `$connect` records the connection,
//! `$disconnect` forgets it, `subscribe` replays what changed since the client's cursor.

use crate::app::live::{CONNECTION_LIFETIME_SECS, LiveError, LiveMessage, REPLAY_LIMIT, REPLAY_OVERLAP_SECS};
use crate::domain::{Timestamp, TraderId};
use crate::ports::{Connections, LiveConnection, OrderChanges, Pusher};

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

/// What a subscribe replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeReport {
    pub replayed: usize,
    pub complete: bool,
    pub cursor: Option<Timestamp>,
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
