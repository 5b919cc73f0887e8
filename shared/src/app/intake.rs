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
//! An execution that cannot be booked (no locator, our order missing, or figures
//! that do not fit it, e.g. more than it has left) is logged at error level with its
//! ids and counted (`PassReport::refused`); the pass goes on, so one bad execution
//! does not stop every other fill.

use std::collections::HashMap;

use tracing::{error, info, warn};

use super::plan::{AuditContext, plan_transition};
use crate::domain::{OrderEvent, OrderId, Timestamp};
use crate::ports::{Clock, FeedPosition, IntakeStore, OrderStore, StoreError, VenueError, VenueExecution, VenueFeed};

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
    let mut located: HashMap<String, OrderId> = HashMap::new();
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
    if report.booked > 0 || report.refused > 0 {
        info!(
            pages = report.pages,
            booked = report.booked,
            duplicates = report.duplicates,
            refused = report.refused,
            "intake pass"
        );
    }
    Ok(report)
}

/// Our order that venue order `venue_order_id` works for, if any.
async fn locate(
    deps: &IntakeDeps<'_>,
    execution: &VenueExecution,
    located: &mut HashMap<String, OrderId>,
) -> Result<Option<OrderId>, IntakeError> {
    if let Some(id) = execution.client_order_id {
        return Ok(Some(id));
    }
    let first = execution.venue_order_id.as_str();
    if let Some(id) = located.get(first) {
        return Ok(Some(*id));
    }
    if let Some(id) = deps.intake.venue_alias(first).await? {
        located.insert(first.to_owned(), id);
        return Ok(Some(id));
    }
    let mut venue_id = first.to_owned();
    for _ in 0..MAX_REPLACEMENTS {
        let Some(at_venue) = deps.feed.venue_order(&venue_id).await? else {
            return Ok(None);
        };
        if let Ok(id) = OrderId::parse(&at_venue.client_order_id) {
            deps.intake.put_venue_alias(first, &id).await?;
            located.insert(first.to_owned(), id);
            return Ok(Some(id));
        }
        match at_venue.replaces {
            Some(older) => venue_id = older,
            None => return Ok(None),
        }
    }
    Ok(None)
}

async fn book(
    deps: &IntakeDeps<'_>,
    execution: &VenueExecution,
    located: &mut HashMap<String, OrderId>,
) -> Result<Outcome, IntakeError> {
    let refuse = |why: &str, order: Option<&OrderId>| {
        error!(execution_id = %execution.execution_id, venue_order_id = %execution.venue_order_id,
            order_id = order.map(|o| o.to_string()).unwrap_or_default(), qty = %execution.qty,
            price = %execution.price, "venue execution not booked: {why}");
        Ok(Outcome::Refused)
    };
    let Some(order_id) = locate(deps, execution, located).await? else {
        return refuse("the venue order is not one of ours", None);
    };
    let Some(trader) = deps.intake.order_trader(&order_id).await? else {
        return refuse("no locator records the order's trader", Some(&order_id));
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
