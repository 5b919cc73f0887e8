// Long because: one use case, the execute step per order status (claim, place, reconcile, fill, cancel, re-check),
// being changed separately; split left for later.
//! The execute use case (SPEC §5 execute side, §6): one work message brings its order
//! one step closer to what the venue says, and never sends it to the venue twice.
//!
//! - **Claim before send.** A PENDING order is claimed (PENDING → SUBMITTED, a
//!   conditional write) before the venue hears of it; the order id is the venue's
//!   client order id.
//! - **Reconcile, never resend.** A claimed order is first looked up at the venue
//!   by client order id; it is placed only when the venue has never seen it. A
//!   place refused as a duplicate is looked up too. So a redelivered, retried or
//!   post-crash message finds the one venue order instead of making a second. An
//!   order whose placements were all refused by a rate limit (our budget's, or the
//!   venue's 429: not accepted) is known never sent: it is out of the working index
//!   (`IntakeStore::is_working`), and is placed again without a lookup. Only an
//!   unknown answer (a timeout, a lost response, a crash) costs a lookup.
//! - **No fills here, no re-checks.** Execute books no fill: every execution is the
//!   venue's own, booked by the venue intake (`app::intake`) by its execution id at
//!   the venue's price, quantity and time. Before an order reaches the venue it gets
//!   its locator and a place in the working index (`IntakeStore::put_working`);
//!   from then on the intake books its executions and the reconciliation sweep ends
//!   it when the venue does, so a resting order costs no venue call of its own (no
//!   per-order re-check chain). Execute ends an order itself only when the venue's
//!   answer in hand already says so and every execution of it is booked.
//! - **Cancels** of working orders go to the venue; a fill that arrives meanwhile
//!   is booked by the intake (the status table allows it), and the sweep confirms
//!   the cancel once the venue's order has ended.
//! - **A placement window.** The claim records until when the placement that follows
//!   may still be acted on by the venue (`ExecutePolicy::placement_window`: the
//!   adapter's whole-request timeout plus `PLACEMENT_MARGIN`); a placement outside
//!   it first records a new one (`RetryPlacement`). "Not found at the venue" confirms
//!   a cancel only when the lookup began after the window: before it, the placement
//!   may still land, so the cancel fails and SQS brings it back after its backoff.
//!   A fill the venue reports for an order held as cancelled anyway is booked.
//! - **Stale orders expire.** An order whose time in force ended before execution
//!   got to it (`Order::stale_reason`: a DAY order of an earlier session, a market
//!   or IOC/FOK order older than `max_immediate_age`) expires instead of reaching
//!   the venue.
//! - **Booked notional on the order.** A fill's price comes from the venue's
//!   cumulative notional minus the order's `booked_notional`; no read of the fills
//!   (an item written before the field existed reads them once).
//!
//! Any error leaves the message to SQS: it comes back (backoff through its
//! visibility, `functions/execute`) and ends in the DLQ after the retry budget.

use std::time::Duration;

use tracing::{error, info, warn};

use super::plan::{AuditContext, plan_transition};
use crate::domain::{Order, OrderEvent, OrderStatus, Timestamp};
use crate::ports::{
    Attention, AttentionKind, Clock, IntakeStore, OrderStore, StoreError, Venue, VenueError, VenueOrder, VenueStatus,
    WorkMessage, WorkingOrder,
};

#[path = "execute_replace.rs"]
mod replace;
use replace::{live_version, replace_step};

/// For the venue intake: settles a pending replace that an execution in hand does
/// not fit (`execute_replace::settle_for_execution`). Whether the order changed.
pub(crate) async fn settle_replace_for_execution(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
) -> Result<bool, ExecuteError> {
    Ok(!matches!(
        replace::settle_for_execution(deps, ctx, order).await?,
        Step::Reread
    ))
}

/// Re-reads after a lost race before the message is left for a later delivery.
const ROUNDS: usize = 8;

/// How long after its whole-request timeout the venue may still act on a placement
/// our adapter gave up on: the venue's own processing of a request already received,
/// plus clock skew between the functions that compare the deadline. The one place
/// this bound is stated.
pub const PLACEMENT_MARGIN: Duration = Duration::from_secs(3);

