//! What the venue intake keeps (`IntakeStore`): its feed cursor, order locators and the
//! working index.

use async_trait::async_trait;

use super::{FeedPosition, StoreError};
use crate::domain::{OrderId, TraderId};

/// The intake's durable cursor as stored: where the next read of the feed starts,
/// and the version it was written at (0: never written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCursor {
    pub position: FeedPosition,
    pub version: u64,
}

/// What the venue intake keeps besides the orders (SPEC §6): its cursor on the
/// venue's feed, and the locator from our order id to its trader (orders are keyed
/// by trader; the venue knows only the order id).
#[async_trait]
pub trait IntakeStore: Send + Sync {
    /// The cursor of feed `feed` (an API key's digest), if one was written.
    async fn feed_cursor(&self, feed: &str) -> Result<Option<StoredCursor>, StoreError>;

    /// Moves the cursor to `to` if it is still at version `expected` (0: not written
    /// yet); `Conflict` otherwise, so two passes can never move it backwards.
    async fn advance_feed_cursor(&self, feed: &str, expected: u64, to: &FeedPosition) -> Result<(), StoreError>;

    /// Records whose order `order` is; idempotent (the same trader again is a no-op).
    async fn put_order_ref(&self, order: &OrderId, trader: &TraderId) -> Result<(), StoreError>;

    /// The trader of `order`, when its locator was recorded.
    async fn order_trader(&self, order: &OrderId) -> Result<Option<TraderId>, StoreError>;

    /// Records that venue order `venue_order_id` works for our `order` (a replacement
    /// the venue made: its client order id is not ours).
    async fn put_venue_alias(&self, venue_order_id: &str, order: &OrderId) -> Result<(), StoreError>;

    /// Our order a venue order works for, when an alias was recorded.
    async fn venue_alias(&self, venue_order_id: &str) -> Result<Option<OrderId>, StoreError>;

    /// Adds (or rewrites) `order` in the working index: the orders of ours that reached
    /// the venue and have not ended, which the reconciliation sweep compares with the
    /// venue's open orders. Put with the locator, before the venue hears of the order.
    async fn put_working(&self, order: &WorkingOrder) -> Result<(), StoreError>;

    /// Every order in the working index.
    async fn working_orders(&self) -> Result<Vec<WorkingOrder>, StoreError>;

    /// Whether `order` is in the working index. Execute puts an order there before
    /// each placement and takes it out when the venue refused the placement with its
    /// rate limit (nothing sent), so a SUBMITTED order that is not there was never
    /// sent: it is placed again without a lookup, and the sweep does not look for it.
    async fn is_working(&self, order: &OrderId) -> Result<bool, StoreError>;

    /// Whether `order` is in the working index with its executor's part of a cancel
    /// over (`WorkingOrder::cancel_done`): its cancel message was delivered and acted
    /// on, so the outbox's backstop of that message has nothing left to do.
    async fn cancel_done(&self, order: &OrderId) -> Result<bool, StoreError>;

    /// Takes `order` out of the working index (it ended); removing one that is not
    /// there is not an error.
    async fn remove_working(&self, order: &OrderId) -> Result<(), StoreError>;
}

/// An order of ours working at the venue, as the working index keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingOrder {
    pub order_id: OrderId,
    pub trader_id: TraderId,
    /// The venue order that works for ours when the venue replaced it (`replaced_by`,
    /// followed by the sweep); `None` while our order id is its client order id.
    pub venue_order_id: Option<String>,
    /// The executor's part of a cancel of it is over: after acting on the cancel
    /// message it found the venue showing the cancel under way (`pending_cancel`),
    /// or the venue order ended with executions the intake has still to book. What
    /// is left is the venue's end of the order, which the intake and its sweep
    /// book. Set by the executor's put, which rewrites the entry; any other put
    /// clears it, which only lets a backstop go out.
    pub cancel_done: bool,
}
