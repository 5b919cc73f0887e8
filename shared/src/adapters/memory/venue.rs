// Long because: the whole Venue and VenueFeed double over the shared book, faults included; a split would break its
// one lock.
//! `Venue` in memory, for fast executor tests. It runs the same matching book as the
//! exchange simulator (`adapters::venue::book`), so it refuses duplicate client
//! order ids, fills, expires and cancels as the simulator does; the contract suite
//! in `tools/simulator/tests/` holds both to it.
//!
//! Knobs: prices (`set_price`, default 100 per symbol), a manual `fill`, partial
//! fills, a hand-moved clock for DAY expiry, and faults (`set_unavailable`,
//! `drop_next_response`: the order is committed, the caller gets `Transient`;
//! `delay_next_placement`: the caller gets `Transient` at once and the venue acts on
//! the placement only at `land_delayed_placements`, so lookups in between find
//! nothing, as with a slow venue behind a client that gave up; `rate_limit_next`:
//! the venue's 429, nothing done); cancels that take effect later, as Alpaca's do
//! (`set_async_cancels`: a cancel request shows the order `pending_cancel` until
//! `finish_cancels`).
//!
//! As a `VenueFeed` it reports every fill of the book as one execution (naming the
//! client order id too, as Alpaca's stream does, or only the venue order, as its FILL
//! activity does: `set_activities_only`), with an id given when the fill happened
//! (`<17-digit sequence>::mem-exec-<n>`, so ids sort as they happened) and the time
//! `epoch` + the venue's clock (`set_epoch`), and lists its open orders by placement
//! time.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::adapters::venue::book::{Book, BookError, BookOrder, NewBookOrder};
use crate::domain::{Order, OrderId, Timestamp};
use crate::ports::{
    ExecutionPage, FeedPosition, OpenOrderPage, Venue, VenueError, VenueExecution, VenueFeed, VenueOrder,
    VenueOrderRef, VenueReplace,
};

struct Inner {
    book: Book,
    prices: HashMap<String, Decimal>,
    now_ms: i64,
    day_ms: i64,
    partial_fills: bool,
    unavailable: bool,
    drop_next: bool,
    delay_next: bool,
    /// Calls still to answer with the venue's 429 (doing nothing).
    rate_limited: usize,
    /// Placements the venue received but has not acted on yet.
    delayed: Vec<(String, NewBookOrder)>,
    next_id: u64,
    /// Every fill of the book as an execution, in the order they happened.
    executions: Vec<VenueExecution>,
    /// How many fills of each venue order are in `executions`.
    recorded: HashMap<String, usize>,
    /// The venue's clock reads `epoch` + `now_ms`.
    epoch_ms: i64,
    /// Venue order id → the venue order that replaced it.
    replaced_by: HashMap<String, String>,
    /// Cancels are taken, then carried out at `finish_cancels`.
    async_cancels: bool,
    /// Venue orders whose cancel was taken and not carried out yet.
    cancelling: Vec<String>,
    /// Calls made: `find` by client order id, and the open-order listing.
    find_calls: usize,
    list_calls: usize,
    /// `venue_order` calls (one venue order by the venue's id).
    venue_order_calls: usize,
    /// Executions name only the venue order (`set_activities_only`).
    activities_only: bool,
}

impl Inner {
    fn at(&self, ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(self.epoch_ms.saturating_add(ms)).unwrap_or_else(Timestamp::now)
    }

    /// Gives every fill the book made since the last call an execution id.
    fn record_executions(&mut self) {
        let mut new = Vec::new();
        for o in self.book.orders() {
            let known = self.recorded.get(&o.id).copied().unwrap_or(0);
            if o.fills.len() <= known {
                continue;
            }
            let mut cum: Decimal = o.fills[..known].iter().map(|f| f.qty).sum();
            for f in &o.fills[known..] {
                cum += f.qty;
                new.push((o.clone(), f.clone(), cum));
            }
        }
        for (o, f, cum) in new {
            let seq = self.executions.len() + 1;
            let execution = VenueExecution {
                execution_id: format!("{seq:017}::mem-exec-{seq}"),
                venue_order_id: o.id.clone(),
                // Alpaca's FILL activity names only the venue order; its stream's
                // update names the client order id too.
                client_order_id: if self.activities_only {
                    None
                } else {
                    OrderId::parse(&o.client_order_id).ok()
                },
                symbol: o.symbol.clone(),
                side: o.side,
                price: f.price,
                qty: f.qty,
                cum_qty: cum,
                leaves_qty: o.qty - cum,
                transaction_time: self.at(f.at_ms),
            };
            self.executions.push(execution);
            *self.recorded.entry(o.id.clone()).or_insert(0) += 1;
        }
    }
}