/// The executor's time rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutePolicy {
    /// The venue adapter's whole-request timeout (`VENUE_TIMEOUT_MS`).
    pub venue_timeout: Duration,
    /// A market or IOC/FOK order older than this expires instead of reaching the
    /// venue (`MAX_MARKET_ORDER_AGE_SECS`).
    pub max_immediate_age: Duration,
}

/// The production defaults: the venue adapter's default 2 s timeout (`functions/execute`
/// checks they agree) and `MAX_MARKET_ORDER_AGE_SECS`'s default.
impl Default for ExecutePolicy {
    fn default() -> Self {
        Self {
            venue_timeout: Duration::from_secs(2),
            max_immediate_age: Duration::from_secs(crate::config::DEFAULT_MAX_MARKET_ORDER_AGE_SECS),
        }
    }
}

impl ExecutePolicy {
    /// From the start of a placement request until the venue can no longer act on
    /// it: the request's whole timeout plus the margin.
    pub fn placement_window(&self) -> Duration {
        self.venue_timeout + PLACEMENT_MARGIN
    }
}

fn later(t: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_unix_millis(t.unix_millis().saturating_add(ms)).unwrap_or(t)
}

pub struct ExecuteDeps<'a> {
    pub store: &'a dyn OrderStore,
    /// Where the order locator (its trader by order id) and the working index entry
    /// go, written before the venue hears of an order, so the venue intake can book
    /// its executions and the sweep see it end.
    pub intake: &'a dyn IntakeStore,
    pub venue: &'a dyn Venue,
    pub clock: &'a dyn Clock,
    pub policy: ExecutePolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Venue(#[from] VenueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("order {0} kept changing under the executor")]
    Contended(String),
    /// The venue's figures cannot apply to the order (e.g. more filled than ordered).
    #[error("the venue's report does not fit order {order}: {detail}")]
    Mismatch { order: String, detail: String },
    /// A cancel found no venue order while a placement may still be in flight: it
    /// is decided on a later delivery, once the venue's answer is certain.
    #[error("order {order} is not at the venue yet, but a placement may land until {until}: the cancel waits")]
    PlacementInFlight { order: String, until: Timestamp },
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
    /// This run placed the order (and put it in the working index just before).
    placed: bool,
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
    // The outbox's copy of a fast-path message acts only while the order still waits
    // for the work; then it is the message it backs.
    let backed;
    let message = match message {
        WorkMessage::Backstop { of, .. } => {
            let Some(order) = deps.store.get_order(trader, id).await? else {
                warn!(order_id = %id, trader_id = %trader, "backstop for an order that does not exist; dropped");
                return Ok(());
            };
            if !of.waits(order.status) {
                info!(order_id = %id, status = %order.status, work = ?of, "backstop not needed: the fast path's message got there");
                return Ok(());
            }
            warn!(order_id = %id, status = %order.status, work = ?of, "backstop acts: the fast path's message did not arrive");
            backed = of.message(trader, *id);
            current = Some(order);
            &backed
        }
        m => m,
    };
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
    if matches!(message, WorkMessage::Replace { .. }) && order.status != S::ReplaceRequested {
        // The replace was answered (or a cancel overtook it, whose message acts).
        return Ok(Step::Done);
    }
    match order.status {
        S::Filled | S::Rejected | S::Expired => Ok(Step::Done),
        S::ReplaceRequested => replace_step(deps, ctx, order).await,
        S::Cancelled => {
            // Claimed, then cancelled (version 3 or more): a placer that lost the race
            // to the cancel may have reached the venue after all. Whatever it did there
            // is booked, and nothing may keep working for an order we hold cancelled.
            if order.version >= 3 {
                let at_venue = match run.seen.take() {
                    Some(v) => Some(v),
                    None => live_version(deps, order).await?,
                };
                if let Some(v) = at_venue {
                    if v.filled_quantity > order.filled_quantity {
                        // The venue intake books it (its locator was written before the
                        // placement): logged here for an operator.
                        error!(order_id = %order.order_id, trader_id = %order.trader_id, venue_filled = %v.filled_quantity,
                            booked = %order.filled_quantity,
                            "late fill: the venue filled an order held as cancelled (it acted after the placement window); the intake books it");
                    }
                    if v.status.is_open() {
                        warn!(order_id = %order.order_id, "cancelled order still working at the venue: cancelling it there");
                        cancel_at_venue(deps, &v).await?;
                    }
                }
            }
            Ok(Step::Done)
        }
        S::Pending => match message {
            // The cancel use case cancels PENDING orders itself; nothing to do.
            WorkMessage::Cancel { .. } => Ok(Step::Done),
            _ => {
                let max_age = i64::try_from(deps.policy.max_immediate_age.as_secs()).unwrap_or(i64::MAX);
                if let Some(reason) = order.stale_reason(deps.clock.now(), max_age) {
                    warn!(order_id = %order.order_id, %reason, "stale order: expired instead of placed");
                    return commit(deps, ctx, order, &OrderEvent::Expire { reason: Some(reason) }, None).await;
                }
                let step = commit_placing(deps, ctx, order, &OrderEvent::Claim).await?;
                run.claimed = matches!(step, Step::Continue(_));
                Ok(step)
            }
        },
        S::Submitted | S::PartiallyFilled | S::CancelRequested => {
            // Taken before the lookup: its answer is certain only if the lookup began
            // after every placement window.
            let looked_at = deps.clock.now();
            let at_venue = match run.seen.take() {
                Some(v) => Some(v),
                None if std::mem::take(&mut run.claimed) => None,
                // Not in the working index: every placement of it was refused by a rate
                // limit before the venue took it (or none was tried), so there is
                // nothing to look up. Spares the venue budget one lookup per retry of a
                // deferred placement.
                None if order.status == S::Submitted && !deps.intake.is_working(&order.order_id).await? => None,
                None => live_version(deps, order).await?,
            };
            let venue_order = match at_venue {
                Some(v) => v,
                None => return send(deps, ctx, run, order, looked_at).await,
            };
            reconcile(deps, message, ctx, run, order, venue_order).await
        }
    }
}

