//! The order store (`OrderStore`): orders, reservations, transitions, idempotency and
//! the submit rate, with the values they commit.

use async_trait::async_trait;
use rust_decimal::Decimal;
use time::Date;

use super::StoreError;
use crate::domain::{
    Account, AccountEffect, AuditRecord, ClientOrderId, Fill, IdempotencyKey, NotionalWindow, Order, OrderId,
    OrderStatus, PnlUpdate, Position, Reservation, RiskLimits, Side, Symbol, Timestamp, TraderId,
};

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
    /// The order's notional at the price it is valued at (`Assessment::notional`).
    pub notional: Decimal,
    pub reservation: Reservation,
    pub guards: SubmitGuards,
    pub audit: AuditRecord,
    pub idempotency: Option<IdempotencyRecord>,
    /// Duplicate detection, for an order sent without a key to an account with a window.
    pub duplicate: Option<DuplicateGuard>,
    /// The trader's rolling-minute notional with this order counted
    /// (`NotionalWindow::admit`), for an account with that limit: written only over the
    /// version it was read at (`StoreError::NotionalWindowMoved` otherwise).
    pub notional_window: Option<NotionalWindow>,
}

/// The order's fingerprint (`OrderDraft::duplicate_fingerprint`), recorded with the
/// order for `window_secs`: another order of the trader with the same fingerprint in
/// that time is refused (`StoreError::DuplicateOrder`) unless `confirmed`, which
/// records it all the same (the next duplicate names the newest order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateGuard {
    pub fingerprint: String,
    pub window_secs: u32,
    pub confirmed: bool,
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
    /// A record for operators (a stall, a reconciliation correction), put in the same
    /// transaction so the case and its record exist together (`AttentionLog`).
    pub attention: Option<super::Attention>,
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

    /// The trader's rolling-minute notional as stored (empty, version 0, if none), read
    /// consistently: submit admits an order against it and commits it back with the
    /// order (`NewOrder::notional_window`).
    async fn notional_window(&self, trader: &TraderId) -> Result<NotionalWindow, StoreError>;

    /// The account as `get_account` reads it, with its rolling-minute notional window
    /// when the account has that limit (`None` otherwise). A store that keeps both in
    /// one partition reads them in one request (DynamoDB: the account's `Query`), so the
    /// limit costs submit no round trip of its own.
    async fn account_with_window(
        &self,
        trader: &TraderId,
    ) -> Result<Option<(Account, Option<NotionalWindow>)>, StoreError> {
        let Some(account) = self.get_account(trader).await? else {
            return Ok(None);
        };
        let window = if account.limits.max_notional_per_minute > Decimal::ZERO {
            Some(self.notional_window(trader).await?)
        } else {
            None
        };
        Ok(Some((account, window)))
    }
}

/// The start (unix seconds) of the one-minute rate window `now` falls in, and the
/// seconds until the next one opens.
pub fn rate_window(now: Timestamp) -> (i64, u64) {
    let secs = now.unix_seconds();
    let start = secs - secs.rem_euclid(60);
    (start, (start + 60 - secs) as u64)
}
