//! Publish use case: the outbox consumer. The orders table's stream carries every
//! committed change of an order; for each one this publishes its `Order Status
//! Changed` event (SPEC §7) and queues the work the change calls for, so that a
//! commit can never be left unannounced or unqueued, whatever failed after it.
//!
//! The work is the outbox's copy of what the API already sent itself (the fast path,
//! `app::fast_path`): a [`WorkMessage::Backstop`], sent [`BACKSTOP_DELAY_SECS`] late and
//! only for an order that, read now, still waits for it (its executor has not claimed
//! it; the venue has not confirmed its cancel). When the fast path worked, the order
//! has usually moved on by the time the stream brings its change here, and the copy
//! costs one read instead of an execute invocation; when it failed (the send failed,
//! the function died after its commit), the copy does the work a few seconds late.
//! A cancel waits for the venue's end of the order (the intake and its sweep book
//! it), long after its message was acted on: the working index's mark of the
//! executor's part done (`IntakeStore::cancel_done`: the venue showed the cancel
//! under way, or the order ended there) tells the two apart, so a delivered cancel
//! message costs a read here, not a second execute invocation five seconds later.
//!
//! Two other kinds of record carry an event of their own, published by
//! [`publish_operator_events`]: an operator's trading state change (`Trading State
//! Changed`) and a finding of the reconciliation sweep (`Order Reconciled`, issue 14:
//! its operator record is inserted in the same transaction as the correction, so
//! the insert is the durable trigger: one event per correction, at least once on the
//! bus, deduped by its `reconciliation_id`).
//!
//! Changes are handled in stream order. The result names the first change that
//! was not fully handled: everything before it is done, and the caller (Lambda's
//! stream event source) retries from it, so nothing is skipped. Changes after it
//! may already have been handled too; they are handled again on the retry, which
//! is harmless: events are at-least-once (consumers dedupe by order id and
//! version) and the executor claims orders idempotently.

use crate::domain::OrderStatus;
pub use crate::domain::change::{ChangeKind, OrderChange};
use crate::ports::{
    BACKSTOP_DELAY_SECS, Backstopped, IntakeStore, OrderStore, PublishError, ReconciliationEvent, StatusEvent,
    StatusEvents, TradingStateEvent, WorkMessage, WorkQueue,
};

/// What one change calls for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    pub event: Option<StatusEvent>,
    pub work: Option<WorkMessage>,
}

/// The status event of a change (the one [`effects`] publishes): an INSERT's, with no
/// previous status, or a MODIFY's that raised the version; `None` for anything else.
/// The fan-out reads the same stream and sends the same events (`app::fanout`).
pub fn status_event(change: &OrderChange) -> Option<StatusEvent> {
    match (change.kind, &change.old, &change.new) {
        (ChangeKind::Insert, _, Some(new)) => Some(StatusEvent::of(None, new)),
        (ChangeKind::Modify, Some(old), Some(new)) if new.version > old.version => {
            Some(StatusEvent::of(Some(old.status), new))
        }
        _ => None,
    }
}

/// The event and work of a change:
/// - INSERT: an event with no previous status; a PENDING order gets the backstop of
///   its execute message.
/// - MODIFY that raised the version: an event from the old status; a move into
///   CANCEL_REQUESTED gets the backstop of its cancel message.
/// - anything else (a MODIFY that left the version alone, a REMOVE): nothing.
pub fn effects(change: &OrderChange) -> Effects {
    let backstop = |new: &crate::domain::Order, of| WorkMessage::Backstop {
        trader_id: new.trader_id.clone(),
        order_id: new.order_id,
        of,
    };
    match (change.kind, &change.old, &change.new) {
        (ChangeKind::Insert, _, Some(new)) => Effects {
            event: status_event(change),
            work: (new.status == OrderStatus::Pending).then(|| backstop(new, Backstopped::Execute)),
        },
        (ChangeKind::Modify, Some(old), Some(new)) if new.version > old.version => Effects {
            event: status_event(change),
            work: match (old.status, new.status) {
                (o, OrderStatus::CancelRequested) if o != OrderStatus::CancelRequested => {
                    Some(backstop(new, Backstopped::Cancel))
                }
                (o, OrderStatus::ReplaceRequested) if o != OrderStatus::ReplaceRequested => {
                    Some(backstop(new, Backstopped::Replace))
                }
                _ => None,
            },
        },
        _ => Effects::default(),
    }
}

/// Where [`publish_changes`] reads whether an order still waits for its backstop.
#[derive(Clone, Copy)]
pub struct Waits<'a> {
    /// The order, read now.
    pub orders: &'a dyn OrderStore,
    /// The working index's mark of a cancel whose executor's part is over.
    pub intake: &'a dyn IntakeStore,
}