/// Until when a placement of `order` may still be acted on by the venue. An item
/// written before the deadline was recorded counts from its last change, which is
/// no earlier than its claim.
fn placement_deadline(deps: &ExecuteDeps<'_>, order: &Order) -> Timestamp {
    order
        .placement_deadline
        .unwrap_or_else(|| later(order.updated_at, deps.policy.placement_window()))
}

/// The order has no venue order yet (as of a lookup that began at `looked_at`):
/// place it, or settle a cancel that came first once no placement can land.
async fn send(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    run: &mut Run,
    order: &Order,
    looked_at: Timestamp,
) -> Result<Step, ExecuteError> {
    let deadline = placement_deadline(deps, order);
    let settled = looked_at > deadline;
    match order.status {
        OrderStatus::CancelRequested if settled => {
            let event = OrderEvent::ConfirmCancel {
                reason: Some("Cancelled before it reached the venue".into()),
            };
            commit(deps, ctx, order, &event, None).await
        }
        OrderStatus::CancelRequested => {
            info!(order_id = %order.order_id, until = %deadline, "cancel before the venue answered the placement: retried later");
            Err(ExecuteError::PlacementInFlight {
                order: order.order_id.to_string(),
                until: deadline,
            })
        }
        OrderStatus::Submitted if settled && stale(deps, order).is_some() => {
            // Claimed long ago and never placed (its placer died, its message sat in
            // the dead-letter queue): too late to go now.
            let reason = stale(deps, order);
            warn!(order_id = %order.order_id, reason = reason.as_deref().unwrap_or_default(), "stale order: expired instead of placed");
            commit(deps, ctx, order, &OrderEvent::Expire { reason }, None).await
        }
        OrderStatus::Submitted if later(deps.clock.now(), deps.policy.venue_timeout) > deadline => {
            // A whole request would end after the window the cancel side relies on:
            // record a new window before the venue hears of the order.
            let step = commit_placing(deps, ctx, order, &OrderEvent::RetryPlacement).await?;
            run.claimed = matches!(step, Step::Continue(_));
            Ok(step)
        }
        OrderStatus::Submitted => {
            // The locator and the working index first: every venue order has both
            // before it can execute.
            deps.intake.put_order_ref(&order.order_id, &order.trader_id).await?;
            deps.intake
                .put_working(&WorkingOrder {
                    order_id: order.order_id,
                    trader_id: order.trader_id.clone(),
                    venue_order_id: None,
                    cancel_done: false,
                })
                .await?;
            place(deps, ctx, run, order).await
        }
        _ => Err(ExecuteError::Mismatch {
            order: order.order_id.to_string(),
            detail: format!("{} with fills but no venue order", order.status),
        }),
    }
}

