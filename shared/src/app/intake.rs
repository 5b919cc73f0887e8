// Long because: one use case, a pass over the venue feed with its cursor and booking; being changed separately.
//! The venue intake (SPEC §6, issue 14): one reader of the venue's executions for
//! the whole deployment, instead of a look per resting order. Its venue calls per
//! pass depend on how much happened at the venue, never on how many orders rest.
//!
//! One pass:
//! 1. reads the durable cursor (`IntakeStore::feed_cursor`; the first start reads
//!    from `IntakeDeps::start`);
//! 2. reads the executions after it, a page at a time, oldest first;
//! 3. books each on our order at the venue's price, quantity and transaction time,
//!    keyed by the venue's execution id: the fill item's condition makes a replayed
//!    page book nothing twice (`AlreadyExists`). Different traders' executions are
//!    booked at once (`BOOKING_CONCURRENCY`), each trader's in the page's order;
//! 4. after each page, moves the cursor past it, conditional on the version read:
//!    two passes can never move it backwards (the slower one stops with
//!    `CursorMoved`), and a crash between booking and moving replays the page,
//!    which books nothing new.
//!
//! **Finding our order.** The venue's client order id is our order id, but our
//! order items are keyed by trader: the locator item (`put_order_ref`, written by
//! the executor before the venue hears of an order: one put per order that reaches
//! the venue) gives the trader. Alpaca's FILL activity names only the venue order:
//! the executor records an alias (venue order id -> our order) when the venue takes
//! the order, which the intake reads. Only a venue order without one (a placement
//! whose answer was lost, a replacement the venue made) costs one venue call
//! (`venue_order`) at its first execution, which records the alias. A replacement
//! the venue made carries a client order id of its own; it is followed through
//! `replaces` to the order it replaced, so its fills are booked to our order.
//!
//! **The reconciliation sweep** (`sweep`, on every pass the caller asks for it: its
//! listing before the executions are read, its comparison after them, so an order
//! that ended in between is ended by its booked executions, not looked up). Our
//! working index (`IntakeStore::put_working`: every order
//! of ours that reached the venue and has not ended) is compared with the venue's
//! open orders (`VenueFeed::open_orders`, 500 a call: ceil(open / 500) calls, none
//! when nothing of ours works). An order of ours that is working but no longer open
//! at the venue has ended there (or was replaced): one `Venue::find` for it, so the
//! sweep's calls grow with the orders that changed, never with the resting ones.
//! What the venue says is applied through the normal transitions (audit record and
//! status event with them): `canceled` / `expired` / `rejected` end our order, but
//! only once every execution of it is booked (the venue's filled quantity equals
//! ours; otherwise the next pass, having booked the rest, ends it); `replaced`
//! follows `replaced_by` to the venue order that now works for ours (recorded as an
//! alias and in the working index: our order keeps working, nothing is released);
//! the other statuses keep it working (see `keeps_working`). An unknown status is
//! logged at error level once our order has not changed for
//! `unknown_status_alarm_secs` (an alarmable line, never a poll). Each correction is
//! logged as `reconciliation correction` (the metric's line) and counted in the
//! pass report; its transition publishes the order's status event as every
//! transition does. An order found ended on our side leaves the index.
//!
//! An execution that cannot be booked (no locator, our order missing, or figures
//! that do not fit it, e.g. more than it has left) is logged at error level with its
//! ids and counted (`PassReport::refused`); the pass goes on, so one bad execution
//! does not stop every other fill.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};

use tracing::{error, info, warn};

use super::plan::{AuditContext, plan_transition};
use rust_decimal::Decimal;

use crate::domain::{Order, OrderEvent, OrderId, OrderStatus, Timestamp, TraderId};
use crate::ports::{
    Attention, AttentionKind, AttentionLog, Clock, FeedPosition, IntakeStore, OrderStore, StoreError, Venue,
    VenueError, VenueExecution, VenueFeed, VenueOrderRef, VenueStatus, WorkingOrder,
};

/// Re-reads of an order after a lost race, per execution.
const ROUNDS: usize = 8;
/// Traders whose executions one page books at once (and venue orders it locates at
/// once): one after another, a pass booked about 3.4 executions a second against
/// the local emulator at 100 traders, and every fill waited in its queue.
pub const BOOKING_CONCURRENCY: usize = 8;
/// How many `replaces` links are followed to find the order a replacement works for.
const MAX_REPLACEMENTS: usize = 8;

