// Long because: every port and its value types; the split into one file per port (issue 21 item 3) is under way
// separately.
//! The ports: narrow traits the use cases need. Each has an AWS adapter and an
//! in-memory adapter; `shared/tests/contract.rs` holds both to the same behaviour.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::{
    Account, AccountAnchor, AccountAuditRecord, AccountEffect, AuditRecord, ClientOrderId, Fill, IdempotencyKey, Order,
    OrderId, OrderStatus, PnlUpdate, Position, Reservation, RiskLimits, Side, Symbol, Timestamp, TraderId,
    TradingScope, TradingState,
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
    /// The trading state of `scope` (the deployment's, or the trader's own) does not
    /// admit the order; `state` is the state the store found.
    #[error("trading is {state} for {scope}")]
    TradingRestricted { scope: TradingScope, state: TradingState },
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the idempotency key was taken by another request")]
    IdempotencyKeyTaken,
    /// The order's client order id belongs to the trader's open order `order_id`.
    #[error("the client order id is in use by open order {order_id}")]
    ClientOrderIdTaken { order_id: OrderId },
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: &'static str, detail: String },
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

/// Limits the store re-checks atomically when it takes a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitGuards {
    /// The order's side: which trading states admit it (`TradingState::admitting`),
    /// compared with the deployment's and the trader's in the same transaction.
    pub side: Side,
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
    /// Counted; `remaining` more submits fit in this minute.
    Allowed { remaining: u32 },
    /// The budget of this minute is spent; the next window opens in `retry_after_secs`.
    Limited { retry_after_secs: u64 },
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
    /// The request's outcome under its idempotency key (a replace), put in the same
    /// transaction so a retry finds it: only if the key is not taken.
    pub idempotency: Option<IdempotencyRecord>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// The last order id of this page when more may follow.
    pub next: Option<OrderId>,
}

/// The filters of the order list (Alpaca's `GET /v2/orders` parameters): every given
/// filter must hold. Times compare with the order's `created_at`, both bounds
/// exclusive as in Alpaca's document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub after: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Empty: any symbol.
    pub symbols: Vec<Symbol>,
    pub side: Option<Side>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
}

impl OrderFilter {
    pub fn matches(&self, o: &Order) -> bool {
        self.status.is_none_or(|s| o.status == s)
            && self.after.is_none_or(|t| o.created_at > t)
            && self.until.is_none_or(|t| o.created_at < t)
            && (self.symbols.is_empty() || self.symbols.contains(&o.symbol))
            && self.side.is_none_or(|s| o.side == s)
    }
}

/// How many orders one filtered list call reads at most before it answers with what it
/// found (a page may then be short, with a cursor to go on): a filter that matches
/// little costs bounded time and read units per request.
pub const MAX_ORDERS_EXAMINED: usize = 1_000;

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError>;

    /// Opens an account with `cash`, or adds `cash` to an existing one; `limits`
    /// replaces the account's limits when given. Not an API route: the setup path of
    /// tests and tools, audited as `operator:unattributed` (`AccountAdmin::fund` with
    /// an operator's identity is the operators' path).
    async fn fund_account(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
    ) -> Result<Account, StoreError>;

    /// Gives the account a position (transfers in, seeding): the quantity is added and
    /// the average cost becomes the weighted average of the held and deposited lots.
    /// Audited as `operator:unattributed`, like `fund_account`.
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

    /// Commits a replace request (a transition into REPLACE_REQUESTED) as `transition`
    /// does, refused with `TradingRestricted` when the deployment's trading state does
    /// not admit the order's side (as a submit is), and with `InsufficientFunds` /
    /// `InsufficientPosition` when the account or position cannot hold what it adds.
    async fn request_replace(&self, write: TransitionWrite) -> Result<(), StoreError>;

    /// A trader's orders, newest first, optionally of one status, after `after`.
    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError>;

    /// A trader's orders matching `filter`, in its direction, after the cursor `after`
    /// (exclusive, in that direction): at most `limit` of them, from at most
    /// `MAX_ORDERS_EXAMINED` read; `next` is where to go on when more may follow (the
    /// last order read, which need not be in the page).
    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError>;

    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError>;

    /// The trader's latest order with this client order id, open or ended. `create_order`
    /// refuses an order whose client order id an open order of the trader holds
    /// (`ClientOrderIdTaken`), so at most one of them is open.
    async fn order_by_client_order_id(
        &self,
        trader: &TraderId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, StoreError>;

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

/// Who makes an operator change and the change's id. The id makes it idempotent: a
/// store applies one operation id once (an SDK retry of a write that committed, or
/// an operator re-running a command with the same id, changes nothing more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorAction {
    /// `operator:<name>`.
    pub actor: String,
    pub operation_id: String,
}

