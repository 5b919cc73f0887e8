//! The fan-out of status events to WebSocket connections (issue 18).

use futures::future::join_all;

use crate::app::live::{LiveError, LiveMessage};
use crate::domain::Timestamp;
use crate::ports::{Connections, LiveConnection, PushError, Pusher, StatusEvent};

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

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired connections closed (`DeleteConnection`) and forgotten.
    pub closed: usize,
    /// Expired connections API Gateway no longer had (410 Gone), forgotten.
    pub gone: usize,
}

/// Closes every connection past its token's expiry (or its 2 hours), whatever its
/// trader has going on, and forgets it: the scheduled sweep, so that an expired
/// token's connection ends at expiry (within the schedule's period), not at its
/// trader's next event. A connection that could not be closed is kept, for the next
/// sweep, and reported: `Undelivered` names it.
#[tracing::instrument(skip_all)]
pub async fn sweep(
    connections: &dyn Connections,
    pusher: &dyn Pusher,
    now: Timestamp,
) -> Result<SweepReport, LiveError> {
    let mut report = SweepReport::default();
    let mut failed = Vec::new();
    for c in connections.expired(now).await? {
        match pusher.close(&c.connection_id).await {
            Ok(()) => report.closed += 1,
            Err(PushError::Gone) => report.gone += 1,
            Err(e) => {
                failed.push((c.connection_id.clone(), e));
                continue;
            }
        }
        forget(connections, &c).await;
    }
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(LiveError::Undelivered {
            failed,
            delivered: report.closed + report.gone,
        })
    }
}
