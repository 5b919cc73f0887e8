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
//!    page book nothing twice (`AlreadyExists`);
//! 4. after each page, moves the cursor past it, conditional on the version read:
//!    two passes can never move it backwards (the slower one stops with
//!    `CursorMoved`), and a crash between booking and moving replays the page,
//!    which books nothing new.
//!
//! **Finding our order.** The venue's client order id is our order id, but our
//! order items are keyed by trader: the locator item (`put_order_ref`, written by
//! the executor before the venue hears of an order: one put per order that reaches
//! the venue) gives the trader. Alpaca's FILL activity names only the venue order:
//! the first execution of a venue order costs one venue call (`venue_order`) and
//! records an alias (one put per venue order that executes), which later passes read
//! instead. A replacement the venue made carries a client order id of its own; it is
//! followed through `replaces` to the order it replaced, so its fills are booked to
//! our order.
//!
//! **Statuses.** After the executions, one listing of the venue's orders
//! (`VenueFeed::orders`, submitted after `IntakeDeps::orders_since`, paged) is
//! applied through the normal transitions (audit record and status event with
//! them): `canceled` / `expired` / `rejected` end our order, but only once every
//! execution of it is booked (the venue's `filled_qty` equals ours; otherwise the
//! next pass, having booked the rest, ends it); `replaced` records the replacement
//! as an alias of our order, which keeps working; the other statuses keep it
//! working; an unknown status is logged at error level once our order has not
//! changed for `unknown_status_alarm_secs` (an alarmable line, never a poll).
//!
//! An execution that cannot be booked (no locator, our order missing, or figures
//! that do not fit it, e.g. more than it has left) is logged at error level with its
//! ids and counted (`PassReport::refused`); the pass goes on, so one bad execution
//! does not stop every other fill.

use std::collections::HashMap;

use tracing::{error, info, warn};

use super::plan::{AuditContext, plan_transition};
use crate::domain::{OrderEvent, OrderId, OrderStatus, Timestamp, TraderId};
use crate::ports::{
    Clock, FeedPosition, IntakeStore, OrderStore, StoreError, VenueError, VenueExecution, VenueFeed, VenueOrder,
    VenueStatus,
};

/// Re-reads of an order after a lost race, per execution.
const ROUNDS: usize = 8;
/// How many `replaces` links are followed to find the order a replacement works for.
const MAX_REPLACEMENTS: usize = 8;

pub struct IntakeDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub intake: &'a dyn IntakeStore,
    pub feed: &'a dyn VenueFeed,
    pub clock: &'a dyn Clock,
    /// Names the feed's cursor: a digest of the venue API key.
    pub feed_key: &'a str,
    /// With no cursor yet, executions after this instant are read.
    pub start: Timestamp,
    /// Executions per page (Alpaca: at most 100).
    pub page_size: u32,
    /// Pages per pass at most, so a pass ends in bounded time; the next pass goes on.
    pub max_pages: u32,
    /// The venue's orders submitted after this are compared with ours (Alpaca lists
    /// orders by submission time): older than the longest an order of ours rests.
    pub orders_since: Timestamp,
    /// An unknown venue status of an order unchanged this long is logged as an error.
    pub unknown_status_alarm_secs: i64,
    /// Whether this pass also applies the venue's order list (a caller may do it on
    /// every few passes only: the listing pages by submission time).
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
    /// Our orders moved to what the venue says (cancelled, expired, rejected).
    pub ended: u32,
    /// Orders the venue ended with fills we have not booked yet: ended next pass.
    pub deferred: u32,
    /// Orders in a venue status we do not know, past the alarm time.
    pub unknown: u32,
}

enum Outcome {
    Booked,
    Duplicate,
    Refused,
}