/// Sends the claimed `order` to the venue.
async fn place(deps: &ExecuteDeps<'_>, ctx: &AuditContext, run: &mut Run, order: &Order) -> Result<Step, ExecuteError> {
    match deps.venue.place(order).await {
        Ok(v) => {
            info!(order_id = %order.order_id, venue_order_id = %v.venue_order_id, status = %v.status, "placed at the venue");
            remember_venue_order(deps, order, &v.venue_order_id).await;
            run.seen = Some(v);
            run.placed = true;
            // Read the order again: a cancel may have committed while we placed.
            Ok(Step::Reread)
        }
        Err(VenueError::Rejected(reason)) => match deps.venue.find(&order.order_id).await? {
            // Refused as a duplicate client order id: it is there after all.
            Some(v) => {
                remember_venue_order(deps, order, &v.venue_order_id).await;
                run.seen = Some(v);
                Ok(Step::Reread)
            }
            None => {
                info!(order_id = %order.order_id, %reason, "rejected by the venue");
                commit(deps, ctx, order, &OrderEvent::Reject { reason }, None).await
            }
        },
        // Our budget deferred it (the request was never made) or the venue answered
        // 429 (Alpaca: not accepted): nothing was sent. Out of the working index, so
        // the next delivery places it without a lookup and no sweep looks for it. (A
        // racing delivery's placement in flight may still land: the next placement is
        // then refused as a duplicate and looked up, which puts it back.)
        Err(e @ VenueError::RateLimited { .. }) => {
            if let Err(store) = deps.intake.remove_working(&order.order_id).await {
                warn!(order_id = %order.order_id, error = %store,
                    "placement not sent (rate limit), but the working index kept it: the next delivery looks it up");
            }
            Err(e.into())
        }
        // Transient: the order may or may not be at the venue; the next delivery
        // looks it up before anything else.
        Err(e) => Err(e.into()),
    }
}

/// Records which of our orders venue order `venue_order_id` works for (the intake's
/// alias), so the intake books its first execution without asking the venue:
/// Alpaca's FILL activity names only the venue order. One put per placement instead
/// of a venue call per order that trades. Best effort: without the alias the intake
/// looks the venue order up once.
async fn remember_venue_order(deps: &ExecuteDeps<'_>, order: &Order, venue_order_id: &str) {
    if let Err(e) = deps.intake.put_venue_alias(venue_order_id, &order.order_id).await {
        warn!(order_id = %order.order_id, %venue_order_id, error = %e,
            "venue order alias not recorded: the intake looks the venue order up at its first execution");
    }
}

