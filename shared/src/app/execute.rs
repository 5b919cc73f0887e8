//! The execute use case (SPEC §5 execute side, §6): one work message brings its order
//! one step closer to what the venue says, and never sends it to the venue twice.
//!
//! - **Claim before send.** A PENDING order is claimed (PENDING → SUBMITTED, a
//!   conditional write) before the venue hears of it; the order id is the venue's
//!   client order id.
//! - **Reconcile, never resend.** A claimed order is first looked up at the venue
//!   by client order id; it is placed only when the venue has never seen it. A
//!   place refused as a duplicate is looked up too. So a redelivered, retried or
//!   post-crash message finds the one venue order instead of making a second.
//! - **Fills from cumulative figures.** The venue reports the cumulative filled
//!   quantity and average price; the increment since our last look is one fill,
//!   its execution id `<venue order id>:<cumulative quantity>`, so a replayed look
//!   is deduplicated by the store (`AlreadyExists`) and by the order's version.
//! - **Resting orders** are looked at again by a delayed re-check message. The
//!   chain of re-checks is guarded in the store (`advance_recheck`): only the
//!   handler that advanced it sends the next one, so duplicates never fork it.
//! - **Cancels** of working orders go to the venue; a fill that arrives meanwhile
//!   is applied (the status table allows it).
//!
//! Any error leaves the message to SQS: it comes back (backoff through its
//! visibility, `functions/execute`) and ends in the DLQ after the retry budget.

use rust_decimal::Decimal;
use tracing::{info, warn};

use super::plan::{AuditContext, plan_transition};
use crate::domain::{Order, OrderEvent, OrderStatus};
use crate::ports::{
    Clock, OrderStore, QueueError, StoreError, Venue, VenueError, VenueOrder, VenueStatus, WorkMessage, WorkQueue,
};

/// Re-reads after a lost race before the message is left for a later delivery.
const ROUNDS: usize = 8;

pub struct ExecuteDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub venue: &'a dyn Venue,
    pub queue: &'a dyn WorkQueue,
    pub clock: &'a dyn Clock,
    /// Delay of the re-check of a resting order.
    pub recheck_delay_secs: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Venue(#[from] VenueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("order {0} kept changing under the executor")]
    Contended(String),
    /// The venue's figures cannot apply to the order (e.g. more filled than ordered).
    #[error("the venue's report does not fit order {order}: {detail}")]
    Mismatch { order: String, detail: String },
}

/// What one round decided.
enum Step {
    Done,
    /// The order changed (ours or someone else's write): look at it again.
    Reread,
    /// Our transition committed: go on from the order as written.
    Continue(Box<Order>),
}

/// State carried across the rounds of one message.
#[derive(Default)]
struct Run {
    /// The venue order as last seen in this run (saves a lookup after a place).
    seen: Option<VenueOrder>,
    cancel_sent: bool,
    /// This run claimed the order, so the venue cannot have it yet (only a claimed
    /// order is placed, and a racing placer's duplicate is refused by the venue):
    /// place without looking it up first.
    claimed: bool,
}

/// Handles one work message. `message_id` goes into the audit records.
pub async fn execute(deps: &ExecuteDeps<'_>, message: &WorkMessage, message_id: &str) -> Result<(), ExecuteError> {
    let (trader, id) = message.ids();
    let ctx = AuditContext {
        actor: "execute".into(),
        request_id: Some(message_id.to_owned()),
        idempotency_key: None,
    };
    let mut run = Run::default();
    let mut current: Option<Order> = None;
    for _ in 0..ROUNDS {
        let order = match current.take() {
            Some(o) => o,
            None => match deps.store.get_order(trader, id).await? {
                Some(o) => o,
                None => {
                    warn!(order_id = %id, trader_id = %trader, "work message for an order that does not exist; dropped");
                    return Ok(());
                }
            },
        };
        match step(deps, message, &ctx, &mut run, &order).await? {
            Step::Done => return Ok(()),
            Step::Reread => {}
            Step::Continue(next) => current = Some(*next),
        }
    }
    Err(ExecuteError::Contended(id.to_string()))
}