pub struct MemoryVenue {
    inner: Mutex<Inner>,
}

impl Default for MemoryVenue {
    fn default() -> Self {
        Self::new()
    }
}

fn to_venue_error(e: BookError) -> VenueError {
    match e {
        BookError::NotFound => VenueError::NotFound,
        BookError::NotCancelable(status) => VenueError::NotCancelable(format!("order is {status}")),
        other => VenueError::Rejected(other.to_string()),
    }
}

/// The port's view of a book order; an id that is not an order id cannot be ours.
fn view(order: &BookOrder) -> Result<VenueOrder, VenueError> {
    let client = OrderId::parse(&order.client_order_id)
        .map_err(|_| VenueError::Transient(format!("foreign client order id {}", order.client_order_id)))?;
    Ok(order.to_venue_order(client))
}

/// A book order by the venue's id, a replaced one shown `replaced` with its
/// replacement, and the order it replaced.
fn reference(inner: &Inner, o: &BookOrder) -> VenueOrderRef {
    VenueOrderRef {
        venue_order_id: o.id.clone(),
        client_order_id: o.client_order_id.clone(),
        status: if inner.replaced_by.contains_key(&o.id) {
            crate::ports::VenueStatus::Replaced
        } else {
            o.status.clone()
        },
        filled_quantity: o.filled_qty(),
        replaced_by: inner.replaced_by.get(&o.id).cloned(),
        replaces: inner
            .replaced_by
            .iter()
            .find(|(_, new)| **new == o.id)
            .map(|(old, _)| old.clone()),
    }
}

/// `view`, showing a replaced order as `replaced` with its replacement.
fn view_in(inner: &Inner, order: &BookOrder) -> Result<VenueOrder, VenueError> {
    let mut v = view(order)?;
    if let Some(new) = inner.replaced_by.get(&order.id) {
        v.status = crate::ports::VenueStatus::Replaced;
        v.replaced_by = Some(new.clone());
    } else if v.status.is_open() && inner.cancelling.contains(&order.id) {
        v.status = crate::ports::VenueStatus::PendingCancel;
    }
    Ok(v)
}

impl MemoryVenue {
    /// A symbol nobody priced trades at 100, as in the simulator.
    pub const DEFAULT_PRICE: Decimal = Decimal::ONE_HUNDRED;
    /// DAY orders expire this long after they were placed (the simulator's default).
    pub const DEFAULT_DAY_MS: i64 = 60_000;

    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                book: Book::new(),
                prices: HashMap::new(),
                now_ms: 0,
                day_ms: Self::DEFAULT_DAY_MS,
                partial_fills: false,
                unavailable: false,
                drop_next: false,
                delay_next: false,
                delayed: Vec::new(),
                next_id: 0,
                executions: Vec::new(),
                recorded: HashMap::new(),
                epoch_ms: 0,
                replaced_by: HashMap::new(),
                async_cancels: false,
                cancelling: Vec::new(),
                rate_limited: 0,
                find_calls: 0,
                list_calls: 0,
                venue_order_calls: 0,
                activities_only: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The venue's clock starts at `at` (the default is the Unix epoch): transaction
    /// and placement times are `at` plus the venue's clock.
    pub fn set_epoch(&self, at: Timestamp) {
        self.lock().epoch_ms = at.unix_millis();
    }

    /// The venue replaces the working order `client_order_id` (as for a corporate
    /// action): the old one ends `replaced`, naming the new one, which works on for
    /// the rest at `limit_price` under a client order id of the venue's. Returns the
    /// new venue order id.
    pub fn replace(&self, client_order_id: &OrderId, limit_price: Decimal) -> Result<String, VenueError> {
        let mut inner = self.lock();
        let now = inner.now_ms;
        let old = inner
            .book
            .by_client_id(&client_order_id.to_string())
            .cloned()
            .ok_or(VenueError::NotFound)?;
        inner.book.cancel(&old.id, now).map_err(to_venue_error)?;
        inner.next_id += 1;
        let new_id = format!("mem-{}", inner.next_id);
        let new = NewBookOrder {
            client_order_id: format!("venue-replacement-{}", inner.next_id),
            symbol: old.symbol.clone(),
            side: old.side,
            order_type: old.order_type,
            time_in_force: old.time_in_force,
            qty: old.remaining(),
            limit_price: Some(limit_price),
            stop_price: old.stop_price,
        };
        let price = inner.prices.get(&old.symbol).copied().unwrap_or(Self::DEFAULT_PRICE);
        let partial = inner.partial_fills;
        inner
            .book
            .place(new_id.clone(), new, price, now, &mut || partial)
            .map_err(to_venue_error)?;
        inner.record_executions();
        inner.replaced_by.insert(old.id.clone(), new_id.clone());
        Ok(new_id)
    }

