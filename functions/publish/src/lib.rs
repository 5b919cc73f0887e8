//! The publish Lambda: consumes the orders table's DynamoDB stream (the outbox) and,
//! for every committed order change, publishes its status event and queues its
//! work (`shared::app::publish`). Partial batch failures name the first record not
//! fully handled; Lambda retries the shard from there, so no record is skipped.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::aws::stream::order_change;
use shared::app::publish::{Failure, publish_changes};
use shared::ports::{StatusEvents, WorkQueue};

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
        let outcome = publish_changes(self.events.as_ref(), self.queue.as_ref(), &changes).await;
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