/// Whether the backstop `work` of change `at` is still needed: no later change of the
/// batch shows its order past the wait, no executor marked its part of the cancel
/// done, and the order read now still waits (a read that fails, or finds nothing,
/// keeps it: a needless copy costs an invocation, a missing one an order).
async fn still_needed(waits: Waits<'_>, changes: &[OrderChange], at: usize, work: &WorkMessage) -> bool {
    let WorkMessage::Backstop {
        trader_id,
        order_id,
        of,
    } = work
    else {
        return true;
    };
    let moved_on = changes
        .iter()
        .skip(at + 1)
        .filter_map(|c| c.new.as_ref())
        .any(|o| o.order_id == *order_id && !of.waits(o.status));
    if moved_on {
        return false;
    }
    if *of == Backstopped::Cancel {
        match waits.intake.cancel_done(order_id).await {
            Ok(true) => return false,
            Ok(false) => {}
            Err(e) => tracing::warn!(order_id = %order_id, error = %e, "working index not read: the order decides"),
        }
    }
    match waits.orders.get_order(trader_id, order_id).await {
        Ok(Some(order)) => of.waits(order.status),
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(order_id = %order_id, error = %e, "order not read: its backstop goes out");
            true
        }
    }
}

/// The first change that was not fully handled, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub sequence_number: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events and work messages sent (including any for changes after a failure).
    pub events: usize,
    pub messages: usize,
    pub failed: Option<Failure>,
}

/// Handles `changes` in order (see the module doc for what a failure means).
///
/// The events go out in one `publish` call (the adapter batches PutEvents by 10 and
/// says which entries failed) while the work messages go out in one `send_all`
/// (SendMessageBatch by 10, in order), at the same time: an event does not wait
/// for the SQS round trips of the batch.
pub async fn publish_changes(
    events: &dyn StatusEvents,
    queue: &dyn WorkQueue,
    waits: Waits<'_>,
    changes: &[OrderChange],
) -> Outcome {
    let planned: Vec<Effects> = changes.iter().map(effects).collect();
    // Which change each event belongs to.
    let (owners, batch): (Vec<usize>, Vec<StatusEvent>) = planned
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.event.clone().map(|ev| (i, ev)))
        .unzip();

    let publish = async {
        if batch.is_empty() {
            return (0, None);
        }
        match events.publish(&batch).await {
            Ok(()) => (batch.len(), None),
            Err(PublishError::Failed { failed, detail, .. }) => (
                batch.len().saturating_sub(failed.len()),
                failed
                    .iter()
                    .filter_map(|&k| owners.get(k).copied())
                    .min()
                    .map(|i| (i, format!("status event not published: {detail}"))),
            ),
            Err(e @ PublishError::Unavailable(_)) => (0, owners.first().map(|&i| (i, e.to_string()))),
        }
    };
    let send = async {
        // Backstops of orders that no longer wait are dropped: read in parallel, while
        // the events go out.
        let needed = futures::future::join_all(planned.iter().enumerate().map(|(i, e)| async move {
            match &e.work {
                Some(w) => still_needed(waits, changes, i, w).await,
                None => false,
            }
        }))
        .await;
        // Which change each work message belongs to.
        let (senders, work): (Vec<usize>, Vec<WorkMessage>) = planned
            .iter()
            .zip(needed)
            .enumerate()
            .filter_map(|(i, (e, keep))| e.work.clone().filter(|_| keep).map(|w| (i, w)))
            .unzip();
        if work.is_empty() {
            return (0, None);
        }
        match queue.send_all(&work, BACKSTOP_DELAY_SECS).await {
            Ok(()) => (work.len(), None),
            Err((k, e)) => (k, senders.get(k).map(|&i| (i, format!("work message not queued: {e}")))),
        }
    };
    let ((published, event_failure), (messages, send_failure)) = tokio::join!(publish, send);

    let failed = [event_failure, send_failure]
        .into_iter()
        .flatten()
        .min_by_key(|(i, _)| *i)
        .and_then(|(i, reason)| {
            changes.get(i).map(|c| Failure {
                sequence_number: c.sequence_number.clone(),
                reason,
            })
        });
    Outcome {
        events: published,
        messages,
        failed,
    }
}

/// Changes per round of [`publish_before`]: one PutEvents call's worth (10 entries).
pub const ROUND: usize = 10;