/// One pass over the venue's executions after the cursor.
pub async fn intake_pass(deps: &IntakeDeps<'_>) -> Result<PassReport, IntakeError> {
    let (mut position, mut version) = match deps.intake.feed_cursor(deps.feed_key).await? {
        Some(c) => (c.position, c.version),
        None => (FeedPosition::Since { at: deps.start }, 0),
    };
    let mut report = PassReport::default();
    let mut located: HashMap<String, (OrderId, TraderId)> = HashMap::new();
    while report.pages < deps.max_pages.max(1) {
        let page = deps.feed.executions(&position, deps.page_size).await?;
        report.pages += 1;
        let Some(last) = page.executions.last() else { break };
        let next = FeedPosition::after(last);
        for execution in &page.executions {
            match book(deps, execution, &mut located).await? {
                Outcome::Booked => report.booked += 1,
                Outcome::Duplicate => report.duplicates += 1,
                Outcome::Refused => report.refused += 1,
            }
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
    if deps.statuses {
        apply_statuses(deps, &mut report).await?;
    }
    if report.booked > 0 || report.refused > 0 || report.ended > 0 {
        info!(
            pages = report.pages,
            booked = report.booked,
            duplicates = report.duplicates,
            refused = report.refused,
            ended = report.ended,
            deferred = report.deferred,
            "intake pass"
        );
    }
    Ok(report)
}

/// Applies the venue's view of every order it lists (one call a page).
pub async fn apply_statuses(deps: &IntakeDeps<'_>, report: &mut PassReport) -> Result<(), IntakeError> {
    let mut after = deps.orders_since;
    for _ in 0..deps.max_pages.max(1) {
        let page = deps.feed.orders(after, 500).await?;
        for venue in &page.orders {
            apply_status(deps, venue, report).await?;
        }
        match page.next {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    Ok(())
}

async fn apply_status(deps: &IntakeDeps<'_>, venue: &VenueOrder, report: &mut PassReport) -> Result<(), IntakeError> {
    let id = venue.client_order_id;
    let event = match &venue.status {
        VenueStatus::Canceled => OrderEvent::ConfirmCancel {
            reason: Some(venue.reason.clone().unwrap_or_else(|| "Cancelled at the venue".into())),
        },
        VenueStatus::Expired => OrderEvent::Expire {
            reason: Some(venue.reason.clone().unwrap_or_else(|| "Expired at the venue".into())),
        },
        VenueStatus::Rejected => OrderEvent::Reject {
            reason: venue.reason.clone().unwrap_or_else(|| "Rejected by the venue".into()),
        },
        // The venue replaced the order (e.g. a corporate-action price adjustment):
        // the replacement works on for what was left, and its executions are ours.
        // Nothing is released: our order keeps working.
        VenueStatus::Replaced => {
            if let Some(new) = &venue.replaced_by {
                deps.intake.put_venue_alias(new, &id).await?;
            }
            return Ok(());
        }
        // `filled`: the executions book it and the last one ends the order.
        // `new`, `partially_filled`: working. `pending_new`: received, not yet routed.
        // `accepted` / `accepted_for_bidding`: taken outside session hours or for the
        // auction; works when the session opens. `done_for_day`: no more today,
        // resumes next session. `pending_cancel` / `pending_replace`: a cancel or
        // replace is under way; fills may still come until it ends. `held`: waiting
        // on a condition (e.g. a leg not yet triggered). `suspended`: not eligible
        // for trading for now. `calculated`: done for the day, settlement figures
        // pending. `stopped`: a trade is guaranteed, not yet executed. All keep our
        // order working; the venue's next status says how it ends.
        VenueStatus::Filled
        | VenueStatus::New
        | VenueStatus::PartiallyFilled
        | VenueStatus::PendingNew
        | VenueStatus::Accepted
        | VenueStatus::DoneForDay
        | VenueStatus::PendingCancel
        | VenueStatus::PendingReplace
        | VenueStatus::Held
        | VenueStatus::Suspended
        | VenueStatus::Calculated
        | VenueStatus::Stopped => return Ok(()),
        VenueStatus::Unknown(raw) => {
            let Some(order) = our_order(deps, &id).await? else {
                return Ok(());
            };
            let since = deps.clock.now().unix_seconds() - order.updated_at.unix_seconds();
            if !order.status.is_terminal() && since >= deps.unknown_status_alarm_secs {
                error!(order_id = %id, trader_id = %order.trader_id, venue_order_id = %venue.venue_order_id,
                    venue_status = %raw, unchanged_secs = since, "venue status unknown: the order needs an operator");
                report.unknown += 1;
            }
            return Ok(());
        }
    };
    let ctx = AuditContext {
        actor: "intake".into(),
        request_id: Some(format!("venue-order:{}", venue.venue_order_id)),
        idempotency_key: None,
    };
    for _ in 0..ROUNDS {
        let Some(order) = our_order(deps, &id).await? else {
            return Ok(());
        };
        if !matches!(
            order.status,
            OrderStatus::Submitted | OrderStatus::PartiallyFilled | OrderStatus::CancelRequested
        ) {
            return Ok(());
        }
        if venue.filled_quantity > order.filled_quantity {
            // Never end an order with fewer fills booked than the venue's: its
            // executions are read first on the next pass.
            info!(order_id = %id, venue_filled = %venue.filled_quantity, booked = %order.filled_quantity,
                venue_status = %venue.status, "venue ended the order with fills not booked yet: ended next pass");
            report.deferred += 1;
            return Ok(());
        }
        let event = match &event {
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
                error!(order_id = %id, venue_status = %venue.status, error = %e,
                    "venue status does not apply to the order");
                return Ok(());
            }
        };
        match deps.store.transition(write).await {
            Ok(()) => {
                info!(order_id = %id, from = %order.status, venue_status = %venue.status,
                    "order ended as the venue says");
                report.ended += 1;
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

async fn our_order(deps: &IntakeDeps<'_>, id: &OrderId) -> Result<Option<crate::domain::Order>, IntakeError> {
    let Some(trader) = deps.intake.order_trader(id).await? else {
        return Ok(None);
    };
    Ok(deps.store.get_order(&trader, id).await?)
}

/// Our order that venue order `venue_order_id` works for, if any.
/// Our order that the execution's venue order works for, and its trader. A client
/// order id counts as ours only when its locator exists: a venue's own id (a
/// replacement's) may look like one of ours.
async fn locate(
    deps: &IntakeDeps<'_>,
    execution: &VenueExecution,
    located: &mut HashMap<String, (OrderId, TraderId)>,
) -> Result<Option<(OrderId, TraderId)>, IntakeError> {
    let first = execution.venue_order_id.as_str();
    if let Some(found) = located.get(first) {
        return Ok(Some(found.clone()));
    }
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
    if let Some(f) = &found {
        located.insert(first.to_owned(), f.clone());
    }
    Ok(found)
}

async fn book(
    deps: &IntakeDeps<'_>,
    execution: &VenueExecution,
    located: &mut HashMap<String, (OrderId, TraderId)>,
) -> Result<Outcome, IntakeError> {
    let refuse = |why: &str, order: Option<&OrderId>| {
        error!(execution_id = %execution.execution_id, venue_order_id = %execution.venue_order_id,
            order_id = order.map(|o| o.to_string()).unwrap_or_default(), qty = %execution.qty,
            price = %execution.price, "venue execution not booked: {why}");
        Ok(Outcome::Refused)
    };
    let Some((order_id, trader)) = locate(deps, execution, located).await? else {
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