impl OperatorAction {
    /// A new operation by operator `name`.
    pub fn new(name: &str) -> Self {
        Self::with_id(name, ulid::Ulid::new().to_string())
    }

    pub fn with_id(name: &str, operation_id: impl Into<String>) -> Self {
        Self {
            actor: format!("operator:{name}"),
            operation_id: operation_id.into(),
        }
    }

    /// What `OrderStore::fund_account` / `deposit_position` record.
    pub fn unattributed() -> Self {
        Self::new("unattributed")
    }
}

/// Operators' changes to accounts (SPEC §8): each one writes an
/// `AccountAuditRecord` to the account's chain in the same transaction as the
/// change, and moves the chain's anchor on the account item.
#[async_trait]
pub trait AccountAdmin: Send + Sync {
    /// `OrderStore::fund_account`, recorded as a FUND by `by`; an operation id already
    /// applied returns the account unchanged.
    async fn fund(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
        by: &OperatorAction,
    ) -> Result<Account, StoreError>;

    /// `OrderStore::deposit_position`, recorded as a DEPOSIT_POSITION by `by`.
    async fn deposit(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
        by: &OperatorAction,
    ) -> Result<(), StoreError>;

    /// The account's operator chain, in sequence order.
    async fn account_records(&self, trader: &TraderId) -> Result<Vec<AccountAuditRecord>, StoreError>;

    /// The chain's anchor as the account item keeps it; `None` without an account.
    async fn account_anchor(&self, trader: &TraderId) -> Result<Option<AccountAnchor>, StoreError>;
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
    /// Replace a working order at the venue with its pending replace's values.
    Replace { trader_id: TraderId, order_id: OrderId },
    /// Look at an order again. No longer sent (the venue intake and its sweep follow
    /// resting orders); one still queued or dead-lettered from before is handled as
    /// a look at the order, as `Execute` is. `seq` is read and ignored.
    Recheck {
        trader_id: TraderId,
        order_id: OrderId,
        #[serde(default)]
        seq: u64,
    },
    /// The outbox's copy (the orders table's stream, `app::publish`) of an `Execute`
    /// or `Cancel` the API sends itself right after its commit (the fast path, issue
    /// 17). Sent [`BACKSTOP_DELAY_SECS`] late, and only when the order still waits for
    /// the work when the outbox reads it; acts as the message it backs only while
    /// that is still so (`Backstopped::waits`). Once the order moved on, the fast
    /// path's message got there first and owns the order (SQS brings that one back
    /// if its executor dies), so a second copy would only cost venue calls.
    Backstop {
        trader_id: TraderId,
        order_id: OrderId,
        of: Backstopped,
    },
}

/// How late the outbox's copy of a fast-path message is sent: long enough that the
/// fast path's own message has almost always been taken by then (it is sent within
/// milliseconds of the commit and executed at once), short enough that an order whose
/// fast-path send failed waits only this long.
pub const BACKSTOP_DELAY_SECS: u32 = 5;

/// The work a [`WorkMessage::Backstop`] stands in for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backstopped {
    Execute,
    Cancel,
    Replace,
}

impl Backstopped {
    /// Whether an order in `status` still waits for this work: an `Execute` for a
    /// PENDING order (no one claimed it), a `Cancel` for a CANCEL_REQUESTED one (the
    /// venue has not confirmed the cancel).
    pub fn waits(self, status: crate::domain::OrderStatus) -> bool {
        use crate::domain::OrderStatus as S;
        match self {
            Self::Execute => status == S::Pending,
            Self::Cancel => status == S::CancelRequested,
            Self::Replace => status == S::ReplaceRequested,
        }
    }

