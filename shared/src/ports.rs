//! The ports: narrow traits the use cases need. Each has an AWS adapter and an
//! in-memory adapter; `shared/tests/contract.rs` holds both to the same behaviour.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::{
    Account, AccountEffect, AuditRecord, Fill, Order, OrderId, OrderStatus, PnlUpdate, Position, Reservation,
    RiskLimits, Side, Symbol, Timestamp, TraderId,
};

/// Errors of the stores. Refusals the caller can explain to a trader are variants;
/// anything else is `Unavailable` (the dependency failed) or `Corrupt` (a stored item
/// could not be read back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no account exists for this trader")]
    NoAccount,
    #[error("buying power does not cover the reservation")]
    InsufficientFunds,
    #[error("the position does not cover the sell")]
    InsufficientPosition,
    #[error("the open orders limit has been reached")]
    OpenOrderLimit,
    #[error("the daily loss limit has been reached")]
    DailyLossLimit,
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: &'static str, detail: String },
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

/// Limits the store re-checks atomically when it takes a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitGuards {
    pub max_open_orders: u32,
    pub daily_loss_limit: Decimal,
    pub today: Date,
}

/// Everything a submit commits, in one transaction: the order (new), the reservation
/// (conditional on buying power / position and the guards), the first audit record.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub order: Order,
    pub reservation: Reservation,
    pub guards: SubmitGuards,
    pub audit: AuditRecord,
}

/// A trade booked on a position: written conditional on the position version read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// The position as read (version 0 and zero quantity when it did not exist).
    pub before: Position,
    pub after: Position,
    pub cash: Decimal,
    pub pnl: PnlUpdate,
}

/// Everything a status transition commits, in one transaction: the order
/// (conditional on the status and version it had), its audit record, the account
/// effect, and for fills the fill record (once per execution id) and the booking.
#[derive(Clone, Debug)]
pub struct TransitionWrite {
    pub before: Order,
    pub after: Order,
    pub audit: AuditRecord,
    pub effect: AccountEffect,
    pub fill: Option<Fill>,
    pub booking: Option<Booking>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// The last order id of this page when more may follow.
    pub next: Option<OrderId>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError>;

    /// Opens an account with `cash`, or adds `cash` to an existing one; `limits`
    /// replaces the account's limits when given. Operators' path, not an API route.
    async fn fund_account(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
    ) -> Result<Account, StoreError>;

    /// Gives the account a position (operators' path: transfers in, seeding).
    async fn deposit_position(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
    ) -> Result<(), StoreError>;

    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError>;

    async fn get_order(&self, trader: &TraderId, order: &OrderId) -> Result<Option<Order>, StoreError>;

    /// Commits a transition; `Conflict` when the order is no longer at
    /// `before.status`/`before.version` (or a booked position moved), `AlreadyExists`
    /// when the fill's execution id was already recorded.
    async fn transition(&self, write: TransitionWrite) -> Result<(), StoreError>;

    /// A trader's orders, newest first, optionally of one status, after `after`.
    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError>;

    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError>;
}

/// The append-only audit trail. There is deliberately no update or delete.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends a record; `AlreadyExists` if its (order, sequence) is taken.
    async fn append(&self, record: &AuditRecord) -> Result<(), StoreError>;
    /// An order's records in sequence order.
    async fn records(&self, order: &OrderId) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Work for the execute function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkMessage {
    /// Send a PENDING order to the venue (or reconcile it after a crash).
    Execute { trader_id: TraderId, order_id: OrderId },
    /// Cancel a working order at the venue.
    Cancel { trader_id: TraderId, order_id: OrderId },
    /// Look at a resting order again for fills and expiry.
    Recheck { trader_id: TraderId, order_id: OrderId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue is unavailable: {0}")]
    Unavailable(String),
    #[error("message could not be encoded: {0}")]
    Encode(String),
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, message: &WorkMessage, delay_seconds: u32) -> Result<(), QueueError>;
    async fn receive(&self, max: u32, wait_seconds: u32) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;
}

/// EventBridge `source` and `detail-type` of status events (SPEC §7).
pub const EVENT_SOURCE: &str = "orders";
pub const EVENT_DETAIL_TYPE: &str = "Order Status Changed";

/// The detail of an `Order Status Changed` event. Consumers dedupe by
/// (`order_id`, `version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub order_id: OrderId,
    pub trader_id: TraderId,
    pub client_order_id: Option<String>,
    pub symbol: Symbol,
    pub side: Side,
    pub previous_status: Option<OrderStatus>,
    pub new_status: OrderStatus,
    #[serde(with = "rust_decimal::serde::str")]
    pub filled_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub average_price: Option<Decimal>,
    pub version: u64,
    pub timestamp: Timestamp,
}

impl StatusEvent {
    /// The event for an order that moved from `previous` (None when just created).
    pub fn of(previous: Option<OrderStatus>, order: &Order) -> Self {
        Self {
            order_id: order.order_id,
            trader_id: order.trader_id.clone(),
            client_order_id: order.client_order_id.as_ref().map(|c| c.to_string()),
            symbol: order.symbol.clone(),
            side: order.side,
            previous_status: previous,
            new_status: order.status,
            filled_quantity: order.filled_quantity,
            average_price: order.average_fill_price,
            version: order.version,
            timestamp: order.updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Some entries were refused for good (e.g. validation), or stayed refused after
    /// the retry budget. `failed` holds the indexes of the events not published.
    #[error("{} of {total} status events were not published: {detail}", failed.len())]
    Failed {
        failed: Vec<usize>,
        total: usize,
        detail: String,
    },
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait StatusEvents: Send + Sync {
    /// Publishes every event or says which were not published; never drops one
    /// silently.
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError>;
}

/// The venue an order is sent to (SPEC §6). The order id is the venue's client
/// order id, which is what makes a resend detectable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    pub venue_order_id: String,
    pub client_order_id: OrderId,
    pub status: String,
    pub filled_quantity: Decimal,
    pub average_fill_price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// Timeouts, 5xx, 429: try again later.
    #[error("venue temporarily unavailable: {0}")]
    Transient(String),
    /// The venue refused the request for good (4xx); the reason is the venue's.
    #[error("venue rejected the request: {0}")]
    Rejected(String),
    #[error("the venue has no such order")]
    NotFound,
}

#[async_trait]
pub trait Venue: Send + Sync {
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError>;
    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError>;
    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