pub struct IntakeDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub intake: &'a dyn IntakeStore,
    /// Where a mismatch the sweep cannot correct is recorded for operators.
    pub attention: &'a dyn AttentionLog,
    pub feed: &'a dyn VenueFeed,
    /// The sweep's look at one order that left the venue's open list.
    pub venue: &'a dyn Venue,
    pub clock: &'a dyn Clock,
    /// Names the feed's cursor: a digest of the venue API key.
    pub feed_key: &'a str,
    /// With no cursor yet, executions after this instant are read.
    pub start: Timestamp,
    /// Executions per page (Alpaca: at most 100).
    pub page_size: u32,
    /// Pages per pass at most, so a pass ends in bounded time; the next pass goes on.
    pub max_pages: u32,
    /// An unknown venue status of an order unchanged this long is logged as an error.
    pub unknown_status_alarm_secs: i64,
    /// Whether this pass also sweeps (a caller may sweep on every few passes only).
    pub statuses: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Venue(#[from] VenueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another pass moved the cursor since this one read it: this pass stops; what
    /// it booked stays booked (the other pass's replay books nothing twice).
    #[error("the intake cursor of feed {0} moved under this pass")]
    CursorMoved(String),
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub pages: u32,
    pub booked: u32,
    /// Executions already booked (a replayed page).
    pub duplicates: u32,
    /// Executions that could not be booked (logged at error level).
    pub refused: u32,
    /// Corrections: our orders moved to what the venue says (cancelled, expired,
    /// rejected).
    pub ended: u32,
    /// Orders the venue ended with fills we have not booked yet: ended next pass.
    pub deferred: u32,
    /// Orders in a venue status we do not know, past the alarm time.
    pub unknown: u32,
    /// Venue orders that replaced ours, followed this pass.
    pub replaced: u32,
    /// Executions left for the next pass: their order waits for a replace's answer.
    pub waiting_for_replace: u32,
    /// Pages of the venue's open orders read, and orders looked up one by one.
    pub listed: u32,
    pub looked_up: u32,
}

enum Outcome {
    Booked,
    Duplicate,
    Refused,
    /// The execution would complete (or overfill) an order whose replace could not be
    /// settled now (the venue did not answer the look): the pass stops before it and
    /// the next pass books it.
    WaitForReplace,
}

/// One pass over the venue's executions after the cursor.
pub async fn intake_pass(deps: &IntakeDeps<'_>) -> Result<PassReport, IntakeError> {
    let (mut position, mut version) = match deps.intake.feed_cursor(deps.feed_key).await? {
        Some(c) => (c.position, c.version),
        None => (FeedPosition::Since { at: deps.start }, 0),
    };
    let mut report = PassReport::default();
    // The sweep's look at the venue's open orders comes before the executions are
    // read: an order of ours missing from it ended before it, so its executions are
    // among those read next, and it ends on our side without a look of its own
    // (listed after them, an order that filled in between would cost one lookup).
    let survey = match deps.statuses {
        true => Some(survey(deps, &mut report).await?),
        false => None,
    };
    let mut located: HashMap<String, (OrderId, TraderId)> = HashMap::new();
    while report.pages < deps.max_pages.max(1) {
        let page = deps.feed.executions(&position, deps.page_size).await?;
        report.pages += 1;
        let Some(last) = page.executions.last() else { break };
        let next = FeedPosition::after(last);
        let mut waiting = false;
        for outcome in book_page(deps, &page.executions, &mut located).await? {
            match outcome {
                Outcome::Booked => report.booked += 1,
                Outcome::Duplicate => report.duplicates += 1,
                Outcome::Refused => report.refused += 1,
                Outcome::WaitForReplace => {
                    report.waiting_for_replace += 1;
                    waiting = true;
                }
            }
        }
        if waiting {
            // The page is read again next pass (what it booked books nothing twice).
            break;
        }
        match deps.intake.advance_feed_cursor(deps.feed_key, version, &next).await {
            Ok(()) => version += 1,
            Err(StoreError::Conflict) => return Err(IntakeError::CursorMoved(deps.feed_key.to_owned())),
            Err(e) => return Err(e.into()),
        }
        position = next;
        if !page.more {
            break;
        }
    }
    if let Some(survey) = survey {
        reconcile_working(deps, survey, &mut report).await?;
    }
    if report.booked > 0 || report.refused > 0 || report.ended > 0 || report.replaced > 0 {
        info!(
            pages = report.pages,
            booked = report.booked,
            duplicates = report.duplicates,
            refused = report.refused,
            ended = report.ended,
            deferred = report.deferred,
            replaced = report.replaced,
            listed = report.listed,
            looked_up = report.looked_up,
            "intake pass"
        );
    }
    Ok(report)
}