    /// The message this stands in for.
    pub fn message(self, trader_id: &TraderId, order_id: OrderId) -> WorkMessage {
        let trader_id = trader_id.clone();
        match self {
            Self::Execute => WorkMessage::Execute { trader_id, order_id },
            Self::Cancel => WorkMessage::Cancel { trader_id, order_id },
            Self::Replace => WorkMessage::Replace { trader_id, order_id },
        }
    }
}

impl WorkMessage {
    pub fn ids(&self) -> (&TraderId, &OrderId) {
        match self {
            Self::Execute { trader_id, order_id }
            | Self::Cancel { trader_id, order_id }
            | Self::Replace { trader_id, order_id }
            | Self::Recheck {
                trader_id, order_id, ..
            }
            | Self::Backstop {
                trader_id, order_id, ..
            } => (trader_id, order_id),
        }
    }
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
    /// Sends `messages` in order, each delayed `delay_seconds`, in as few calls as the
    /// queue takes (SQS: ten a call). On failure, the index of the first message that
    /// may not have been sent: every one before it was (some after it may have been too).
    async fn send_all(&self, messages: &[WorkMessage], delay_seconds: u32) -> Result<(), (usize, QueueError)> {
        for (i, message) in messages.iter().enumerate() {
            self.send(message, delay_seconds).await.map_err(|e| (i, e))?;
        }
        Ok(())
    }
    async fn receive(&self, max: u32, wait_seconds: u32) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;
    /// Hides a received message for `seconds` more (the retry backoff of SPEC §6).
    async fn change_visibility(&self, receipt_handle: &str, seconds: u32) -> Result<(), QueueError>;
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

/// EventBridge `detail-type` of a trading state change (issue 19).
pub const TRADING_STATE_DETAIL_TYPE: &str = "Trading State Changed";

/// The detail of a `Trading State Changed` event: an operator set the trading state of
/// the deployment or of one trader. Consumers dedupe by (`scope`, `trader_id`,
/// `audit_sequence`): the change's record on the principal's operator chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradingStateEvent {
    /// `deployment` or `trader`.
    pub scope: String,
    /// The trader, for a trader's state.
    pub trader_id: Option<TraderId>,
    pub previous_state: TradingState,
    pub state: TradingState,
    pub audit_sequence: u64,
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
    /// Publishes trading state changes (`Trading State Changed`), with the same
    /// guarantee.
    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError>;
}

/// The venue an order is sent to (SPEC §6). The order id is the venue's client
/// order id, which is what makes a resend detectable: after a crash the executor
/// `find`s by it instead of placing again.
///
/// Fills are not reported one by one: the executor derives them from the change in
/// the cumulative `filled_quantity` and `average_fill_price` between two looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    pub venue_order_id: String,
    pub client_order_id: OrderId,
    pub status: VenueStatus,
    /// What the venue order trades in all (Alpaca's `qty`; `None` when the venue
    /// does not say, e.g. an order by notional).
    pub quantity: Option<Decimal>,
    /// Cumulative, exact.
    pub filled_quantity: Decimal,
    /// Volume-weighted average of every fill so far, exact (never via a float);
    /// `None` until the first fill.
    pub average_fill_price: Option<Decimal>,
    /// Why the venue rejected, cancelled or expired the order, when it says.
    pub reason: Option<String>,
    /// The venue order that replaced this one (status `replaced`), when the venue says.
    pub replaced_by: Option<String>,
}

/// A replace's changes (Alpaca's `PatchOrderRequest`): each given field overrides the
/// working order's. The replacing order's client order id is the id of our order's
/// new version (the venue knows every version by its own order id, as for a place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueReplace {
    pub client_order_id: OrderId,
    pub qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub time_in_force: Option<crate::domain::TimeInForce>,
}

/// An order's status at the venue, as Alpaca Trading API v2 names them. A status
/// this code does not know is kept in `Unknown`, never a panic: the executor treats
/// it as "still working, look again later".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VenueStatus {
    /// Received, not yet routed (`pending_new`).
    PendingNew,
    /// Accepted but not yet working (`accepted`, `accepted_for_bidding`).
    Accepted,
    /// Working at the venue, nothing filled (`new`).
    New,
    PartiallyFilled,
    Filled,
    /// Done for today; resumes next session (`done_for_day`).
    DoneForDay,
    Canceled,
    Expired,
    /// Replaced by another order (`replaced`): no further updates on this one.
    Replaced,
    PendingCancel,
    PendingReplace,
    Rejected,
    Suspended,
    Stopped,
    Calculated,
    Held,
    Unknown(String),
}

