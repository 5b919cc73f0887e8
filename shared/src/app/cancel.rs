//! The cancel use case (SPEC §3): PENDING → CANCELLED at once (the executor has not
//! claimed it, so the reservation is released here); SUBMITTED or PARTIALLY_FILLED →
//! CANCEL_REQUESTED, whose cancel message goes to execute right after the commit
//! (the fast path, `app::fast_path`), backed up by the outbox (the orders table's
//! stream, `app::publish`); anything else is refused with `CannotCancel` (its current status). A cancel
//! that loses a race (a fill, the executor's claim) reads the order again and
//! decides on its real state.

use tracing::info;

use super::error::AppError;
use super::plan::{AuditContext, plan_transition};
use crate::domain::{Order, OrderError, OrderEvent, OrderId, OrderStatus, TraderId};
use crate::ports::{Clock, OrderStore, StoreError, WorkQueue};

/// How many times a cancel re-reads and retries after losing a race.
const ATTEMPTS: usize = 5;

pub struct CancelDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub clock: &'a dyn Clock,
    /// Where the fast path sends the cancel message (`None`: the outbox alone).
    pub queue: Option<&'a dyn WorkQueue>,
}

/// Cancels `order_id` for `trader`; returns the order as committed.
pub async fn cancel(
    deps: &CancelDeps<'_>,
    trader: &TraderId,
    order_id: &str,
    request_id: Option<String>,
) -> Result<Order, AppError> {
    // An id that cannot exist is as not-found as one that does not.
    let id = OrderId::parse(order_id).map_err(|_| AppError::OrderNotFound(order_id.to_owned()))?;
    let ctx = AuditContext {
        actor: trader.to_string(),
        request_id,
        idempotency_key: None,
    };
    cancel_as(deps, trader, id, &ctx).await
}

/// Cancels `trader`'s order `id` on behalf of `ctx.actor` (the trader, or an operator
/// cancelling for them): the one cancel path every cancel takes.
pub async fn cancel_as(
    deps: &CancelDeps<'_>,
    trader: &TraderId,
    id: OrderId,
    ctx: &AuditContext,
) -> Result<Order, AppError> {
    for _ in 0..ATTEMPTS {
        let order = deps
            .store
            .get_order(trader, &id)
            .await?
            .ok_or_else(|| AppError::OrderNotFound(id.to_string()))?;
        if !order.status.is_cancellable() {
            return Err(OrderError::CannotCancel { status: order.status }.into());
        }
        let account = deps.store.get_account(trader).await?;
        let write = plan_transition(
            &order,
            &OrderEvent::RequestCancel,
            account.as_ref(),
            ctx,
            deps.clock.now(),
        )?;
        let after = write.after.clone();
        match deps.store.transition(write).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        if after.status == OrderStatus::CancelRequested {
            super::fast_path::cancel_now(deps.queue, trader, id).await;
        }
        info!(order_id = %id, trader_id = %trader, status = %after.status, "cancel accepted");
        return Ok(after);
    }
    Err(AppError::OrderContended(id))
}
