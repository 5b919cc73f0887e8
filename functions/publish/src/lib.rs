//! The publish Lambda: consumes the orders table's DynamoDB stream (the outbox) and,
//! for every committed order change, publishes its status event and queues its
//! work (`shared::app::publish`). Partial batch failures name the first record not
//! fully handled; Lambda retries the shard from there, so no record is skipped. The
//! handler stops before the invocation's deadline (`Context::deadline`), reporting the
//! first record it did not finish: a timeout would fail the whole batch.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::aws::stream::order_change;
use shared::app::publish::{Failure, publish_before};
use shared::ports::{StatusEvents, WorkQueue};

/// Time a round of publishing needs in the worst case (one SDK operation timeout, 5 s,
/// retries included, plus a margin): no round starts with less than this left.
pub const ROUND_RESERVE: Duration = Duration::from_secs(6);

/// The invocation's deadline as an `Instant`. `None` for a context without one
/// (`deadline` 0: a hand-made context, as in tests).
pub fn deadline_of(context: &lambda_runtime::Context) -> Option<tokio::time::Instant> {
    if context.deadline == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Some(tokio::time::Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now_ms)))
}

/// The handler with the ports it uses.
pub struct Publish {
    pub events: Arc<dyn StatusEvents>,
    pub queue: Arc<dyn WorkQueue>,
}

impl Publish {
    #[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
    pub async fn handle(&self, event: LambdaEvent<Event>) -> Result<DynamoDbEventResponse, Error> {
        // Decode up to the first unreadable record: the ones before it are handled,
        // it is reported failed (and logged), the ones after wait for the retry.
        let mut changes = Vec::new();
        let mut unreadable = None;
        for record in &event.payload.records {
            match order_change(record) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(sequence_number = %e.sequence_number, detail = %e.detail,
                        "unreadable order record: the shard waits on it until it is fixed");
                    unreadable = Some(Failure {
                        sequence_number: e.sequence_number,
                        reason: e.detail,
                    });
                    break;
                }
            }
        }
        let outcome = publish_before(
            self.events.as_ref(),
            self.queue.as_ref(),
            &changes,
            deadline_of(&event.context),
            ROUND_RESERVE,
        )
        .await;
        let failed = outcome.failed.or(unreadable);
        let mut response = DynamoDbEventResponse::default();
        match failed {
            Some(f) => {
                tracing::warn!(sequence_number = %f.sequence_number, reason = %f.reason,
                    events = outcome.events, messages = outcome.messages, "batch stopped at a record; it will be retried");
                let mut item = DynamoDbBatchItemFailure::default();
                item.item_identifier = Some(f.sequence_number);
                response.batch_item_failures.push(item);
            }
            None => tracing::info!(
                changes = changes.len(),
                events = outcome.events,
                messages = outcome.messages,
                "batch published"
            ),
        }
        Ok(response)
    }
}