/// `order`'s working index entry as execute writes it after a look at `venue`: a
/// replacement of ours works under its own venue order id; `cancel_done` when the
/// executor's part of a cancel is over (`WorkingOrder::cancel_done`).
fn working_entry(order: &Order, venue: &VenueOrder, cancel_done: bool) -> WorkingOrder {
    WorkingOrder {
        order_id: order.order_id,
        trader_id: order.trader_id.clone(),
        venue_order_id: order.venue_client_id.is_some().then(|| venue.venue_order_id.clone()),
        cancel_done,
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
    let cancelling = order.status == OrderStatus::CancelRequested || matches!(message, WorkMessage::Cancel { .. });
    if venue.status.is_open() {
        if cancelling && !run.cancel_sent && venue.status != VenueStatus::PendingCancel {
            cancel_at_venue(deps, &venue).await?;
            run.cancel_sent = true;
            run.seen = live_version(deps, order).await?;
            return Ok(Step::Continue(Box::new(order.clone())));
        }
        // Working (or its cancel under way): the intake books its executions and the
        // sweep ends it when the venue does. An order placed before the working index
        // existed (its last re-check still queued) joins it here; for any other the
        // put rewrites the same item (none after this run's own placement: it put it),
        // marking a cancel the venue shows under way, so the outbox sends no backstop
        // of the cancel message acted on (`app::publish`). Only the venue's own
        // `pending_cancel` counts: a cancel request answered but not shown yet is
        // left to the backstop, which sends it again if the order is still open.
        let cancel_done = cancelling && venue.status == VenueStatus::PendingCancel;
        if !run.placed || cancel_done {
            deps.intake
                .put_working(&working_entry(order, &venue, cancel_done))
                .await?;
        }
        return Ok(Step::Done);
    }
    if venue.filled_quantity != order.filled_quantity {
        // Ended at the venue with executions not booked yet: the intake books them,
        // then the sweep ends the order (never with fewer fills than the venue's).
        info!(order_id = %order.order_id, venue_status = %venue.status, venue_filled = %venue.filled_quantity,
            booked = %order.filled_quantity, "ended at the venue; its executions are booked by the intake");
        if cancelling && venue.status != VenueStatus::Replaced {
            // Nothing is left to cancel: the cancel's part is done, and the outbox
            // sends no backstop of its message. Best effort: without the mark, the
            // backstop finds the same a few seconds later.
            if let Err(e) = deps.intake.put_working(&working_entry(order, &venue, true)).await {
                warn!(order_id = %order.order_id, error = %e, "cancel not marked done in the working index: its backstop goes out");
            }
        }
        return Ok(Step::Done);
    }
    let reason = |default: &str| Some(venue.reason.clone().unwrap_or_else(|| default.to_owned()));
    let event = match &venue.status {
        // Its executions (booked) ended it, or the sweep follows the replacement that
        // works on for it: nothing to do here.
        VenueStatus::Filled | VenueStatus::Replaced => return Ok(Step::Done),
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
        _cancelled => OrderEvent::ConfirmCancel {
            reason: reason("Cancelled at the venue"),
        },
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

fn stale(deps: &ExecuteDeps<'_>, order: &Order) -> Option<String> {
    let max_age = i64::try_from(deps.policy.max_immediate_age.as_secs()).unwrap_or(i64::MAX);
    order.stale_reason(deps.clock.now(), max_age)
}

/// Plans and commits one transition; a lost race means "read it again".
async fn commit(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    event: &OrderEvent,
    account: Option<&crate::domain::Account>,
) -> Result<Step, ExecuteError> {
    commit_with(deps, ctx, order, event, account, None).await
}

/// Commits a transition after which this handler places the order: with it, the
/// order records until when that placement may be acted on by the venue.
async fn commit_placing(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    event: &OrderEvent,
) -> Result<Step, ExecuteError> {
    let deadline = later(deps.clock.now(), deps.policy.placement_window());
    commit_with(deps, ctx, order, event, None, Some(deadline)).await
}

async fn commit_with(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    event: &OrderEvent,
    account: Option<&crate::domain::Account>,
    placement_deadline: Option<Timestamp>,
) -> Result<Step, ExecuteError> {
    let mut write =
        plan_transition(order, event, account, ctx, deps.clock.now()).map_err(|e| ExecuteError::Mismatch {
            order: order.order_id.to_string(),
            detail: e.to_string(),
        })?;
    if placement_deadline.is_some() {
        write.after.placement_deadline = placement_deadline;
    }
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

/// The retry budget of `message` is spent (SQS dead-letters it next): the order
/// keeps its status and says why (`reason`, a `STALL` audit record, a status event,
/// and in the same transaction a record in the operators' stalled list of the day),
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
        let now = deps.clock.now();
        let Ok(mut write) = plan_transition(&order, &OrderEvent::Stall { reason: reason.clone() }, None, &ctx, now)
        else {
            return;
        };
        // The operators' record of it, in the same transaction (issue 22).
        write.attention = Some(Attention {
            kind: AttentionKind::Stalled,
            trader_id: trader.clone(),
            order_id: *id,
            at: now,
            from_status: order.status,
            to_status: write.after.status,
            venue_status: None,
            venue_order_id: None,
            reason: reason.clone(),
            corrected: false,
        });
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
