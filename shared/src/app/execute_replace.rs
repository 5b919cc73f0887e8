//! Execute's replace step (issue 20): one REPLACE_REQUESTED order brought to the
//! venue's answer, never replacing twice.
//!
//! - **Find before replace.** The replacement's client order id is fixed when the
//!   replace is requested (`PendingReplace::venue_client_id`), so a delivery after a
//!   lost answer or a crash first looks for the replacement, and confirms it if the
//!   venue made it: one replacement however often the message comes.
//! - **FIX quantities at the venue.** The order's new quantity is its total; Alpaca's
//!   replacement takes the quantity still to trade. It is the new total less what the
//!   venue's versions have filled, read just before the replace.
//! - **A fill that gets there first wins.** The venue's order filled (or ended)
//!   before the replace: the replace is refused, the order keeps its values and gets
//!   back what the replace held; its executions are booked by the intake. A fill that
//!   lands between our look and the replace stays with the old version: the confirm
//!   reads what the old version ended with, and the order's quantity becomes what the
//!   venue will trade in all (the reason says so).

use tracing::{info, warn};

use super::{ExecuteDeps, ExecuteError, Step, commit};
use crate::app::plan::AuditContext;
use crate::domain::{Order, OrderEvent, OrderId, PendingReplace, Quantity};
use crate::ports::{VenueError, VenueOrder, VenueReplace, VenueStatus, WorkingOrder};

/// The client order id of the venue order working for `order` now.
pub(super) fn venue_key(order: &Order) -> OrderId {
    order.venue_client_id.unwrap_or(order.order_id)
}

/// The venue order working for `order`: its current version, or, when that one
/// shows replaced and a replace is pending, the replacement it made.
pub(super) async fn live_version(deps: &ExecuteDeps<'_>, order: &Order) -> Result<Option<VenueOrder>, VenueError> {
    let current = deps.venue.find(&venue_key(order)).await?;
    match (&current, &order.pending_replace) {
        (Some(v), Some(p)) if v.status == VenueStatus::Replaced => {
            Ok(deps.venue.find(&p.venue_client_id).await?.or(current))
        }
        _ => Ok(current),
    }
}

pub(super) async fn replace_step(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
) -> Result<Step, ExecuteError> {
    let Some(p) = order.pending_replace.clone() else {
        return Err(mismatch(order, "REPLACE_REQUESTED without the values to replace with"));
    };
    // Replaced already (a lost answer, a crash after the venue's answer).
    if let Some(new) = deps.venue.find(&p.venue_client_id).await? {
        return confirm(deps, ctx, order, &p, &new).await;
    }
    let Some(live) = deps.venue.find(&venue_key(order)).await? else {
        // Not at the venue: a placement that has not landed cannot be replaced.
        return Err(VenueError::Transient("the order is not at the venue yet; the replace waits".into()).into());
    };
    if !live.status.is_open() {
        return refuse(deps, ctx, order, &live).await;
    }
    let venue_filled = order.replaced_filled + live.filled_quantity;
    let to_trade = p.quantity.get() - venue_filled;
    if to_trade <= rust_decimal::Decimal::ZERO {
        let reason = format!(
            "The replace was refused: the order had filled {} at the venue, not less than the new quantity {}",
            venue_filled.normalize(),
            p.quantity
        );
        return commit(deps, ctx, order, &OrderEvent::RefuseReplace { reason }, None).await;
    }
    let changes = VenueReplace {
        client_order_id: p.venue_client_id,
        qty: Some(to_trade),
        limit_price: p.limit_price.map(|x| x.get()),
        stop_price: p.stop_price.map(|x| x.get()),
        time_in_force: Some(p.time_in_force),
    };
    match deps.venue.replace(&live.venue_order_id, &changes).await {
        Ok(new) => confirm(deps, ctx, order, &p, &new).await,
        Err(VenueError::NotCancelable(why)) => match deps.venue.find(&venue_key(order)).await? {
            // Still working but not changeable yet (Alpaca: not routed yet): later.
            Some(v) if v.status.is_open() && v.status != VenueStatus::Replaced => {
                info!(order_id = %order.order_id, venue_status = %v.status, %why, "replace refused for now; retried later");
                Err(VenueError::Transient(format!("the venue cannot replace the order yet: {why}")).into())
            }
            Some(v) => refuse(deps, ctx, order, &v).await,
            None => Err(mismatch(
                order,
                "the venue no longer knows the order it refused to replace",
            )),
        },
        Err(VenueError::Rejected(why)) => {
            // A racing delivery's replace may be the one that made the id taken.
            if let Some(new) = deps.venue.find(&p.venue_client_id).await? {
                return confirm(deps, ctx, order, &p, &new).await;
            }
            let reason = format!("The venue refused the replace: {why}");
            commit(deps, ctx, order, &OrderEvent::RefuseReplace { reason }, None).await
        }
        // Transient: the venue may have replaced it; the next delivery looks first.
        Err(e) => Err(e.into()),
    }
}

