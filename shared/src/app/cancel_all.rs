//! Cancel all (issue 19): a trader's open orders (optionally of one symbol), each
//! through the one cancel path (`cancel::cancel_as`: PENDING → CANCELLED,
//! SUBMITTED / PARTIALLY_FILLED → CANCEL_REQUESTED and the venue cancel through the
//! outbox), on behalf of the trader or of an operator.
//!
//! Paged, not queued: one call cancels at most [`CANCEL_ALL_PAGE`] orders, each in its
//! own transaction (a DynamoDB transaction holds at most 100 items, and one per order
//! keeps a race on one order from failing the others), and answers `more: true` when
//! open orders may remain; the caller calls again until `more` is false. A call is
//! bounded in time (well inside API Gateway's 30 s integration timeout), its answer
//! lists exactly what it asked to cancel, and a repeated call is harmless: an order
//! asked to cancel is no longer open. Open orders are found through the status index
//! (GSI1), which is eventually consistent: an order committed a moment before may be
//! missed by one call and found by the next (halt first, then cancel, so none come).

use serde::Serialize;

use super::cancel::{CancelDeps, cancel_as};
use super::error::AppError;
use super::plan::AuditContext;
use crate::domain::{Order, OrderError, OrderId, OrderStatus, Symbol, TraderId};

/// Orders asked to cancel per call.
pub const CANCEL_ALL_PAGE: usize = 100;
/// Index pages read per call when a symbol filter skips most orders (bounds the call).
const MAX_INDEX_PAGES: usize = 20;
/// The statuses an order can be cancelled from (`OrderStatus::is_cancellable`).
const OPEN: [OrderStatus; 3] = [
    OrderStatus::Pending,
    OrderStatus::Submitted,
    OrderStatus::PartiallyFilled,
];

/// What a cancel-all answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CancelAllOutcome {
    /// The orders asked to cancel, as committed (CANCELLED or CANCEL_REQUESTED).
    pub orders: Vec<Order>,
    /// Open orders may remain (a full page, an unread index page, or an order that
    /// changed too fast to cancel this time): call again.
    pub more: bool,
}

/// Up to one page of `trader`'s open orders (of `symbol` when given), and whether more
/// may remain.
async fn open_orders(
    deps: &CancelDeps<'_>,
    trader: &TraderId,
    symbol: Option<&Symbol>,
) -> Result<(Vec<OrderId>, bool), AppError> {
    let mut found = Vec::new();
    let mut pages = 0;
    for status in OPEN {
        let mut after = None;
        loop {
            if found.len() >= CANCEL_ALL_PAGE || pages >= MAX_INDEX_PAGES {
                return Ok((found, true));
            }
            let want = (CANCEL_ALL_PAGE - found.len()) as u32;
            let page = deps.store.list_orders(trader, Some(status), want, after).await?;
            pages += 1;
            found.extend(
                page.orders
                    .iter()
                    .filter(|o| o.status == status && symbol.is_none_or(|s| &o.symbol == s))
                    .map(|o| o.order_id),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let more = found.len() >= CANCEL_ALL_PAGE;
    found.truncate(CANCEL_ALL_PAGE);
    Ok((found, more))
}

/// Asks every open order of `trader` (of `symbol`), up to one page, to cancel, on
/// behalf of `ctx.actor`.
pub async fn cancel_all(
    deps: &CancelDeps<'_>,
    trader: &TraderId,
    symbol: Option<&Symbol>,
    ctx: &AuditContext,
) -> Result<CancelAllOutcome, AppError> {
    let (ids, mut more) = open_orders(deps, trader, symbol).await?;
    // One after another: a page is at most 100 cancels of a few ms each, and one
    // trader's cancels all touch the same account item (concurrent ones would only
    // conflict and retry).
    let mut orders = Vec::with_capacity(ids.len());
    for id in ids {
        match cancel_as(deps, trader, id, ctx).await {
            Ok(order) => orders.push(order),
            // It ended (filled, expired) or went since it was listed: nothing to cancel.
            Err(AppError::Order(OrderError::CannotCancel { .. }) | AppError::OrderNotFound(_)) => {}
            // It kept changing: still open, the next call takes it.
            Err(AppError::OrderContended(_)) => more = true,
            Err(e) => return Err(e),
        }
    }
    tracing::info!(trader_id = %trader, actor = %ctx.actor, asked = orders.len(), more, "cancel all");
    Ok(CancelAllOutcome { orders, more })
}
