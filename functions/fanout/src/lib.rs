//! The fan-out Lambda (issue 18): the orders table's stream delivers every committed
//! order change (the stream event source, as publish's); each change's status event
//! goes to every live WebSocket connection of the order's trader
//! (`shared::app::fanout`), each trader's events in stream order, so that a client sees
//! an order's versions in order. A connection that missed an event is closed (its
//! client resumes from its cursor); if it cannot be closed either, the batch response
//! names the event's record and Lambda retries from it, so nothing is dropped silently.
//!
//! The same function runs the sweep on its schedule (an EventBridge `Scheduled Event`,
//! every minute): every connection whose token has expired is closed and forgotten
//! (`shared::app::fanout::sweep`), so that it ends at expiry, not at its trader's next
//! event. Both close expired connections, with the same permissions but the Scan.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use shared::adapters::aws::stream::order_change;
use shared::app::fanout::{BatchOutcome, FanoutReport, Stopped, SweepReport, fan_out, sweep};
use shared::app::live::LiveError;
use shared::ports::{Clock, Connections, Pusher};

/// What Lambda hands the function: a batch of the orders table's stream, or the
/// sweep's schedule (the fields read of an EventBridge event).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    /// First: a stream event has neither `source` nor `detail-type`.
    Scheduled(ScheduledEvent),
    Stream(Event),
}

#[derive(Clone, Debug, Deserialize)]
pub struct ScheduledEvent {
    #[serde(default)]
    pub id: String,
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error(
        "event {id}: not the sweep's `{SCHEDULE_DETAIL_TYPE}` of `{SCHEDULE_SOURCE}` (got `{detail_type}` of `{from}`)"
    )]
    NotTheSchedule {
        id: String,
        from: String,
        detail_type: String,
    },
    #[error("sweep: {0}")]
    Sweep(LiveError),
}

/// EventBridge's scheduled events: `source` and `detail-type`.
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

impl ScheduledEvent {
    pub fn is_schedule(&self) -> bool {
        self.source == SCHEDULE_SOURCE && self.detail_type == SCHEDULE_DETAIL_TYPE
    }
}

pub struct Fanout {
    pub connections: Arc<dyn Connections>,
    pub pusher: Arc<dyn Pusher>,
    pub clock: Arc<dyn Clock>,
}

/// The answer to a stream batch: the record to retry from, if any.
pub fn batch_response(stopped: Option<&Stopped>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(s) = stopped {
        let mut item = DynamoDbBatchItemFailure::default();
        item.item_identifier = Some(s.sequence_number.clone());
        response.batch_item_failures.push(item);
    }
    response
}

impl Fanout {
    /// The sweep: closes and forgets every connection past its expiry.
    #[tracing::instrument(skip_all)]
    pub async fn sweep(&self, event: &ScheduledEvent) -> Result<SweepReport, FanoutError> {
        if !event.is_schedule() {
            return Err(FanoutError::NotTheSchedule {
                id: event.id.clone(),
                from: event.source.clone(),
                detail_type: event.detail_type.clone(),
            });
        }
        match sweep(self.connections.as_ref(), self.pusher.as_ref(), self.clock.now()).await {
            Ok(report) => {
                tracing::info!(closed = report.closed, gone = report.gone, "expired connections swept");
                Ok(report)
            }
            Err(error) => {
                tracing::error!(error = %error, "the sweep left expired connections open: the next one retries");
                Err(FanoutError::Sweep(error))
            }
        }
    }

    /// A batch of the stream: its records' events fanned out. A record that cannot be
    /// read is skipped, logged: no event can be made of it (publish, the outbox, stops at
    /// it and its discard is redriven from the table), and retrying it would hold every
    /// trader's live updates behind it for the mapping's 10 minutes.
    #[tracing::instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle(&self, event: &Event) -> BatchOutcome {
        let mut changes = Vec::new();
        for record in &event.records {
            match order_change(record) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(e) => tracing::error!(sequence_number = %e.sequence_number, detail = %e.detail,
                    "unreadable order record: not fanned out (publish stops at it)"),
            }
        }
        let outcome = fan_out(
            self.connections.as_ref(),
            self.pusher.as_ref(),
            &changes,
            self.clock.now(),
        )
        .await;
        let FanoutReport {
            delivered,
            gone,
            expired,
            foreign,
            closed,
        } = outcome.report;
        match &outcome.stopped {
            Some(s) => {
                tracing::warn!(sequence_number = %s.sequence_number, reason = %s.reason, events = outcome.events,
                delivered, gone, expired, foreign, closed, "batch stopped at a record; it will be retried")
            }
            None => tracing::info!(
                events = outcome.events,
                delivered,
                gone,
                expired,
                foreign,
                closed,
                "batch fanned out"
            ),
        }
        outcome
    }
}