/// [`publish_changes`] in rounds of [`ROUND`] changes that stops before `deadline`: the
/// first round always runs (a batch always makes progress, however short the deadline
/// a local runtime hands out; its SDK calls are bounded anyway), a later one starts
/// only while `reserve` (its worst case: one SDK operation timeout) is left and is cut
/// off at the deadline. The first
/// change of a round not started or not finished is reported failed, so the caller
/// reports it to Lambda as a batch item failure instead of timing out, which would
/// fail the whole batch and re-send its work. `None`: no deadline.
pub async fn publish_before(
    events: &dyn StatusEvents,
    queue: &dyn WorkQueue,
    waits: Waits<'_>,
    changes: &[OrderChange],
    deadline: Option<tokio::time::Instant>,
    reserve: std::time::Duration,
) -> Outcome {
    let mut total = Outcome::default();
    for (n, round) in changes.chunks(ROUND).enumerate() {
        let Some(first) = round.first() else { break };
        let stop = |reason: &str| Failure {
            sequence_number: first.sequence_number.clone(),
            reason: reason.to_owned(),
        };
        let out = match deadline {
            Some(d) if n > 0 && tokio::time::Instant::now() + reserve >= d => {
                total.failed = Some(stop("stopped before the function's deadline; the rest is retried"));
                break;
            }
            Some(d) if n > 0 => match tokio::time::timeout_at(d, publish_changes(events, queue, waits, round)).await {
                Ok(out) => out,
                Err(_) => {
                    total.failed = Some(stop("cut off at the function's deadline; the rest is retried"));
                    break;
                }
            },
            // The first round, or no deadline: it runs to its end (its SDK calls are bounded).
            _ => publish_changes(events, queue, waits, round).await,
        };
        total.events += out.events;
        total.messages += out.messages;
        if out.failed.is_some() {
            total.failed = out.failed;
            break;
        }
    }
    total
}

/// An event a record of an item other than an order carries.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorEvent {
    TradingState(TradingStateEvent),
    Reconciled(ReconciliationEvent),
}

/// A record of the batch that carries an [`OperatorEvent`], and how many order changes
/// of the batch come before it (stream order).
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorRecord {
    pub sequence_number: String,
    pub changes_before: usize,
    pub event: OperatorEvent,
}

/// Publishes the events of `records` (the trading states in one call, the
/// reconciliations in another, at the same time; each call batches PutEvents by 10
/// and says which entries failed). `Err`: the first record, in stream order, whose
/// event was not published (its index in `records`) and why: the caller handles only
/// the order changes before it and reports it failed, so the shard is retried from it.
/// Records after it whose events went out go out again on the retry (at least once).
pub async fn publish_operator_events(
    events: &dyn StatusEvents,
    records: &[OperatorRecord],
) -> Result<usize, (usize, Failure)> {
    let (mut trading, mut reconciled) = (Vec::new(), Vec::new());
    for (i, r) in records.iter().enumerate() {
        match &r.event {
            OperatorEvent::TradingState(e) => trading.push((i, e.clone())),
            OperatorEvent::Reconciled(e) => reconciled.push((i, e.clone())),
        }
    }
    /// The index in `records` of the first entry of `sent` not published, and why.
    fn first_failed<T>(sent: &[(usize, T)], result: Result<(), PublishError>, what: &str) -> Option<(usize, String)> {
        let e = result.err()?;
        let first = match &e {
            PublishError::Failed { failed, .. } => failed.iter().filter_map(|&k| sent.get(k)).map(|(i, _)| *i).min(),
            PublishError::Unavailable(_) => sent.first().map(|(i, _)| *i),
        }?;
        Some((first, format!("{what} not published: {e}")))
    }
    let publish_trading = async {
        if trading.is_empty() {
            return None;
        }
        let batch: Vec<TradingStateEvent> = trading.iter().map(|(_, e)| e.clone()).collect();
        first_failed(
            &trading,
            events.publish_trading_states(&batch).await,
            "trading state event",
        )
    };
    let publish_reconciled = async {
        if reconciled.is_empty() {
            return None;
        }
        let batch: Vec<ReconciliationEvent> = reconciled.iter().map(|(_, e)| e.clone()).collect();
        first_failed(
            &reconciled,
            events.publish_reconciliations(&batch).await,
            "reconciliation event",
        )
    };
    let (a, b) = tokio::join!(publish_trading, publish_reconciled);
    match [a, b].into_iter().flatten().min_by_key(|(i, _)| *i) {
        None => Ok(records.len()),
        Some((i, reason)) => {
            let sequence_number = records.get(i).map(|r| r.sequence_number.clone()).unwrap_or_default();
            Err((
                i,
                Failure {
                    sequence_number,
                    reason,
                },
            ))
        }
    }
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