impl VenueStatus {
    /// Alpaca's status string to a status; unknown strings are kept.
    pub fn from_alpaca(raw: &str) -> Self {
        match raw {
            "pending_new" => Self::PendingNew,
            "accepted" | "accepted_for_bidding" => Self::Accepted,
            "new" => Self::New,
            "partially_filled" => Self::PartiallyFilled,
            "filled" => Self::Filled,
            "done_for_day" => Self::DoneForDay,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "replaced" => Self::Replaced,
            "pending_cancel" => Self::PendingCancel,
            "pending_replace" => Self::PendingReplace,
            "rejected" => Self::Rejected,
            "suspended" => Self::Suspended,
            "stopped" => Self::Stopped,
            "calculated" => Self::Calculated,
            "held" => Self::Held,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_alpaca(&self) -> &str {
        match self {
            Self::PendingNew => "pending_new",
            Self::Accepted => "accepted",
            Self::New => "new",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::DoneForDay => "done_for_day",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Replaced => "replaced",
            Self::PendingCancel => "pending_cancel",
            Self::PendingReplace => "pending_replace",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
            Self::Stopped => "stopped",
            Self::Calculated => "calculated",
            Self::Held => "held",
            Self::Unknown(raw) => raw,
        }
    }

    /// No further fills or status changes will come (`filled_quantity` is final).
    /// `Calculated` and `DoneForDay` are not final: Alpaca may still update them.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Expired | Self::Rejected | Self::Replaced
        )
    }

    /// The venue may still fill some of it and a cancel makes sense.
    pub fn is_open(&self) -> bool {
        !self.is_final()
    }
}

impl std::fmt::Display for VenueStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_alpaca())
    }
}

impl Serialize for VenueStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_alpaca())
    }
}

impl<'de> Deserialize<'de> for VenueStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::from_alpaca(&raw))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// Connect errors, timeouts, lost responses, 5xx: try again later. After a
    /// `place` this does NOT mean the order was not placed: `find` before resending.
    #[error("venue temporarily unavailable: {0}")]
    Transient(String),
    /// 429: the API key's request budget is spent. Transient, and says when to come
    /// back (`Retry-After`, else Alpaca's `X-RateLimit-Reset`) when the venue does.
    /// Nothing was done: a `place` that got this did not place.
    #[error("venue rate limit reached (retry after {retry_after:?}): {message}")]
    RateLimited {
        retry_after: Option<std::time::Duration>,
        message: String,
    },
    /// The venue refused the request for good (4xx); the reason is the venue's.
    #[error("venue rejected the request: {0}")]
    Rejected(String),
    /// A cancel of an order that can no longer be cancelled (filled, already
    /// cancelled, expired): `find` it to learn what it became.
    #[error("the venue order can no longer be cancelled: {0}")]
    NotCancelable(String),
    #[error("the venue has no such order")]
    NotFound,
}

impl VenueError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::RateLimited { .. })
    }
}

#[async_trait]
pub trait Venue: Send + Sync {
    /// Sends `order` with its order id as the client order id. A duplicate client
    /// order id is `Rejected` (the venue keeps the first order).
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError>;
    /// The venue's view of the order whose client order id is `client_order_id`.
    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError>;
    /// Requests a cancel; `find` tells when it took effect (fills may still come
    /// first).
    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError>;
    /// Replaces a working order (Alpaca's `PATCH /v2/orders/{id}`): the venue answers
    /// with the new order, which `replaces` the old one. Success does not mean the
    /// old order was not filled first; `NotCancelable` when it can no longer be
    /// changed. A venue without replace refuses it (`Rejected`).
    async fn replace(&self, venue_order_id: &str, changes: &VenueReplace) -> Result<VenueOrder, VenueError> {
        let _ = (venue_order_id, changes);
        Err(VenueError::Rejected("this venue does not replace orders".into()))
    }
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

/// How many venue requests the deployment may make: the venue's published limit per
/// API key and minute (Alpaca: 200), counted in fixed windows of `window_secs`.
///
/// A fixed-window count alone can put two windows' worth of requests into one sliding
/// minute. A sliding 60 s span touches at most `60 / w + 1` windows of `w` seconds, so
/// a budget of `floor(limit × w / (60 + w))` per window keeps every sliding minute at
/// or under `limit`, however the venue aligns its own window. With 200 a minute and
/// 5 s windows: 15 per window, at most 13 × 15 = 195 in any minute, 180 a minute
/// sustained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueRate {
    pub per_minute: u32,
    pub window_secs: u32,
}

