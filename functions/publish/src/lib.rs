//! The publish Lambda: consumes the orders table's DynamoDB stream (the outbox) and,
//! for every committed order change, publishes its status event and queues its
//! work (`shared::app::publish`); for every committed trading state change of an
//! account item (issue 19), its `Trading State Changed` event; for every operator
//! record of the reconciliation sweep (issue 14), its `Order Reconciled` event. Partial batch failures name the first record not
//! fully handled; Lambda retries the shard from there, so no record is skipped. The
//! handler stops before the invocation's deadline (`Context::deadline`), reporting the
//! first record it did not finish: a timeout would fail the whole batch.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::aws::stream::{
    UnreadableRecord, order_change, reconciliation, sequence_number, trading_state_change,
};
use shared::app::publish::{Failure, OperatorEvent, OperatorRecord, Waits, publish_before, publish_operator_events};
use shared::ports::{IntakeStore, OrderStore, StatusEvents, WorkQueue};

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

/// The event of its own a record carries, if any: an account item's trading state
/// change, or an inserted reconciliation record.
fn operator_event(record: &EventRecord) -> Result<Option<OperatorEvent>, UnreadableRecord> {
    if let Some(e) = trading_state_change(record)? {
        return Ok(Some(OperatorEvent::TradingState(e)));
    }
    Ok(reconciliation(record)?.map(OperatorEvent::Reconciled))
}

/// The handler with the ports it uses.
pub struct Publish {
    pub events: Arc<dyn StatusEvents>,
    pub queue: Arc<dyn WorkQueue>,
    /// Read to tell whether an order still waits for its backstop.
    pub orders: Arc<dyn OrderStore>,
    /// The working index, read to tell whether a cancel's message was acted on.
    pub intake: Arc<dyn IntakeStore>,
}

impl Publish {
    #[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
    pub async fn handle(&self, event: LambdaEvent<Event>) -> Result<DynamoDbEventResponse, Error> {
        // Decode up to the first unreadable record: the ones before it are handled,
        // it is reported failed (and logged), the ones after wait for the retry.
        let mut changes = Vec::new();
        let mut unreadable = None;
        // Records that carry an event of their own (a trading state change, issue 19;
        // a reconciliation finding, issue 14), with how many order changes came first.
        let mut operator = Vec::new();
        for record in &event.payload.records {
            let decoded = operator_event(record).and_then(|found| match found {
                Some(e) => {
                    operator.push(OperatorRecord {
                        sequence_number: sequence_number(record).to_owned(),
                        changes_before: changes.len(),
                        event: e,
                    });
                    Ok(None)
                }
                None => order_change(record),
            });
            match decoded {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(sequence_number = %e.sequence_number, detail = %e.detail,
                        "unreadable record: the shard waits on it until it is fixed");
                    unreadable = Some(Failure {
                        sequence_number: e.sequence_number,
                        reason: e.detail,
                    });
                    break;
                }
            }
        }
        // The batch's operator events first (a handful at most): if one cannot go
        // out, its record is the one the shard retries from, and only the order
        // changes before it are handled now.
        let mut operator_failure = None;
        if !operator.is_empty() {
            match publish_operator_events(self.events.as_ref(), &operator).await {
                Ok(n) => tracing::warn!(
                    events = n,
                    "trading state changes and reconciliation findings published"
                ),
                Err((i, failure)) => {
                    if let Some(r) = operator.get(i) {
                        changes.truncate(r.changes_before);
                    }
                    operator_failure = Some(failure);
                    unreadable = None;
                }
            }
        }
        let outcome = publish_before(
            self.events.as_ref(),
            self.queue.as_ref(),
            Waits {
                orders: self.orders.as_ref(),
                intake: self.intake.as_ref(),
            },
            &changes,
            deadline_of(&event.context),
            ROUND_RESERVE,
        )
        .await;
        let failed = outcome.failed.or(operator_failure).or(unreadable);
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
