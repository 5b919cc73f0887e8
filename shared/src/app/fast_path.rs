//! The fast path (issue 17): right after a commit that calls for work (a new PENDING
//! order, a move into CANCEL_REQUESTED), the API sends the work message itself, so the
//! order reaches the executor in one SQS call instead of through the orders table's
//! stream and the publish function (a quarter of a second, measured in BENCHMARKS.md).
//!
//! The stream stays the guarantee. `app::publish` sends a backstop of the same work
//! ([`WorkMessage::Backstop`], a few seconds late) for an order that still waits for it
//! when the stream brings its change, so an order whose fast-path send failed, or whose
//! function died between its commit and the send, is executed all the same. A failed
//! send is therefore logged and otherwise ignored: the commit stands and the answer is
//! the same. Two copies reaching the executor are safe (the claim is a conditional
//! write; a backstop acts only while the order still waits), so the venue still hears
//! of an order once.

use tracing::warn;

use crate::domain::{OrderId, TraderId};
use crate::ports::{WorkMessage, WorkQueue};

/// The execute message of a new order, now.
pub async fn execute_now(queue: Option<&dyn WorkQueue>, trader: &TraderId, order_id: OrderId) -> bool {
    let trader_id = trader.clone();
    queue_now(queue, WorkMessage::Execute { trader_id, order_id }).await
}

/// The cancel message of an order moved to CANCEL_REQUESTED, now.
pub async fn cancel_now(queue: Option<&dyn WorkQueue>, trader: &TraderId, order_id: OrderId) -> bool {
    let trader_id = trader.clone();
    queue_now(queue, WorkMessage::Cancel { trader_id, order_id }).await
}

/// The replace message of an order moved to REPLACE_REQUESTED, now.
pub async fn replace_now(queue: Option<&dyn WorkQueue>, trader: &TraderId, order_id: OrderId) -> bool {
    let trader_id = trader.clone();
    queue_now(queue, WorkMessage::Replace { trader_id, order_id }).await
}

/// Sends `message` now, when a queue is wired (`None`: the outbox's backstop alone
/// brings the work, a few seconds late). Whether it was sent.
pub async fn queue_now(queue: Option<&dyn WorkQueue>, message: WorkMessage) -> bool {
    let Some(queue) = queue else { return false };
    match queue.send(&message, 0).await {
        Ok(()) => true,
        Err(e) => {
            let (trader, order) = message.ids();
            warn!(order_id = %order, trader_id = %trader, error = %e,
                "fast path: work message not sent; the outbox's backstop brings it");
            false
        }
    }
}
