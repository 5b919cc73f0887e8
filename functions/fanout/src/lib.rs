//! The fan-out Lambda (issue 18): the bus's rule delivers each `Order Status Changed`
//! event (asynchronous invocation); it goes to every live WebSocket connection of the
//! event's trader (`shared::app::fanout`). A connection that missed it fails the
//! invocation: Lambda retries it (`EventInvokeConfig`), then hands it to the on-failure
//! queue, so no event is dropped silently; clients drop the repeats the retries cause
//! by (order id, version).
//!
//! The same function runs the sweep on its schedule (an EventBridge `Scheduled Event`,
//! every minute): every connection whose token has expired is closed and forgotten
//! (`shared::app::fanout::sweep`), so that it ends at expiry, not at its trader's next
//! event. Both close expired connections, with the same permissions but the Scan.

use std::sync::Arc;

use serde::Deserialize;
use shared::app::fanout::{FanoutReport, SweepReport, fan_out, sweep};
use shared::app::live::LiveError;
use shared::ports::{Clock, Connections, EVENT_DETAIL_TYPE, EVENT_SOURCE, Pusher, StatusEvent};

/// An EventBridge event as Lambda receives it (the fields the fan-out reads).
#[derive(Clone, Debug, Deserialize)]
pub struct BusEvent {
    #[serde(default)]
    pub id: String,
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("event {id}: not an `{EVENT_DETAIL_TYPE}` event of `{EVENT_SOURCE}` (got `{detail_type}` of `{from}`)")]
    NotAStatusEvent {
        id: String,
        from: String,
        detail_type: String,
    },
    #[error("event {id}: the detail is not a status event: {detail}")]
    BadDetail { id: String, detail: String },
    #[error("event {id}: {error}")]
    Live { id: String, error: LiveError },
}

/// EventBridge's scheduled events: `source` and `detail-type`.
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

impl BusEvent {
    pub fn is_schedule(&self) -> bool {
        self.source == SCHEDULE_SOURCE && self.detail_type == SCHEDULE_DETAIL_TYPE
    }
}

pub struct Fanout {
    pub connections: Arc<dyn Connections>,
    pub pusher: Arc<dyn Pusher>,
    pub clock: Arc<dyn Clock>,
}

impl Fanout {
    /// The sweep: closes and forgets every connection past its expiry.
    #[tracing::instrument(skip_all)]
    pub async fn sweep(&self) -> Result<SweepReport, FanoutError> {
        match sweep(self.connections.as_ref(), self.pusher.as_ref(), self.clock.now()).await {
            Ok(report) => {
                tracing::info!(closed = report.closed, gone = report.gone, "expired connections swept");
                Ok(report)
            }
            Err(error) => {
                tracing::error!(error = %error, "the sweep left expired connections open: the next one retries");
                Err(FanoutError::Live {
                    id: "sweep".into(),
                    error,
                })
            }
        }
    }

    #[tracing::instrument(skip_all, fields(event_id = %event.id))]
    pub async fn handle(&self, event: BusEvent) -> Result<FanoutReport, FanoutError> {
        if event.source != EVENT_SOURCE || event.detail_type != EVENT_DETAIL_TYPE {
            return Err(FanoutError::NotAStatusEvent {
                id: event.id,
                from: event.source,
                detail_type: event.detail_type,
            });
        }
        let status: StatusEvent = serde_json::from_value(event.detail).map_err(|e| FanoutError::BadDetail {
            id: event.id.clone(),
            detail: e.to_string(),
        })?;
        match fan_out(
            self.connections.as_ref(),
            self.pusher.as_ref(),
            &status,
            self.clock.now(),
        )
        .await
        {
            Ok(report) => {
                tracing::info!(order_id = %status.order_id, trader_id = %status.trader_id, version = status.version,
                    delivered = report.delivered, gone = report.gone, expired = report.expired, "event fanned out");
                Ok(report)
            }
            Err(error) => {
                tracing::error!(order_id = %status.order_id, trader_id = %status.trader_id, version = status.version,
                    error = %error, "fan-out failed: the invocation is retried");
                Err(FanoutError::Live { id: event.id, error })
            }
        }
    }
}