async fn step(
    deps: &ExecuteDeps<'_>,
    message: &WorkMessage,
    ctx: &AuditContext,
    run: &mut Run,
    order: &Order,
) -> Result<Step, ExecuteError> {
    use OrderStatus as S;
    match order.status {
        S::Filled | S::Rejected | S::Expired => Ok(Step::Done),
        S::Cancelled => {
            // Claimed, then cancelled (version 3 or more): a placer that lost the race
            // to the cancel may have reached the venue after all. Make sure nothing
            // works there for an order we consider cancelled.
            if order.version >= 3 {
                let at_venue = match run.seen.take() {
                    Some(v) => Some(v),
                    None => deps.venue.find(&order.order_id).await?,
                };
                if let Some(v) = at_venue.filter(|v| v.status.is_open()) {
                    warn!(order_id = %order.order_id, "cancelled order still working at the venue: cancelling it there");
                    cancel_at_venue(deps, &v).await?;
                }
            }
            Ok(Step::Done)
        }
        S::Pending => match message {
            // The cancel use case cancels PENDING orders itself; nothing to do.
            WorkMessage::Cancel { .. } => Ok(Step::Done),
            _ => {
                let step = commit(deps, ctx, order, &OrderEvent::Claim, None).await?;
                run.claimed = matches!(step, Step::Continue(_));
                Ok(step)
            }
        },
        S::Submitted | S::PartiallyFilled | S::CancelRequested => {
            let at_venue = match run.seen.take() {
                Some(v) => Some(v),
                None if std::mem::take(&mut run.claimed) => None,
                None => deps.venue.find(&order.order_id).await?,
            };
            let venue_order = match at_venue {
                Some(v) => v,
                None => return send(deps, ctx, run, order).await,
            };
            reconcile(deps, message, ctx, run, order, venue_order).await
        }
    }
}

/// The order has no venue order yet: place it (or settle a cancel that came first).
async fn send(deps: &ExecuteDeps<'_>, ctx: &AuditContext, run: &mut Run, order: &Order) -> Result<Step, ExecuteError> {
    match order.status {
        OrderStatus::CancelRequested => {
            let event = OrderEvent::ConfirmCancel {
                reason: Some("Cancelled before it reached the venue".into()),
            };
            commit(deps, ctx, order, &event, None).await
        }
        OrderStatus::Submitted => match deps.venue.place(order).await {
            Ok(v) => {
                info!(order_id = %order.order_id, venue_order_id = %v.venue_order_id, status = %v.status, "placed at the venue");
                run.seen = Some(v);
                // Read the order again: a cancel may have committed while we placed.
                Ok(Step::Reread)
            }
            Err(VenueError::Rejected(reason)) => match deps.venue.find(&order.order_id).await? {
                // Refused as a duplicate client order id: it is there after all.
                Some(v) => {
                    run.seen = Some(v);
                    Ok(Step::Reread)
                }
                None => {
                    info!(order_id = %order.order_id, %reason, "rejected by the venue");
                    commit(deps, ctx, order, &OrderEvent::Reject { reason }, None).await
                }
            },
            // Transient: the order may or may not be at the venue; the next delivery
            // looks it up before anything else.
            Err(e) => Err(e.into()),
        },
        _ => Err(ExecuteError::Mismatch {
            order: order.order_id.to_string(),
            detail: format!("{} with fills but no venue order", order.status),
        }),
    }
}

async fn reconcile(
    deps: &ExecuteDeps<'_>,
    message: &WorkMessage,
    ctx: &AuditContext,
    run: &mut Run,
    order: &Order,
    venue: VenueOrder,
) -> Result<Step, ExecuteError> {
    if venue.filled_quantity > order.filled_quantity {
        return apply_fill(deps, ctx, run, order, venue).await;
    }
    let reason = |default: &str| Some(venue.reason.clone().unwrap_or_else(|| default.to_owned()));
    let event = match &venue.status {
        VenueStatus::Filled => return Ok(Step::Done),
        VenueStatus::Canceled | VenueStatus::Replaced => OrderEvent::ConfirmCancel {
            reason: reason("Cancelled at the venue"),
        },
        VenueStatus::Expired => OrderEvent::Expire {
            reason: reason("Expired at the venue"),
        },
        VenueStatus::Rejected if order.filled_quantity.is_zero() && order.status != OrderStatus::PartiallyFilled => {
            OrderEvent::Reject {
                reason: venue.reason.clone().unwrap_or_else(|| "Rejected by the venue".into()),
            }
        }
        VenueStatus::Rejected => OrderEvent::ConfirmCancel {
            reason: reason("Rejected by the venue after partial fills"),
        },
        _open => {
            let cancelling =
                order.status == OrderStatus::CancelRequested || matches!(message, WorkMessage::Cancel { .. });
            if cancelling && !run.cancel_sent && venue.status != VenueStatus::PendingCancel {
                cancel_at_venue(deps, &venue).await?;
                run.cancel_sent = true;
                run.seen = deps.venue.find(&order.order_id).await?;
                return Ok(Step::Continue(Box::new(order.clone())));
            }
            schedule_recheck(deps, message, order).await?;
            return Ok(Step::Done);
        }
    };
    commit(deps, ctx, order, &event, None).await
}

