//! The execute function: an SQS batch of work messages (SPEC §6). Each message runs
//! `shared::app::execute`; the reply names only the messages that failed
//! (`ReportBatchItemFailures`), so one bad message never fails the batch. A failed
//! message is hidden for an exponential backoff with jitter (its visibility) and
//! comes back; after the queue's `maxReceiveCount` SQS moves it to the DLQ, and the
//! last failure marks the order stalled (reason, `STALL` audit record, event) and is
//! logged as an error naming the order, for the operator.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::app::{ExecuteDeps, execute, mark_stalled};
use shared::ports::{Clock, OrderStore, Venue, WorkMessage, WorkQueue};
use tracing::{Instrument, error, info_span, warn};

/// First retry after about this long; doubles per receive.
const BACKOFF_BASE_SECS: u32 = 2;
/// Longest backoff (SQS keeps a message invisible for at most 12 h).
const BACKOFF_CAP_SECS: u32 = 300;

pub struct Execute {
    pub store: Arc<dyn OrderStore>,
    pub venue: Arc<dyn Venue>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    pub recheck_delay_secs: u32,
    /// The work queue's `maxReceiveCount`: the delivery after which SQS dead-letters.
    pub max_receives: u32,
}

/// Backoff before delivery `receive_count + 1`: base × 2^(n−1), capped, plus up to
/// half of it again as jitter so retries of one burst spread out.
pub fn backoff_secs(receive_count: u32, jitter: f64) -> u32 {
    let exp = receive_count.saturating_sub(1).min(16);
    let base = BACKOFF_BASE_SECS.saturating_mul(1 << exp).min(BACKOFF_CAP_SECS);
    let extra = (f64::from(base) * 0.5 * jitter.clamp(0.0, 1.0)) as u32;
    (base + extra).min(BACKOFF_CAP_SECS)
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

impl Execute {
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            if !self.one(&message).await {
                response.add_failure(id);
            }
        }
        response
    }

    /// True when the message is done with (to be deleted).
    async fn one(&self, message: &SqsMessage) -> bool {
        let id = message.message_id.as_deref().unwrap_or_default();
        let count = receive_count(message);
        let body = message.body.as_deref().unwrap_or_default();
        let work: WorkMessage = match serde_json::from_str(body) {
            Ok(w) => w,
            Err(e) => {
                // Never dropped: it fails until SQS dead-letters it for a person to read.
                error!(message_id = id, error = %e, body, "unreadable work message");
                return false;
            }
        };
        let (trader, order) = work.ids();
        let span =
            info_span!("execute", message_id = id, order_id = %order, trader_id = %trader, receive_count = count);
        let deps = ExecuteDeps {
            store: self.store.as_ref(),
            venue: self.venue.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            recheck_delay_secs: self.recheck_delay_secs,
        };
        let result = execute(&deps, &work, id).instrument(span.clone()).await;
        let _entered = span.enter();
        let Err(e) = result else { return true };
        if count >= self.max_receives {
            error!(error = %e, "retry budget spent: the message goes to the dead-letter queue; the order needs an operator (redrive the DLQ once the cause is fixed)");
            mark_stalled(&deps, &work, id, &e.to_string())
                .instrument(span.clone())
                .await;
        } else {
            warn!(error = %e, "will retry");
        }
        if let Some(handle) = message.receipt_handle.as_deref() {
            let delay = backoff_secs(count, rand::random::<f64>());
            if let Err(v) = self.queue.change_visibility(handle, delay).await {
                warn!(error = %v, "could not set the retry backoff; the queue's visibility timeout applies");
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff_secs(1, 0.0), 2);
        assert_eq!(backoff_secs(2, 0.0), 4);
        assert_eq!(backoff_secs(4, 0.0), 16);
        assert_eq!(backoff_secs(4, 1.0), 24);
        assert_eq!(backoff_secs(30, 1.0), BACKOFF_CAP_SECS);
        assert_eq!(backoff_secs(0, 0.0), 2);
    }
}