    /// Every execution so far, in the order they happened.
    pub fn all_executions(&self) -> Vec<VenueExecution> {
        let mut inner = self.lock();
        inner.record_executions();
        inner.executions.clone()
    }

    /// Moves `symbol` to `price` and fills the resting orders it crosses.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        let mut inner = self.lock();
        inner.prices.insert(symbol.to_owned(), price);
        let (now, partial) = (inner.now_ms, inner.partial_fills);
        inner.book.on_price(symbol, price, now, &mut || partial);
        inner.record_executions();
    }

    /// Fills `quantity` of the order at `price`, whatever the market does.
    pub fn fill(&self, client_order_id: &OrderId, quantity: Decimal, price: Decimal) -> Result<VenueOrder, VenueError> {
        let mut inner = self.lock();
        let now = inner.now_ms;
        let order = inner
            .book
            .fill(&client_order_id.to_string(), quantity, price, now)
            .map_err(to_venue_error)?;
        inner.record_executions();
        view(&order)
    }

    /// When on, every fill (at placement or on a price move) takes half the remainder.
    /// Cancels take effect later, as Alpaca's do: a cancel request is answered at
    /// once and the order shows `pending_cancel` until [`Self::finish_cancels`].
    pub fn set_async_cancels(&self, on: bool) {
        self.lock().async_cancels = on;
    }

    /// Carries out the cancels taken so far (an order filled meanwhile stays filled).
    /// Returns how many orders it cancelled.
    pub fn finish_cancels(&self) -> usize {
        let mut inner = self.lock();
        let now = inner.now_ms;
        let ids = std::mem::take(&mut inner.cancelling);
        ids.iter().filter(|id| inner.book.cancel(id, now).is_ok()).count()
    }

    pub fn set_partial_fills(&self, on: bool) {
        self.lock().partial_fills = on;
    }

    /// When on, every call fails with `Transient` before doing anything.
    pub fn set_unavailable(&self, on: bool) {
        self.lock().unavailable = on;
    }

    /// The next `calls` calls answer the venue's 429 (`RateLimited`, retry after 1 s)
    /// and do nothing, as Alpaca documents: a placement so refused was not accepted.
    pub fn rate_limit_next(&self, calls: usize) {
        self.lock().rate_limited = calls;
    }

    /// The next call does its work, then fails with `Transient` (a lost response).
    pub fn drop_next_response(&self) {
        self.lock().drop_next = true;
    }

    /// The next `place` answers `Transient` (the caller's timeout) before the venue
    /// acts on it; the venue acts at `land_delayed_placements`.
    pub fn delay_next_placement(&self) {
        self.lock().delay_next = true;
    }

    /// The venue acts on every delayed placement now (a market order fills at the
    /// symbol's price). Returns how many landed (a duplicate client order id does not).
    pub fn land_delayed_placements(&self) -> usize {
        let mut inner = self.lock();
        let delayed = std::mem::take(&mut inner.delayed);
        let mut landed = 0;
        for (id, new) in delayed {
            let price = inner.prices.get(&new.symbol).copied().unwrap_or(Self::DEFAULT_PRICE);
            let (now, partial) = (inner.now_ms, inner.partial_fills);
            landed += usize::from(inner.book.place(id, new, price, now, &mut || partial).is_ok());
            inner.record_executions();
        }
        landed
    }

    pub fn set_day_ms(&self, ms: i64) {
        self.lock().day_ms = ms;
    }

    /// Moves the venue's clock; DAY orders past their day expire.
    pub fn advance_ms(&self, ms: i64) {
        let mut inner = self.lock();
        inner.now_ms += ms;
        let (now, day) = (inner.now_ms, inner.day_ms);
        inner.book.expire(now, day);
    }

    /// How many `find` calls (by client order id) and open-order listings were made.
    pub fn calls(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.find_calls, inner.list_calls)
    }

    /// Executions as Alpaca's FILL activities report them: naming only the venue
    /// order, no client order id (off: as its `trade_updates` stream does).
    pub fn set_activities_only(&self, on: bool) {
        self.lock().activities_only = on;
    }

    /// How many venue orders were looked up by the venue's id (`VenueFeed::venue_order`).
    pub fn venue_order_calls(&self) -> usize {
        self.lock().venue_order_calls
    }

    /// The venue ends working order `client_order_id` on its own: `canceled` (e.g. a
    /// halt), `expired` or `rejected`, as `status` says; its fills stand.
    pub fn end(&self, client_order_id: &OrderId, status: crate::ports::VenueStatus) -> Result<(), VenueError> {
        let mut inner = self.lock();
        let now = inner.now_ms;
        inner
            .book
            .end(&client_order_id.to_string(), status, now)
            .map(|_| ())
            .map_err(to_venue_error)
    }

    /// Every order the venue holds.
    pub fn orders(&self) -> Vec<BookOrder> {
        self.lock().book.orders().to_vec()
    }

    /// How many orders carry `client_order_id` (the contract: never more than one).
    pub fn count(&self, client_order_id: &OrderId) -> usize {
        let id = client_order_id.to_string();
        self.lock()
            .book
            .orders()
            .iter()
            .filter(|o| o.client_order_id == id)
            .count()
    }

    /// Fails at once when unavailable; otherwise tells whether to drop the answer.
    fn fault(inner: &mut Inner) -> Result<bool, VenueError> {
        if inner.unavailable {
            return Err(VenueError::Transient("memory venue is unavailable".into()));
        }
        if inner.rate_limited > 0 {
            inner.rate_limited -= 1;
            return Err(VenueError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(1)),
                message: "too many requests (memory venue)".into(),
            });
        }
        Ok(std::mem::take(&mut inner.drop_next))
    }
}