/// Settles the replace of `order` (REPLACE_REQUESTED) for the venue intake, which
/// holds an execution that does not fit the order's values as they are: it is the
/// replacement's (so the venue made it: confirmed), or it completed the old version
/// (so no replace can land any more: refused). Either way the execution then fits.
pub(crate) async fn settle_for_execution(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
) -> Result<Step, ExecuteError> {
    let Some(p) = order.pending_replace.clone() else {
        return Ok(Step::Reread);
    };
    if let Some(new) = deps.venue.find(&p.venue_client_id).await? {
        return confirm(deps, ctx, order, &p, &new).await;
    }
    let reason =
        "The replace was refused: a fill completed the order at the venue before the replace reached it".to_owned();
    commit(deps, ctx, order, &OrderEvent::RefuseReplace { reason }, None).await
}

/// The venue's order could no longer be changed: the order keeps its values.
async fn refuse(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    live: &VenueOrder,
) -> Result<Step, ExecuteError> {
    let reason = format!(
        "The replace was refused: the order was already {} at the venue (filled {}) when the replace reached it",
        live.status,
        (order.replaced_filled + live.filled_quantity).normalize()
    );
    info!(order_id = %order.order_id, venue_status = %live.status, "replace refused: the venue's order had moved on");
    commit(deps, ctx, order, &OrderEvent::RefuseReplace { reason }, None).await
}

/// The venue made `new` for `order`: the order takes the new values, its quantity
/// what the venue will trade in all.
async fn confirm(
    deps: &ExecuteDeps<'_>,
    ctx: &AuditContext,
    order: &Order,
    p: &PendingReplace,
    new: &VenueOrder,
) -> Result<Step, ExecuteError> {
    // The replaced version's executions belong to the order; the intake books them
    // through this alias and the working index follows the replacement.
    deps.intake
        .put_venue_alias(&new.venue_order_id, &order.order_id)
        .await?;
    deps.intake
        .put_working(&WorkingOrder {
            order_id: order.order_id,
            trader_id: order.trader_id.clone(),
            venue_order_id: Some(new.venue_order_id.clone()),
            cancel_done: false,
        })
        .await?;
    let Some(old) = deps.venue.find(&venue_key(order)).await? else {
        return Err(mismatch(order, "the replaced version is gone from the venue"));
    };
    if old.status != VenueStatus::Replaced {
        warn!(order_id = %order.order_id, venue_status = %old.status, "replaced version not shown replaced yet; retried later");
        return Err(VenueError::Transient("the replaced version is not final at the venue yet".into()).into());
    }
    let Some(trades) = new.quantity else {
        return Err(mismatch(order, "the venue's replacement carries no quantity"));
    };
    let total = order.replaced_filled + old.filled_quantity + trades;
    let quantity = Quantity::parse(total).map_err(|_| mismatch(order, "the replaced total is out of range"))?;
    let reason = (total != p.quantity.get()).then(|| {
        format!(
            "Replaced for what was left: the venue filled {} before the replace reached it, so the order's quantity is {} (the replacement trades {})",
            (order.replaced_filled + old.filled_quantity).normalize(),
            total.normalize(),
            trades.normalize()
        )
    });
    info!(order_id = %order.order_id, venue_order_id = %new.venue_order_id, quantity = %total, "replaced at the venue");
    let event = OrderEvent::ConfirmReplace {
        quantity,
        replaced_filled: old.filled_quantity,
        reason,
    };
    commit(deps, ctx, order, &event, None).await
}

fn mismatch(order: &Order, detail: &str) -> ExecuteError {
    ExecuteError::Mismatch {
        order: order.order_id.to_string(),
        detail: detail.to_owned(),
    }
}
