//! The fan-out of status events to WebSocket connections (issue 18).
//!
//! The fan-out reads the orders table's stream, as publish does, and sends each
//! committed change's status event (`publish::status_event`, the bus's own event) to
//! every live connection of the order's trader. The stream keeps an item's changes in
//! order and Lambda hands a shard's records to one invocation at a time, in order; the
//! fan-out keeps that order per trader: a trader's events go out one after the other
//! (each to all of its connections at once), traders side by side. So a client sees
//! each order's versions in order; the bus's rule could not promise that (an event per
//! asynchronous invocation, run at the same time as the next one).
//!
//! A connection that did not get an event must not get the ones after it: it is
//! closed (`DELETE @connections`), and its client resumes from the cursor of the last
//! message it got (`subscribe`), which replays what it missed. Only when that close
//! fails too does the batch stop at the event: the result names its record, and Lambda
//! retries from it, so the event and every later one of the batch go out again (the
//! connections that had them drop the repeats by order id and version).

use std::collections::BTreeMap;

use futures::future::join_all;

use crate::app::live::{LiveError, LiveMessage};
use crate::app::publish::{OrderChange, status_event};
use crate::domain::{Timestamp, TraderId};
use crate::ports::{Connections, LiveConnection, PushError, Pusher, StatusEvent};

/// What a fan-out did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FanoutReport {
    /// Events, each counted once per connection it reached.
    pub delivered: usize,
    /// Connections that answered Gone, now forgotten.
    pub gone: usize,
    /// Connections past their token's expiry (or 2 hours), closed and forgotten.
    pub expired: usize,
    /// Recorded under the trader's key but naming another trader: never sent to.
    pub foreign: usize,
    /// Connections that missed an event, closed so that their clients resume.
    pub closed: usize,
}

impl FanoutReport {
    fn merge(&mut self, other: &FanoutReport) {
        self.delivered += other.delivered;
        self.gone += other.gone;
        self.expired += other.expired;
        self.foreign += other.foreign;
        self.closed += other.closed;
    }
}

/// The first change of a batch whose event did not reach everyone it should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub sequence_number: String,
    pub reason: String,
}

/// What a batch's fan-out did; `stopped` names the record Lambda retries from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub events: usize,
    pub report: FanoutReport,
    pub stopped: Option<Stopped>,
}

/// Sends the status events of `changes` (stream order) to the live connections of
/// their traders: each trader's in order, traders at the same time (see the module
/// doc). Gone and expired connections are forgotten (a failure to forget one is
/// logged: its TTL removes it).
#[tracing::instrument(skip_all, fields(changes = changes.len()))]
pub async fn fan_out(
    connections: &dyn Connections,
    pusher: &dyn Pusher,
    changes: &[OrderChange],
    now: Timestamp,
) -> BatchOutcome {
    let mut by_trader: BTreeMap<&TraderId, Vec<(usize, StatusEvent)>> = BTreeMap::new();
    let mut events = 0;
    for (i, change) in changes.iter().enumerate() {
        if let Some(event) = status_event(change) {
            events += 1;
            let trader = change.new.as_ref().map(|o| &o.trader_id);
            if let Some(trader) = trader {
                by_trader.entry(trader).or_default().push((i, event));
            }
        }
    }
    let outcomes = join_all(
        by_trader
            .into_iter()
            .map(|(trader, events)| fan_out_trader(connections, pusher, trader, events, now)),
    )
    .await;
    let mut report = FanoutReport::default();
    let mut first: Option<(usize, String)> = None;
    for (r, stopped) in outcomes {
        report.merge(&r);
        if let Some((i, reason)) = stopped
            && first.as_ref().is_none_or(|(f, _)| i < *f)
        {
            first = Some((i, reason));
        }
    }
    let stopped = first.and_then(|(i, reason)| {
        changes.get(i).map(|c| Stopped {
            sequence_number: c.sequence_number.clone(),
            reason,
        })
    });
    BatchOutcome {
        events,
        report,
        stopped,
    }
}

/// One trader's events, in order; stops at the first one a connection missed and
/// could not be closed: `(its index in the batch, why)`.
async fn fan_out_trader(
    connections: &dyn Connections,
    pusher: &dyn Pusher,
    trader: &TraderId,
    events: Vec<(usize, StatusEvent)>,
    now: Timestamp,
) -> (FanoutReport, Option<(usize, String)>) {
    let mut report = FanoutReport::default();
    let Some(first) = events.first().map(|(i, _)| *i) else {
        return (report, None);
    };
    let recorded = match connections.of_trader(trader).await {
        Ok(c) => c,
        Err(e) => return (report, Some((first, LiveError::from(e).to_string()))),
    };
    let mut live = Vec::new();
    for c in recorded {
        if c.trader_id != *trader {
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
    if live.is_empty() {
        return (report, None);
    }
    for (i, event) in events {
        let message = match LiveMessage::live(&event).to_bytes() {
            Ok(m) => m,
            Err(e) => return (report, Some((i, e.to_string()))),
        };
        let outcomes = join_all(live.iter().map(|c| pusher.push(&c.connection_id, &message))).await;
        let mut kept = Vec::with_capacity(live.len());
        let mut unclosed = Vec::new();
        for (c, outcome) in live.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    report.delivered += 1;
                    kept.push(c);
                }
                Err(PushError::Gone) => {
                    report.gone += 1;
                    forget(connections, &c).await;
                }
                Err(missed) => match pusher.close(&c.connection_id).await {
                    Ok(()) | Err(PushError::Gone) => {
                        tracing::warn!(connection_id = %c.connection_id, order_id = %event.order_id,
                            version = event.version, error = %missed,
                            "a connection missed an event: closed, its client resumes from its cursor");
                        report.closed += 1;
                        forget(connections, &c).await;
                    }
                    Err(close) => {
                        unclosed.push((c.connection_id.clone(), close));
                        kept.push(c);
                    }
                },
            }
        }
        if !unclosed.is_empty() {
            let error = LiveError::Undelivered {
                delivered: kept.len() - unclosed.len(),
                failed: unclosed,
            };
            tracing::error!(order_id = %event.order_id, trader_id = %trader, version = event.version,
                error = %error, "an event missed connections that could not be closed: retried from it");
            return (report, Some((i, error.to_string())));
        }
        live = kept;
        if live.is_empty() {
            break;
        }
    }
    (report, None)
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
