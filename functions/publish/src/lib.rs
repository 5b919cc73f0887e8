//! The publish Lambda: consumes the orders table's DynamoDB stream (the outbox) and,
//! for every committed order change, publishes its status event and queues its
//! work (`shared::app::publish`); for every committed trading state change of an
//! account item (issue 19), its `Trading State Changed` event. Partial batch failures name the first record not
//! fully handled; Lambda retries the shard from there, so no record is skipped. The
//! handler stops before the invocation's deadline (`Context::deadline`), reporting the
//! first record it did not finish: a timeout would fail the whole batch.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::aws::stream::{order_change, sequence_number, trading_state_change};
use shared::app::publish::{Failure, publish_before};
use shared::ports::{OrderStore, PublishError, StatusEvents, WorkQueue};

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
    /// Read to tell whether an order still waits for its backstop.
    pub orders: Arc<dyn OrderStore>,
}

impl Publish {
    #[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
    pub async fn handle(&self, event: LambdaEvent<Event>) -> Result<DynamoDbEventResponse, Error> {
        // Decode up to the first unreadable record: the ones before it are handled,
        // it is reported failed (and logged), the ones after wait for the retry.
        let mut changes = Vec::new();
        let mut unreadable = None;
        // Trading state changes (issue 19), with their record's sequence number and
        // how many order changes came before them.
        let mut controls = Vec::new();
        for record in &event.payload.records {
            let decoded = trading_state_change(record).and_then(|control| match control {
                Some(c) => {
                    controls.push((sequence_number(record).to_owned(), changes.len(), c));
                    Ok(None)
                }
                None => order_change(record),
            });
            match decoded {
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
        // The batch's trading state changes first (a handful at most): if they cannot
        // go out, the first of them is the record the shard retries from, and only
        // the order changes before it are handled now.
        let mut control_failure = None;
        if !controls.is_empty() {
            let events: Vec<_> = controls.iter().map(|(_, _, c)| c.clone()).collect();
            match self.events.publish_trading_states(&events).await {
                Ok(()) => tracing::warn!(changes = events.len(), "trading state changes published"),
                Err(e) => {
                    let first = match &e {
                        PublishError::Failed { failed, .. } => failed.iter().min().copied().unwrap_or(0),
                        PublishError::Unavailable(_) => 0,
                    };
                    if let Some((sequence_number, before, _)) = controls.get(first) {
                        changes.truncate(*before);
                        control_failure = Some(Failure {
                            sequence_number: sequence_number.clone(),
                            reason: format!("trading state event not published: {e}"),
                        });
                        unreadable = None;
                    }
                }
            }
        }
        let outcome = publish_before(
            self.events.as_ref(),
            self.queue.as_ref(),
            self.orders.as_ref(),
            &changes,
            deadline_of(&event.context),
            ROUND_RESERVE,
        )
        .await;
        let failed = outcome.failed.or(control_failure).or(unreadable);
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