fn dropped<T>(drop: bool, result: Result<T, VenueError>) -> Result<T, VenueError> {
    if drop {
        Err(VenueError::Transient("the response was lost".into()))
    } else {
        result
    }
}

#[async_trait]
impl Venue for MemoryVenue {
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        inner.next_id += 1;
        let id = format!("mem-{}", inner.next_id);
        let symbol = order.symbol.to_string();
        let price = inner.prices.get(&symbol).copied().unwrap_or(Self::DEFAULT_PRICE);
        // As the Alpaca adapter sends it: a market or stop buy limited at its reservation.
        let terms = crate::adapters::venue::protect::venue_terms(order);
        let new = NewBookOrder {
            client_order_id: order.order_id.to_string(),
            symbol,
            side: order.side,
            order_type: terms.order_type,
            time_in_force: order.time_in_force,
            qty: order.quantity.get(),
            limit_price: terms.limit_price,
            stop_price: order.stop_price.map(|p| p.get()),
        };
        if std::mem::take(&mut inner.delay_next) {
            inner.delayed.push((id, new));
            return Err(VenueError::Transient("the venue did not answer in time".into()));
        }
        let (now, partial) = (inner.now_ms, inner.partial_fills);
        let placed = inner.book.place(id, new, price, now, &mut || partial);
        inner.record_executions();
        dropped(drop, placed.map_err(to_venue_error).and_then(|o| view(&o)))
    }

    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        inner.find_calls += 1;
        let found = inner
            .book
            .by_client_id(&client_order_id.to_string())
            .map(|o| view_in(&inner, o))
            .transpose();
        dropped(drop, found)
    }

    /// Alpaca's replace: the working order ends `replaced`, naming a new order with
    /// the changes and the given client order id, which trades `qty` (unchanged: what
    /// was left); an order that is no longer working (or was replaced) cannot change.
    async fn replace(&self, venue_order_id: &str, changes: &VenueReplace) -> Result<VenueOrder, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        let now = inner.now_ms;
        let Some(old) = inner.book.get(venue_order_id).cloned() else {
            return Err(VenueError::NotFound);
        };
        if inner.replaced_by.contains_key(&old.id) || !old.status.is_open() {
            let shown = if inner.replaced_by.contains_key(&old.id) {
                "replaced".to_owned()
            } else {
                old.status.to_string()
            };
            return Err(VenueError::NotCancelable(format!("order is {shown}")));
        }
        let client = changes.client_order_id.to_string();
        if inner.book.by_client_id(&client).is_some() {
            return Err(VenueError::Rejected("client_order_id must be unique".into()));
        }
        inner.book.cancel(&old.id, now).map_err(to_venue_error)?;
        inner.next_id += 1;
        let new_id = format!("mem-{}", inner.next_id);
        let new = NewBookOrder {
            client_order_id: client,
            symbol: old.symbol.clone(),
            side: old.side,
            order_type: old.order_type,
            time_in_force: changes.time_in_force.unwrap_or(old.time_in_force),
            qty: changes.qty.unwrap_or_else(|| old.remaining()),
            limit_price: changes.limit_price.or(old.limit_price),
            stop_price: changes.stop_price.or(old.stop_price),
        };
        let price = inner.prices.get(&old.symbol).copied().unwrap_or(Self::DEFAULT_PRICE);
        let partial = inner.partial_fills;
        let placed = inner
            .book
            .place(new_id.clone(), new, price, now, &mut || partial)
            .map_err(to_venue_error);
        inner.record_executions();
        inner.replaced_by.insert(old.id.clone(), new_id);
        dropped(drop, placed.and_then(|o| view(&o)))
    }

    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        let now = inner.now_ms;
        if inner.async_cancels {
            // Taken, not carried out: refused as the book would refuse it now.
            let open = match inner.book.orders().iter().find(|o| o.id == venue_order_id) {
                None => Err(to_venue_error(BookError::NotFound)),
                Some(o) if !o.status.is_open() => Err(to_venue_error(BookError::NotCancelable(o.status.clone()))),
                Some(_) => Ok(()),
            };
            if open.is_ok() && !inner.cancelling.iter().any(|id| id == venue_order_id) {
                inner.cancelling.push(venue_order_id.to_owned());
            }
            return dropped(drop, open);
        }
        let cancelled = inner
            .book
            .cancel(venue_order_id, now)
            .map(|_| ())
            .map_err(to_venue_error);
        dropped(drop, cancelled)
    }
}