/// Open orders a listing call asks for (Alpaca's largest `limit`).
const OPEN_ORDERS_PAGE: u32 = 500;
/// Pages of the venue's open orders one sweep reads at most (500 each); past that,
/// the orders not listed are looked up one by one (and a warning says so).
const MAX_LISTING_PAGES: u32 = 200;

/// Whether an order in venue status `status` keeps working at the venue: every
/// status but the final ones.
///
/// - `new`, `partially_filled`: working. `pending_new`: received, not yet routed.
/// - `accepted` / `accepted_for_bidding`: taken outside session hours or for the
///   auction; works when the session opens.
/// - `done_for_day`: no more today, resumes next session.
/// - `pending_cancel` / `pending_replace`: a cancel or replace is under way; fills may
///   still come until it ends.
/// - `held`: waiting on a condition (e.g. a leg not yet triggered). `suspended`: not
///   eligible for trading for now. `calculated`: done for the day, settlement figures
///   pending. `stopped`: a trade is guaranteed, not yet executed.
/// - an unknown status: kept working, and alarmed once it lasts (`sweep`).
pub fn keeps_working(status: &VenueStatus) -> bool {
    status.is_open()
}

/// The reconciliation sweep (module docs): the venue's open orders against our
/// working index.
pub async fn sweep(deps: &IntakeDeps<'_>, report: &mut PassReport) -> Result<(), IntakeError> {
    let survey = survey(deps, report).await?;
    reconcile_working(deps, survey, report).await
}

/// Our working index and the venue's open orders, read in that order (an order that
/// joins the index after it was read is not looked up).
struct Survey {
    working: Vec<WorkingOrder>,
    by_client: HashMap<String, VenueOrderRef>,
    by_venue: HashMap<String, VenueOrderRef>,
}

async fn survey(deps: &IntakeDeps<'_>, report: &mut PassReport) -> Result<Survey, IntakeError> {
    let working = deps.intake.working_orders().await?;
    if working.is_empty() {
        // Nothing of ours works: no listing.
        return Ok(Survey {
            working,
            by_client: HashMap::new(),
            by_venue: HashMap::new(),
        });
    }
    let mut by_client: HashMap<String, VenueOrderRef> = HashMap::new();
    let mut by_venue: HashMap<String, VenueOrderRef> = HashMap::new();
    let mut after: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_LISTING_PAGES {
        let page = deps.feed.open_orders(after.as_deref(), OPEN_ORDERS_PAGE).await?;
        report.listed += 1;
        for o in page.orders {
            by_client.insert(o.client_order_id.clone(), o.clone());
            by_venue.insert(o.venue_order_id.clone(), o);
        }
        match page.next {
            Some(next) if Some(&next) != after.as_ref() => after = Some(next),
            _ => {
                complete = true;
                break;
            }
        }
    }
    if !complete {
        warn!(
            listed = by_venue.len(),
            "more open venue orders than one sweep lists: the rest are looked up one by one"
        );
    }
    Ok(Survey {
        working,
        by_client,
        by_venue,
    })
}

/// Each order of the survey's working index against the venue's open orders.
async fn reconcile_working(deps: &IntakeDeps<'_>, survey: Survey, report: &mut PassReport) -> Result<(), IntakeError> {
    let Survey {
        working,
        by_client,
        by_venue,
    } = survey;
    for w in &working {
        let open = match &w.venue_order_id {
            Some(venue) => by_venue.get(venue),
            None => by_client.get(&w.order_id.to_string()),
        };
        match open {
            Some(v) => {
                if let VenueStatus::Unknown(raw) = &v.status {
                    alarm_unknown(deps, w, &v.venue_order_id, raw, report).await?;
                }
            }
            None => settle(deps, w, report).await?,
        }
    }
    Ok(())
}

