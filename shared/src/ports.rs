//! The ports: narrow traits the use cases need. Each has an AWS adapter and an
//! in-memory adapter; `shared/tests/contract.rs` holds both to the same behaviour.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::{
    Account, AccountEffect, AuditRecord, Fill, IdempotencyKey, Order, OrderId, OrderStatus, PnlUpdate, Position,
    Reservation, RiskLimits, Side, Symbol, Timestamp, TraderId,
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
    #[error("the idempotency key was taken by another request")]
    IdempotencyKeyTaken,
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
/// (conditional on buying power / position and the guards), the first audit record,
/// and the idempotency record when the request carried a key.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub order: Order,
    pub reservation: Reservation,
    pub guards: SubmitGuards,
    pub audit: AuditRecord,
    pub idempotency: Option<IdempotencyRecord>,
}

/// The stored outcome of a submit made with an `Idempotency-Key` (SPEC §5): a retry
/// with the same key and the same body gets `status` and `body` back; another body is
/// refused. Committed with the order (or with the rejection's audit record), so there
/// is never a key without its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub trader_id: TraderId,
    pub key: IdempotencyKey,
    /// SHA-256 of the request body as parsed JSON, canonically re-encoded.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub order_id: Option<OrderId>,
    pub created_at: Timestamp,
    /// After this the key may be reused (DynamoDB TTL deletes the item lazily, so
    /// readers and the write condition also compare it).
    pub expires_at: Timestamp,
}

impl IdempotencyRecord {
    /// Keys expire after 24 hours (SPEC §5).
    pub const LIFETIME_SECS: i64 = 24 * 60 * 60;

    /// When a key used at `now` expires: whole seconds, as DynamoDB TTL keeps it.
    pub fn expiry(now: Timestamp) -> Timestamp {
        let secs = now.unix_seconds() + Self::LIFETIME_SECS;
        Timestamp::from_unix_millis(secs * 1000).unwrap_or(now)
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// The outcome of taking one submit from a trader's per-minute budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// The budget of this minute is spent; the next window opens in `retry_after_secs`.
    Limited {
        retry_after_secs: u64,
    },
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

    /// The live idempotency record of `key` for `trader`, if any.
    async fn idempotency(
        &self,
        trader: &TraderId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Commits a refused submit: its audit record, and its idempotency record when the
    /// request had a key (`IdempotencyKeyTaken` if a live record holds the key).
    async fn record_rejection(
        &self,
        audit: AuditRecord,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// Counts one submit against the trader's fixed one-minute window (the minute of
    /// `now`), refusing it once `limit` submits were counted in that window.
    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError>;
}

/// The start (unix seconds) of the one-minute rate window `now` falls in, and the
/// seconds until the next one opens.
pub fn rate_window(now: Timestamp) -> (i64, u64) {
    let secs = now.unix_seconds();
    let start = secs - secs.rem_euclid(60);
    (start, (start + 60 - secs) as u64)
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