#[async_trait]
impl VenueFeed for MemoryVenue {
    async fn executions(&self, from: &FeedPosition, page_size: u32) -> Result<ExecutionPage, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        inner.record_executions();
        let start = match from {
            FeedPosition::Since { at } => inner
                .executions
                .iter()
                .position(|e| e.transaction_time > *at)
                .unwrap_or(inner.executions.len()),
            FeedPosition::After { execution_id, .. } => {
                inner
                    .executions
                    .iter()
                    .position(|e| e.execution_id == *execution_id)
                    .ok_or_else(|| VenueError::Rejected(format!("page_token `{execution_id}` is not an execution")))?
                    + 1
            }
        };
        let size = page_size.max(1) as usize;
        let executions: Vec<VenueExecution> = inner.executions.iter().skip(start).take(size).cloned().collect();
        let more = executions.len() == size;
        dropped(drop, Ok(ExecutionPage { executions, more }))
    }

    async fn open_orders(&self, after: Option<&str>, limit: u32) -> Result<OpenOrderPage, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        inner.list_calls += 1;
        let limit = limit.max(1) as usize;
        // The book keeps orders in placement order.
        let orders = inner.book.orders();
        let from = match after {
            None => 0,
            Some(id) => {
                orders
                    .iter()
                    .position(|o| o.id == id)
                    .ok_or_else(|| VenueError::Rejected(format!("after_order_id `{id}` is not an order")))?
                    + 1
            }
        };
        let open: Vec<VenueOrderRef> = orders[from..]
            .iter()
            .map(|o| reference(&inner, o))
            .filter(|o| o.status.is_open())
            .take(limit)
            .collect();
        let next = (open.len() == limit)
            .then(|| open.last().map(|o| o.venue_order_id.clone()))
            .flatten();
        dropped(drop, Ok(OpenOrderPage { orders: open, next }))
    }

    async fn venue_order(&self, venue_order_id: &str) -> Result<Option<VenueOrderRef>, VenueError> {
        let mut inner = self.lock();
        let drop = Self::fault(&mut inner)?;
        inner.venue_order_calls += 1;
        let found = inner.book.get(venue_order_id).map(|o| reference(&inner, o));
        dropped(drop, Ok(found))
    }
}