async fn cancel_at_venue(deps: &ExecuteDeps<'_>, venue: &VenueOrder) -> Result<(), ExecuteError> {
    match deps.venue.cancel(&venue.venue_order_id).await {
        // Already done or gone: the next look tells what it became.
        Ok(()) | Err(VenueError::NotCancelable(_)) | Err(VenueError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The increment since our last look as one fill: quantity and the price that makes
/// our booked notional equal the venue's cumulative notional.
async fn apply_fill(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    run: &mut Run,
    order: &Order,
    venue: VenueOrder,
) -> Result<Step, ExecuteError> {
    let mismatch = |detail: String| ExecuteError::Mismatch {
        order: order.order_id.to_string(),
        detail,
    };
    let quantity = venue.filled_quantity - order.filled_quantity;
    if quantity > order.remaining() {
        return Err(mismatch(format!(
            "venue filled {} of {}",
            venue.filled_quantity,
            order.quantity.get()
        )));
    }
    let average = venue
        .average_fill_price
        .ok_or_else(|| mismatch("fills without an average price".into()))?;
    // What we booked so far, exactly (the order's average is rounded); the first
    // fill of an order needs no read.
    let booked: Decimal = if order.filled_quantity.is_zero() {
        Decimal::ZERO
    } else {
        deps.store
            .fills(&order.trader_id, &order.order_id)
            .await?
            .iter()
            .map(|f| f.quantity * f.price)
            .sum()
    };
    let price = ((average * venue.filled_quantity - booked) / quantity).round_dp(crate::domain::money::PRICE_SCALE);
    if price <= Decimal::ZERO {
        return Err(mismatch(format!("derived fill price {price}")));
    }
    let account = deps.store.get_account(&order.trader_id).await?;
    let event = OrderEvent::Fill {
        execution_id: format!("{}:{}", venue.venue_order_id, venue.filled_quantity.normalize()),
        quantity,
        price,
    };
    info!(order_id = %order.order_id, %quantity, %price, "fill");
    run.seen = Some(venue);
    commit(deps, ctx, order, &event, account.as_ref()).await
}

/// Plans and commits one transition; a lost race means "read it again".
async fn commit(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    event: &OrderEvent,
    account: Option<&crate::domain::Account>,
) -> Result<Step, ExecuteError> {
    let write = plan_transition(order, event, account, ctx, deps.clock.now()).map_err(|e| ExecuteError::Mismatch {
        order: order.order_id.to_string(),
        detail: e.to_string(),
    })?;
    let after = write.after.clone();
    match deps.store.transition(write).await {
        Ok(()) => {
            info!(order_id = %order.order_id, from = %order.status, to = %after.status, version = after.version, "transition");
            Ok(Step::Continue(Box::new(after)))
        }
        Err(StoreError::Conflict | StoreError::AlreadyExists) => Ok(Step::Reread),
        Err(e) => Err(e.into()),
    }
}

/// Asks for another look at a resting order later, once per chain position.
async fn schedule_recheck(deps: &ExecuteDeps<'_>, message: &WorkMessage, order: &Order) -> Result<(), ExecuteError> {
    let from = match message {
        WorkMessage::Recheck { seq, .. } => *seq,
        _ => 0,
    };
    let (trader, id) = (&order.trader_id, &order.order_id);
    if !deps.store.advance_recheck(trader, id, from, deps.clock.now()).await? {
        // Another delivery of this message (or an older chain) already carries on.
        return Ok(());
    }
    let next = WorkMessage::Recheck {
        trader_id: trader.clone(),
        order_id: *id,
        seq: from + 1,
    };
    if let Err(e) = deps.queue.send(&next, deps.recheck_delay_secs).await {
        // Undo, so this message's redelivery can advance the chain again.
        if let Err(undo) = deps.store.rewind_recheck(trader, id, from).await {
            warn!(order_id = %id, error = %undo, "could not rewind the re-check chain");
        }
        return Err(e.into());
    }
    Ok(())
}

/// The retry budget of `message` is spent (SQS dead-letters it next): the order
/// keeps its status and says why (`reason`, a `STALL` audit record, a status event),
/// so an operator sees it. Best effort: the message is in the DLQ either way.
pub async fn mark_stalled(deps: &ExecuteDeps<'_>, message: &WorkMessage, message_id: &str, why: &str) {
    let (trader, id) = message.ids();
    let ctx = AuditContext {
        actor: "execute".into(),
        request_id: Some(message_id.to_owned()),
        idempotency_key: None,
    };
    let reason = format!(
        "Execution stopped retrying: {why}. The work message is in the dead-letter queue; redrive it once the cause is fixed"
    );
    for _ in 0..3 {
        let order = match deps.store.get_order(trader, id).await {
            Ok(Some(o)) if !o.status.is_terminal() => o,
            Ok(_) => return,
            Err(e) => {
                warn!(order_id = %id, error = %e, "could not mark the order stalled");
                return;
            }
        };
        let Ok(write) = plan_transition(
            &order,
            &OrderEvent::Stall { reason: reason.clone() },
            None,
            &ctx,
            deps.clock.now(),
        ) else {
            return;
        };
        match deps.store.transition(write).await {
            Ok(()) => {
                warn!(order_id = %id, status = %order.status, "order marked stalled for an operator");
                return;
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => {
                warn!(order_id = %id, error = %e, "could not mark the order stalled");
                return;
            }
        }
    }
}
