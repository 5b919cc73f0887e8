//! The venue's account-wide feed (`VenueFeed`): executions and open orders, in pages.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{VenueError, VenueStatus};
use crate::domain::{OrderId, Side, Timestamp};

/// One execution at the venue, as its feed reports it (Alpaca: a FILL activity of
/// `GET /v2/account/activities/FILL`). The venue's own figures: booked as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueExecution {
    /// The venue's id of this execution (Alpaca: the activity id,
    /// `<yyyymmddhhmmssSSS>::<uuid>`); the fill's execution id in our books.
    pub execution_id: String,
    pub venue_order_id: String,
    /// Our order id, when the feed carries the venue order's client order id
    /// (Alpaca's FILL activity does not: look the venue order up).
    pub client_order_id: Option<OrderId>,
    pub symbol: String,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    /// The venue order's filled quantity after this execution.
    pub cum_qty: Decimal,
    /// What is left of the venue order after this execution.
    pub leaves_qty: Decimal,
    pub transaction_time: Timestamp,
}

/// Where a read of the venue's executions starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedPosition {
    /// Every execution after this instant (a first start, with no cursor yet).
    Since { at: Timestamp },
    /// Every execution after this one (the last one booked), in the venue's order.
    After { execution_id: String, at: Timestamp },
}

impl FeedPosition {
    /// The position just after `execution`.
    pub fn after(execution: &VenueExecution) -> Self {
        Self::After {
            execution_id: execution.execution_id.clone(),
            at: execution.transaction_time,
        }
    }
}

/// One page of executions, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionPage {
    pub executions: Vec<VenueExecution>,
    /// The page was full: more may follow after its last execution.
    pub more: bool,
}

/// One page of the venue's open orders, oldest submission first (Alpaca:
/// `GET /v2/orders?status=open&direction=asc`), whoever's client order id they carry
/// (a replacement the venue made carries one of its own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenOrderPage {
    pub orders: Vec<VenueOrderRef>,
    /// The last listed order's venue id when the page was full: the next page starts
    /// after it.
    pub next: Option<String>,
}

/// The venue's account-wide view: every execution and order of the API key, read in
/// pages, so the number of calls depends on how much happened, not on how many
/// orders rest (SPEC §6).
#[async_trait]
pub trait VenueFeed: Send + Sync {
    /// Up to `page_size` executions after `from`, oldest first.
    async fn executions(&self, from: &FeedPosition, page_size: u32) -> Result<ExecutionPage, VenueError>;

    /// Up to `limit` of the venue's open orders (every status but the final ones),
    /// oldest submission first, after venue order `after` (exclusive; `None`: from the
    /// first). One call a page, however many orders it holds.
    async fn open_orders(&self, after: Option<&str>, limit: u32) -> Result<OpenOrderPage, VenueError>;

    /// One venue order by the venue's id (its client order id may not be ours: a
    /// replacement the venue made); `None` when the venue has no such order.
    async fn venue_order(&self, venue_order_id: &str) -> Result<Option<VenueOrderRef>, VenueError>;
}

/// A venue order by the venue's id, whoever's client order id it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueOrderRef {
    pub venue_order_id: String,
    pub client_order_id: String,
    pub status: VenueStatus,
    pub filled_quantity: Decimal,
    pub replaced_by: Option<String>,
    /// The order this one replaced (Alpaca's `replaces`).
    pub replaces: Option<String>,
}