impl VenueRate {
    /// Alpaca's Trading API limit per API key.
    pub const ALPACA: VenueRate = VenueRate {
        per_minute: 200,
        window_secs: 5,
    };

    /// Requests allowed in one window (at least one, so a tiny limit still moves).
    pub fn per_window(&self) -> u32 {
        let w = u64::from(self.window_secs.max(1));
        ((u64::from(self.per_minute) * w) / (60 + w)).max(1) as u32
    }

    /// The start (unix seconds) of the window `now` falls in, and the seconds until
    /// the next one opens.
    pub fn window(&self, now: Timestamp) -> (i64, u64) {
        let w = i64::from(self.window_secs.max(1));
        let secs = now.unix_seconds();
        let start = secs - secs.rem_euclid(w);
        (start, (start + w - secs) as u64)
    }
}

/// Whether a venue request may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetDecision {
    Granted,
    /// The window's budget is spent (or the venue asked us to back off): the next
    /// request may go in `retry_after_secs`.
    Wait {
        retry_after_secs: u64,
    },
}

/// The venue's request budget, shared by every function instance that calls the venue
/// with one API key (SPEC §6, §9: all functions together stay under the venue's
/// published limit). `key` names the API key (never the secret).
#[async_trait]
pub trait VenueBudget: Send + Sync {
    /// Takes one request from the window `now` falls in.
    async fn take_venue_request(
        &self,
        key: &str,
        rate: VenueRate,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError> {
        self.take_venue_request_leaving(key, rate, 0, now).await
    }

    /// Takes one request from the window `now` falls in unless no more than `reserve`
    /// of its `rate.per_window()` are left (those are kept for other callers: execute
    /// leaves the intake its share). At least one request a window is always
    /// possible.
    async fn take_venue_request_leaving(
        &self,
        key: &str,
        rate: VenueRate,
        reserve: u32,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError>;

    /// The venue refused a request with 429: spend every window from `now` until
    /// `until`, so no instance asks again before the venue said it may.
    async fn spend_venue_windows(
        &self,
        key: &str,
        rate: VenueRate,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError>;
}

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
}

/// One audit record as the table holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveEntry {
    /// The item's partition key: the chain (`ORDER#<id>`, `ACCOUNT#<trader>`).
    pub chain: String,
    /// The item's sort key: the record's place in its chain.
    pub position: String,
    pub at: Timestamp,
    pub hash: String,
    /// The whole item, DynamoDB JSON: what the copy keeps.
    pub item: serde_json::Value,
}

/// The write-once copy of the audit trail (SPEC §8; SEC 17a-4(f)): objects that, once
/// written, nobody can change or delete until their retention ends (S3 Object Lock in
/// compliance mode). Keys are `/`-separated paths.
#[async_trait]
pub trait WriteOnceStore: Send + Sync {
    /// Writes `body` at `key` unless an object is already there: `Ok(true)` when this
    /// call wrote it, `Ok(false)` when one was there (a redelivered record).
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError>;
    /// The object at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every key under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// A trading state change an operator made (or found already made: the same operation
/// id applied before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradingStateChange {
    pub scope: TradingScope,
    pub before: TradingState,
    pub after: TradingState,
    /// The audit record's sequence on the scope's chain.
    pub sequence: u64,
}

/// The operators' trading controls (issue 19): the deployment's and each trader's
/// trading state. The deployment's lives on the account item of
/// [`DEPLOYMENT_PRINCIPAL`] (no cash, never a caller: the API refuses that id), so its
/// changes form an `ACCOUNT#` operator chain anchored like any account's, which
/// `verify-audit` checks with the rest; a trader's lives on their account item. Each
/// change writes its `SET_TRADING_STATE` record in the same transaction and moves the
/// chain's anchor; the orders table's stream carries the change to the bus.
#[async_trait]
pub trait TradingControls: Send + Sync {
    /// The state of `scope` (`active` when never set; `NoAccount` for a trader
    /// without an account).
    async fn trading_state(&self, scope: &TradingScope) -> Result<TradingState, StoreError>;