/// An unknown venue status of an open order: an error line once our order has not
/// changed for `unknown_status_alarm_secs`.
async fn alarm_unknown(
    deps: &IntakeDeps<'_>,
    w: &WorkingOrder,
    venue_order_id: &str,
    raw: &str,
    report: &mut PassReport,
) -> Result<(), IntakeError> {
    let Some(order) = deps.store.get_order(&w.trader_id, &w.order_id).await? else {
        return Ok(());
    };
    let since = deps.clock.now().unix_seconds() - order.updated_at.unix_seconds();
    if !order.status.is_terminal() && since >= deps.unknown_status_alarm_secs {
        error!(order_id = %w.order_id, trader_id = %w.trader_id, venue_order_id, venue_status = %raw,
            unchanged_secs = since, "venue status unknown: the order needs an operator");
        report.unknown += 1;
        let reason = format!(
            "The venue reports a status this service does not know ({raw}) and the order has not changed for {since} s"
        );
        needs_operator(deps, &order, venue_order_id, raw, reason, "unknown-status").await;
    }
    Ok(())
}

/// What the venue says of an order of ours that left its open list: the status of the
/// venue order now working for it (after any replacements), and the quantity filled
/// across all of them.
struct AtVenue {
    venue_order_id: String,
    status: VenueStatus,
    filled: Decimal,
    reason: Option<String>,
    /// Venue orders that replaced ours, in order.
    replacements: Vec<String>,
}

/// One look at the venue by our order id (plus one per replacement followed: rare,
/// the venue replaces for corporate actions); `None` when the venue has no such
/// order (a placement not landed yet, which execute decides).
async fn at_venue(
    deps: &IntakeDeps<'_>,
    w: &WorkingOrder,
    report: &mut PassReport,
) -> Result<Option<AtVenue>, IntakeError> {
    report.looked_up += 1;
    let Some(first) = deps.venue.find(&w.order_id).await? else {
        return Ok(None);
    };
    let mut next = first
        .replaced_by
        .clone()
        .filter(|_| first.status == VenueStatus::Replaced);
    let mut state = AtVenue {
        venue_order_id: first.venue_order_id,
        status: first.status,
        filled: first.filled_quantity,
        reason: first.reason,
        replacements: Vec::new(),
    };
    for _ in 0..MAX_REPLACEMENTS {
        let Some(id) = next.take() else { break };
        report.looked_up += 1;
        let Some(v) = deps.feed.venue_order(&id).await? else {
            break;
        };
        state.filled += v.filled_quantity;
        state.venue_order_id = v.venue_order_id;
        state.status = v.status;
        state.reason = None;
        state.replacements.push(id);
        next = v.replaced_by.filter(|_| state.status == VenueStatus::Replaced);
    }
    Ok(Some(state))
}

/// An order of ours that is in the working index but not among the venue's open
/// orders.
async fn settle(deps: &IntakeDeps<'_>, w: &WorkingOrder, report: &mut PassReport) -> Result<(), IntakeError> {
    let Some(order) = deps.store.get_order(&w.trader_id, &w.order_id).await? else {
        warn!(order_id = %w.order_id, trader_id = %w.trader_id, "working index names an order that does not exist; removed");
        deps.intake.remove_working(&w.order_id).await?;
        return Ok(());
    };
    if order.status.is_terminal() {
        // Ended on our side (its last execution booked, or execute saw it end).
        deps.intake.remove_working(&w.order_id).await?;
        return Ok(());
    }
    let Some(v) = at_venue(deps, w, report).await? else {
        return Ok(());
    };
    for replacement in &v.replacements {
        deps.intake.put_venue_alias(replacement, &w.order_id).await?;
    }
    if keeps_working(&v.status) {
        let follows = v.replacements.last();
        if follows.is_some() && follows != w.venue_order_id.as_ref() {
            // The venue replaced our order: the replacement works on for what was left,
            // and its executions are ours. Nothing is released.
            info!(order_id = %w.order_id, venue_order_id = %v.venue_order_id, venue_status = %v.status,
                "reconciliation: the venue replaced the order; following its replacement");
            deps.intake
                .put_working(&WorkingOrder {
                    venue_order_id: Some(v.venue_order_id.clone()),
                    ..w.clone()
                })
                .await?;
            report.replaced += 1;
        }
        // Otherwise it was placed (or routed) after the listing: still working.
        return Ok(());
    }
    end_order(deps, w, order, &v, report).await
}