    /// Sets the state of `scope` by `by`, with an optional reason for the record. An
    /// operation id already applied changes nothing and returns the change it made.
    async fn set_trading_state(
        &self,
        scope: &TradingScope,
        state: TradingState,
        reason: Option<&str>,
        by: &OperatorAction,
    ) -> Result<TradingStateChange, StoreError>;
}

/// The principal whose account item holds the deployment's trading state. `@` never
/// starts an identity provider's subject (Cognito's are UUIDs), and the API refuses it
/// as a caller.
pub const DEPLOYMENT_PRINCIPAL: &str = "@deployment";

/// The trader id of [`DEPLOYMENT_PRINCIPAL`].
pub fn deployment_principal() -> TraderId {
    // A constant made of key-safe characters: parsing cannot fail.
    TraderId::parse(DEPLOYMENT_PRINCIPAL).unwrap_or_else(|_| unreachable!("DEPLOYMENT_PRINCIPAL is a valid trader id"))
}

impl TradingScope {
    /// The account whose item and chain hold this scope's state, `deployment` being
    /// the store's deployment principal.
    pub fn principal(&self, deployment: &TraderId) -> TraderId {
        match self {
            TradingScope::Deployment => deployment.clone(),
            TradingScope::Trader(t) => t.clone(),
        }
    }
}

// ---- live order updates (issue 18) ----------------------------------------------

/// A trader's WebSocket connection, as the connections table keeps it. API Gateway
/// closes a WebSocket connection after 2 hours at most; `expires_at` is that limit, or
/// the connect token's expiry when sooner, and is also the item's TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConnection {
    pub connection_id: String,
    pub trader_id: TraderId,
    pub connected_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The connections of each trader (the connections table: one partition per trader).
#[async_trait]
pub trait Connections: Send + Sync {
    /// Records a connection (a repeat of the same id overwrites it).
    async fn add(&self, connection: &LiveConnection) -> Result<(), StoreError>;
    /// Forgets a connection; forgetting one that is not there is not an error.
    async fn remove(&self, trader: &TraderId, connection_id: &str) -> Result<(), StoreError>;
    /// Every recorded connection of the trader, expired ones included (DynamoDB's TTL
    /// deletes items up to days late: callers check `expires_at`).
    async fn of_trader(&self, trader: &TraderId) -> Result<Vec<LiveConnection>, StoreError>;
    /// Every recorded connection, of any trader, whose `expires_at` is at or before
    /// `now` (the sweep that closes them at their token's expiry).
    async fn expired(&self, now: Timestamp) -> Result<Vec<LiveConnection>, StoreError>;
}

/// Why a message could not be sent on a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The connection is closed (the management API's 410 Gone): forget it.
    #[error("the connection is gone")]
    Gone,
    /// Anything else (throttled, unavailable, refused): the message was not delivered.
    #[error("the message was not delivered: {0}")]
    Failed(String),
}

/// Sends messages to WebSocket connections (API Gateway's management API,
/// `POST /@connections/{id}`) and closes them (`DELETE /@connections/{id}`).
#[async_trait]
pub trait Pusher: Send + Sync {
    async fn push(&self, connection_id: &str, message: &[u8]) -> Result<(), PushError>;
    async fn close(&self, connection_id: &str) -> Result<(), PushError>;
}

/// A trader's orders by the time they last changed: the replay of a resumed stream.
#[async_trait]
pub trait OrderChanges: Send + Sync {
    /// The current state of the trader's orders whose `updated_at` is at or after
    /// `since`, oldest change first, at most `limit` of them.
    async fn changed_since(&self, trader: &TraderId, since: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError>;
}