/// Ends our order as the venue ended its order, once every execution is booked.
async fn end_order(
    deps: &IntakeDeps<'_>,
    w: &WorkingOrder,
    mut order: Order,
    v: &AtVenue,
    report: &mut PassReport,
) -> Result<(), IntakeError> {
    let id = w.order_id;
    let reason = |default: &str| Some(v.reason.clone().unwrap_or_else(|| default.to_owned()));
    let event = match &v.status {
        VenueStatus::Canceled => Some(OrderEvent::ConfirmCancel {
            reason: reason("Cancelled at the venue"),
        }),
        VenueStatus::Expired => Some(OrderEvent::Expire {
            reason: reason("Expired at the venue"),
        }),
        VenueStatus::Rejected => Some(OrderEvent::Reject {
            reason: v.reason.clone().unwrap_or_else(|| "Rejected by the venue".into()),
        }),
        // Filled: its executions end our order, once they are all booked.
        VenueStatus::Filled => None,
        other => {
            error!(order_id = %id, venue_order_id = %v.venue_order_id, venue_status = %other,
                "venue order replaced more often than followed, or its replacement is missing: the order needs an operator");
            let reason = "The venue order was replaced more often than followed, or its replacement is missing".into();
            needs_operator(
                deps,
                &order,
                &v.venue_order_id,
                &other.to_string(),
                reason,
                "replacement",
            )
            .await;
            return Ok(());
        }
    };
    let ctx = AuditContext {
        actor: "intake".into(),
        request_id: Some(format!("sweep:venue-order:{}", v.venue_order_id)),
        idempotency_key: None,
    };
    for round in 0..ROUNDS {
        if round > 0 {
            match deps.store.get_order(&w.trader_id, &id).await? {
                Some(o) => order = o,
                None => return Ok(()),
            }
        }
        if order.status.is_terminal() {
            deps.intake.remove_working(&id).await?;
            return Ok(());
        }
        if v.filled > order.filled_quantity {
            // Never end an order with fewer fills booked than the venue's: its
            // executions are read first on the next pass.
            info!(order_id = %id, venue_filled = %v.filled, booked = %order.filled_quantity,
                venue_status = %v.status, "venue ended the order with fills not booked yet: ended next pass");
            report.deferred += 1;
            return Ok(());
        }
        let Some(event) = event.as_ref().filter(|_| v.filled == order.filled_quantity) else {
            error!(order_id = %id, venue_filled = %v.filled, booked = %order.filled_quantity, venue_status = %v.status,
                "our books of the order do not match the venue's: the order needs an operator");
            let reason = format!(
                "Our books of the order do not match the venue's: the venue filled {}, we booked {}",
                v.filled, order.filled_quantity
            );
            needs_operator(deps, &order, &v.venue_order_id, &v.status.to_string(), reason, "books").await;
            return Ok(());
        };
        let event = match event {
            OrderEvent::Reject { reason }
                if !order.filled_quantity.is_zero() || order.status != OrderStatus::Submitted =>
            {
                OrderEvent::ConfirmCancel {
                    reason: Some(format!("{reason} (after partial fills or a cancel request)")),
                }
            }
            other => other.clone(),
        };
        let write = match plan_transition(&order, &event, None, &ctx, deps.clock.now()) {
            Ok(w) => w,
            Err(e) => {
                error!(order_id = %id, venue_status = %v.status, error = %e,
                    "venue status does not apply to the order");
                let reason = format!("The venue's status does not apply to the order: {e}");
                needs_operator(
                    deps,
                    &order,
                    &v.venue_order_id,
                    &v.status.to_string(),
                    reason,
                    "not-applicable",
                )
                .await;
                return Ok(());
            }
        };
        let mut write = write;
        let to = write.after.status;
        // The operators' record of the correction, in the same transaction.
        write.attention = Some(Attention {
            kind: AttentionKind::Reconciliation,
            trader_id: w.trader_id.clone(),
            order_id: id,
            at: write.audit.at,
            from_status: order.status,
            to_status: to,
            venue_status: Some(v.status.to_string()),
            venue_order_id: Some(v.venue_order_id.clone()),
            reason: format!(
                "The venue reports the order {}{}: corrected from {} to {to}",
                v.status,
                v.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                order.status
            ),
            corrected: true,
        });
        match deps.store.transition(write).await {
            Ok(()) => {
                // The metric's line (one per correction).
                info!(metric = "ReconciliationCorrections", order_id = %id, trader_id = %w.trader_id,
                    venue_order_id = %v.venue_order_id, from = %order.status, to = %to, venue_status = %v.status,
                    "reconciliation correction");
                report.ended += 1;
                deps.intake.remove_working(&id).await?;
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// Records a mismatch the sweep cannot correct for operators, once a day per order
/// and `what` (every pass finds it again). A failure to record is logged: the error
/// line above it is the alarm's either way, and the sweep goes on.
async fn needs_operator(
    deps: &IntakeDeps<'_>,
    order: &Order,
    venue_order_id: &str,
    venue_status: &str,
    reason: String,
    what: &str,
) {
    let record = Attention {
        kind: AttentionKind::Reconciliation,
        trader_id: order.trader_id.clone(),
        order_id: order.order_id,
        at: deps.clock.now(),
        from_status: order.status,
        to_status: order.status,
        venue_status: Some(venue_status.to_owned()),
        venue_order_id: Some(venue_order_id.to_owned()),
        reason,
        corrected: false,
    };
    let once = format!("{}#{what}", order.order_id);
    if let Err(e) = deps.attention.record_attention_once(&record, &once).await {
        warn!(order_id = %order.order_id, error = %e, "could not record the mismatch for operators");
    }
}

/// Our order that the execution's venue order works for, and its trader. A client
/// order id counts as ours only when its locator exists: a venue's own id (a
/// replacement's) may look like one of ours.
async fn locate(deps: &IntakeDeps<'_>, execution: &VenueExecution) -> Result<Option<(OrderId, TraderId)>, IntakeError> {
    let first = execution.venue_order_id.as_str();
    let ours = |id: OrderId| async move {
        Ok::<_, IntakeError>(deps.intake.order_trader(&id).await?.map(|trader| (id, trader)))
    };
    let mut found = match execution.client_order_id {
        Some(id) => ours(id).await?,
        None => None,
    };
    if found.is_none() {
        if let Some(id) = deps.intake.venue_alias(first).await? {
            found = ours(id).await?;
        }
    }
    let mut venue_id = first.to_owned();
    for _ in 0..MAX_REPLACEMENTS {
        if found.is_some() {
            break;
        }
        let Some(at_venue) = deps.feed.venue_order(&venue_id).await? else {
            break;
        };
        if let Ok(id) = OrderId::parse(&at_venue.client_order_id) {
            found = ours(id).await?;
            if let Some((id, _)) = &found {
                deps.intake.put_venue_alias(first, id).await?;
                break;
            }
        }
        match at_venue.replaces {
            Some(older) => venue_id = older,
            None => break,
        }
    }
    Ok(found)
}

/// An execution of a page with our order and its trader, if it is ours.
type Located<'e> = (&'e VenueExecution, Option<(OrderId, TraderId)>);

/// Books a page of executions: first finds the order of each venue order not
/// located yet (`located` keeps them for the pass), then books the executions of
/// different traders at once, up to [`BOOKING_CONCURRENCY`], and each trader's in
/// the page's order (a sell books after the buy that made its position, a second
/// fill of an order after its first). A trader's executions stop at the first that
/// waits for a replace (the page is read again next pass; what was booked books
/// nothing twice). The outcomes come trader by trader; any error fails the page,
/// after the other traders' bookings ended.
async fn book_page(
    deps: &IntakeDeps<'_>,
    executions: &[VenueExecution],
    located: &mut HashMap<String, (OrderId, TraderId)>,
) -> Result<Vec<Outcome>, IntakeError> {
    let mut unknown: Vec<&VenueExecution> = Vec::new();
    for e in executions {
        if !located.contains_key(&e.venue_order_id) && !unknown.iter().any(|u| u.venue_order_id == e.venue_order_id) {
            unknown.push(e);
        }
    }
    let found: Vec<_> = stream::iter(unknown)
        .map(|e| async move { (e.venue_order_id.clone(), locate(deps, e).await) })
        .buffer_unordered(BOOKING_CONCURRENCY)
        .collect()
        .await;
    for (venue_order_id, result) in found {
        if let Some(f) = result? {
            located.insert(venue_order_id, f);
        }
    }
    // Page order within each trader; executions of no order of ours on their own.
    let mut by_trader: Vec<(Option<TraderId>, Vec<Located<'_>>)> = Vec::new();
    for e in executions {
        let ours = located.get(&e.venue_order_id).cloned();
        let trader = ours.as_ref().map(|(_, t)| t.clone());
        match by_trader.iter_mut().find(|(t, _)| trader.is_some() && *t == trader) {
            Some((_, group)) => group.push((e, ours)),
            None => by_trader.push((trader, vec![(e, ours)])),
        }
    }
    let booked: Vec<Result<Vec<Outcome>, IntakeError>> = stream::iter(by_trader)
        .map(|(_, group)| async move {
            let mut outcomes = Vec::with_capacity(group.len());
            for (execution, ours) in group {
                let outcome = book(deps, execution, ours).await?;
                let wait = matches!(outcome, Outcome::WaitForReplace);
                outcomes.push(outcome);
                if wait {
                    break;
                }
            }
            Ok(outcomes)
        })
        .buffer_unordered(BOOKING_CONCURRENCY)
        .collect()
        .await;
    let mut all = Vec::with_capacity(executions.len());
    for outcomes in booked {
        all.extend(outcomes?);
    }
    Ok(all)
}

async fn book(
    deps: &IntakeDeps<'_>,
    execution: &VenueExecution,
    ours: Option<(OrderId, TraderId)>,
) -> Result<Outcome, IntakeError> {
    let refuse = |why: &str, order: Option<&OrderId>| {
        error!(execution_id = %execution.execution_id, venue_order_id = %execution.venue_order_id,
            order_id = order.map(|o| o.to_string()).unwrap_or_default(), qty = %execution.qty,
            price = %execution.price, "venue execution not booked: {why}");
        Ok(Outcome::Refused)
    };
    let Some((order_id, trader)) = ours else {
        return refuse("no order of ours (no locator) for the venue order", None);
    };
    let ctx = AuditContext {
        actor: "intake".into(),
        request_id: Some(execution.execution_id.clone()),
        idempotency_key: None,
    };
    let event = OrderEvent::Fill {
        execution_id: execution.execution_id.clone(),
        quantity: execution.qty,
        price: execution.price,
    };
    for _ in 0..ROUNDS {
        let Some(order) = deps.store.get_order(&trader, &order_id).await? else {
            return refuse("the order does not exist", Some(&order_id));
        };
        if order.status == OrderStatus::ReplaceRequested && execution.qty >= order.remaining() {
            // It completes the order as it is, or more: the replacement's (the venue
            // made it) or the last of the old version's (no replace can land now).
            // Settle the replace first, then book it on the order as it became.
            let execute = super::execute::ExecuteDeps {
                store: deps.store,
                intake: deps.intake,
                venue: deps.venue,
                clock: deps.clock,
                policy: Default::default(),
            };
            match super::execute::settle_replace_for_execution(&execute, &ctx, &order).await {
                Ok(_) => continue,
                Err(e) => {
                    warn!(order_id = %order_id, execution_id = %execution.execution_id, error = %e,
                        "venue execution waits for the order's replace to be settled");
                    return Ok(Outcome::WaitForReplace);
                }
            }
        }
        let account = deps.store.get_account(&trader).await?;
        let mut write = match plan_transition(&order, &event, account.as_ref(), &ctx, deps.clock.now()) {
            Ok(w) => w,
            Err(e) => {
                // A replayed execution of an order it completed no longer fits it.
                let fills = deps.store.fills(&trader, &order_id).await?;
                if fills.iter().any(|f| f.execution_id == execution.execution_id) {
                    return Ok(Outcome::Duplicate);
                }
                return refuse(&format!("it does not fit the order ({e})"), Some(&order_id));
            }
        };
        if let Some(fill) = write.fill.as_mut() {
            fill.executed_at = execution.transaction_time;
        }
        match deps.store.transition(write).await {
            Ok(()) => {
                info!(order_id = %order_id, execution_id = %execution.execution_id, qty = %execution.qty,
                    price = %execution.price, "venue execution booked");
                return Ok(Outcome::Booked);
            }
            Err(StoreError::AlreadyExists) => return Ok(Outcome::Duplicate),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    warn!(order_id = %order_id, execution_id = %execution.execution_id, "order kept changing under the intake");
    Err(StoreError::Conflict.into())
}
