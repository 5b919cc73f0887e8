// Long because: the simulator's one state behind one lock (book, price path, knobs, fault dice, persistence); being
// changed separately.
//! The simulator's state: the matching book, the price path, the knobs and the fault
//! dice, behind one lock (never held across an await). With `--state FILE` the book
//! and the price path are written after every change, atomically (write a temporary
//! file, then rename it over the old one), and read back at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::adapters::venue::{Book, BookError, BookOrder, NewBookOrder};
use shared::domain::Side;
use shared::ports::VenueStatus;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::config::{Knobs, SimConfig};
use crate::price::{PricePath, SplitMix64};

/// Trade updates a slow stream listener may fall behind by before it is cut off.
const UPDATE_BUFFER: usize = 65_536;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One execution at the venue: a FILL activity (`GET /v2/account/activities/FILL`)
/// and the `fill`/`partial_fill` trade update it was announced with. `activity_id`
/// is Alpaca's `<yyyymmddhhmmssSSS>::<execution id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub activity_id: String,
    pub execution_id: String,
    pub order_id: String,
    pub symbol: String,
    pub side: Side,
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub cum_qty: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub leaves_qty: Decimal,
    /// The account's position in the symbol after this execution.
    #[serde(with = "rust_decimal::serde::str")]
    pub position_qty: Decimal,
    pub at_ms: i64,
    /// `filled` or `partially_filled`: the order's status right after it.
    pub order_status: VenueStatus,
}

/// Where a key stands against the rate limit, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub remaining: u32,
    /// UNIX seconds when the window starts again.
    pub reset: i64,
    /// False: this request is over the limit (429).
    pub allowed: bool,
}

/// What the venue knows about an order besides the book's view of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// A cancel was requested: `pending_cancel` until then, `canceled` after.
    pub cancel_at_ms: Option<i64>,
    pub replaced_by: Option<String>,
    pub replaces: Option<String>,
    pub replaced_at_ms: Option<i64>,
    /// The venue's execution id of each of the order's fills, in order.
    pub executions: Vec<String>,
    /// The last status announced on the stream.
    pub announced: Option<VenueStatus>,
}

/// An order as the API shows it: the book's order with the status the venue shows
/// (`accepted`, `pending_cancel`, `done_for_day`, `replaced` overlay the book's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub order: BookOrder,
    pub meta: Meta,
}

/// One `trade_updates` event, before it is written out.
#[derive(Clone, Debug)]
pub struct TradeUpdate {
    pub event: &'static str,
    pub view: OrderView,
    pub at_ms: i64,
    pub execution: Option<Execution>,
}

/// Why the venue refuses an order or a cancel, beyond the book's reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Book(BookError),
    InsufficientBuyingPower { needed: Decimal, available: Decimal },
}

impl From<BookError> for Refusal {
    fn from(e: BookError) -> Self {
        Self::Book(e)
    }
}

/// What survives a restart of the simulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    book: Book,
    prices: PricePath,
    next_id: u64,
    #[serde(default)]
    unrouted: Vec<BookOrder>,
    #[serde(default)]
    meta: HashMap<String, Meta>,
    #[serde(default)]
    executions: Vec<Execution>,
}

pub struct Sim {
    book: Book,
    /// Orders received but not yet working at the book (`accepted`, `pending_new`),
    /// and those cancelled before they got there.
    unrouted: Vec<BookOrder>,
    meta: HashMap<String, Meta>,
    executions: Vec<Execution>,
    prices: PricePath,
    pub knobs: Knobs,
    dice: SplitMix64,
    next_id: u64,
    state_file: Option<PathBuf>,
    updates: broadcast::Sender<TradeUpdate>,
    /// Per API key: (minute window, requests in it).
    windows: HashMap<String, (i64, u32)>,
}

/// A UUID-shaped id (Alpaca's order and execution ids are UUIDs), unique per
/// process and restart: a ULID's random bits with a counter folded in, and the
/// version/variant bits of a v4 UUID.
fn uuid_like(n: u64) -> String {
    let bits = (ulid::Ulid::new().0 ^ u128::from(n)) & !(0xF000u128 << 64) & !(0xC000u128 << 48);
    let bits = bits | (0x4000u128 << 64) | (0x8000u128 << 48);
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `yyyymmddhhmmssSSS` of `ms` (UTC), the first part of an activity id.
fn activity_stamp(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The trade update event announcing that an order now shows `status`; fills are
/// announced per execution instead.
fn event_of(status: &VenueStatus) -> Option<&'static str> {
    use VenueStatus as S;
    Some(match status {
        S::Accepted => "accepted",
        S::PendingNew => "pending_new",
        S::New => "new",
        S::DoneForDay => "done_for_day",
        S::Canceled => "canceled",
        S::Expired => "expired",
        S::Replaced => "replaced",
        S::PendingCancel => "pending_cancel",
        S::PendingReplace => "pending_replace",
        S::Rejected => "rejected",
        S::Suspended => "suspended",
        S::Stopped => "stopped",
        S::Calculated => "calculated",
        S::Held => "held",
        S::PartiallyFilled | S::Filled | S::Unknown(_) => return None,
    })
}

impl Sim {
    /// A fresh simulator, or the one saved in the state file when there is one.
    pub fn start(config: &SimConfig) -> Result<Self, String> {
        let mut sim = Self {
            book: Book::new(),
            unrouted: Vec::new(),
            meta: HashMap::new(),
            executions: Vec::new(),
            prices: PricePath::new(config.seed, config.prices.clone(), Decimal::ONE_HUNDRED),
            knobs: config.knobs.clone(),
            dice: SplitMix64::new(config.seed.rotate_left(32) ^ 0x5157_u64),
            next_id: 0,
            state_file: config.state_file.clone(),
            updates: broadcast::channel(UPDATE_BUFFER).0,
            windows: HashMap::new(),
        };
        if let Some(path) = &config.state_file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let saved: Saved = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("state file {}: unreadable: {e}", path.display()))?;
                    sim.book = saved.book;
                    sim.prices = saved.prices;
                    sim.next_id = saved.next_id;
                    sim.unrouted = saved.unrouted;
                    sim.meta = saved.meta;
                    sim.executions = saved.executions;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("state file {}: {e}", path.display())),
            }
        }
        Ok(sim)
    }

    fn save(&self) {
        let Some(path) = &self.state_file else { return };
        let saved = Saved {
            book: self.book.clone(),
            prices: self.prices.clone(),
            next_id: self.next_id,
            unrouted: self.unrouted.clone(),
            meta: self.meta.clone(),
            executions: self.executions.clone(),
        };
        if let Err(e) = write_atomically(path, &saved) {
            eprintln!("venue-simulator: could not save state to {}: {e}", path.display());
        }
    }

    /// Rolls the dice for one fault knob.
    pub fn chance(&mut self, rate: f64) -> bool {
        self.dice.chance(rate)
    }

    /// Counts a request of `key` against its minute (a fixed window per key);
    /// `None` with no limit.
    pub fn rate(&mut self, key: &str, now_ms: i64) -> Option<Rate> {
        let limit = self.knobs.rate_limit_per_min;
        self.count(key.to_owned(), limit, now_ms)
    }

    /// As `rate`, for the Market Data API: its own limit, its own windows.
    pub fn market_data_rate(&mut self, key: &str, now_ms: i64) -> Option<Rate> {
        let limit = self.knobs.market_data_rate_limit_per_min;
        self.count(format!("market-data\u{0}{key}"), limit, now_ms)
    }

    fn count(&mut self, key: String, limit: u32, now_ms: i64) -> Option<Rate> {
        if limit == 0 {
            return None;
        }
        let minute = now_ms.div_euclid(60_000);
        let reset = (minute + 1) * 60;
        let window = self.windows.entry(key).or_insert((minute, 0));
        if window.0 != minute {
            *window = (minute, 0);
        }
        if window.1 >= limit {
            return Some(Rate {
                limit,
                remaining: 0,
                reset,
                allowed: false,
            });
        }
        window.1 += 1;
        Some(Rate {
            limit,
            remaining: limit - window.1,
            reset,
            allowed: true,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TradeUpdate> {
        self.updates.subscribe()
    }

    /// Every order, routed or not, as the API shows it.
    pub fn orders(&self) -> Vec<OrderView> {
        self.book
            .orders()
            .iter()
            .chain(&self.unrouted)
            .map(|o| self.view(o))
            .collect()
    }

    /// Every order as the API shows it, brought up to now first.
    pub fn listed(&mut self) -> Vec<OrderView> {
        self.settle(now_ms());
        self.orders()
    }

    pub fn order_count(&self) -> usize {
        self.book.orders().len() + self.unrouted.len()
    }

    fn view(&self, o: &BookOrder) -> OrderView {
        let meta = self.meta.get(&o.id).cloned().unwrap_or_default();
        let mut order = o.clone();
        order.status = self.shown(o, &meta);
        OrderView { order, meta }
    }

    fn shown(&self, o: &BookOrder, meta: &Meta) -> VenueStatus {
        if meta.replaced_by.is_some() {
            return VenueStatus::Replaced;
        }
        if !o.status.is_open() {
            return o.status.clone();
        }
        if meta.cancel_at_ms.is_some() {
            return VenueStatus::PendingCancel;
        }
        let routed = !matches!(o.status, VenueStatus::Accepted | VenueStatus::PendingNew);
        if routed && !self.knobs.market_open {
            return VenueStatus::DoneForDay;
        }
        o.status.clone()
    }

    fn find_raw(&self, client_order_id: &str) -> Option<&BookOrder> {
        self.book
            .by_client_id(client_order_id)
            .or_else(|| self.unrouted.iter().find(|o| o.client_order_id == client_order_id))
    }

    fn get_raw(&self, id: &str) -> Option<&BookOrder> {
        self.book.get(id).or_else(|| self.unrouted.iter().find(|o| o.id == id))
    }

    fn next_uuid(&mut self) -> String {
        self.next_id += 1;
        uuid_like(self.next_id)
    }

    /// What open buys at the venue may still cost: their unfilled quantity at their
    /// limit (or the last price).
    fn committed(&mut self) -> Decimal {
        let open: Vec<(String, Decimal, Option<Decimal>)> = self
            .book
            .orders()
            .iter()
            .chain(&self.unrouted)
            .filter(|o| o.side == Side::Buy && o.status.is_open())
            .map(|o| (o.symbol.clone(), o.remaining(), o.limit_price))
            .collect();
        open.into_iter()
            .map(|(symbol, qty, limit)| qty * limit.unwrap_or_else(|| self.prices.price(&symbol)))
            .sum()
    }

    /// Receives an order: `accepted` (then `pending_new`) for the knobs' time, then it
    /// works at the book; with both at 0 it works at once.
    pub fn place(&mut self, new: NewBookOrder) -> Result<OrderView, Refusal> {
        let now = now_ms();
        self.settle(now);
        if self.find_raw(&new.client_order_id).is_some() {
            return Err(BookError::DuplicateClientOrderId.into());
        }
        if let (Some(power), Side::Buy) = (self.knobs.buying_power, new.side) {
            let price = new.limit_price.unwrap_or_else(|| self.prices.price(&new.symbol));
            let needed = new.qty * price;
            let available = power - self.committed();
            if needed > available {
                return Err(Refusal::InsufficientBuyingPower { needed, available });
            }
        }
        let id = self.next_uuid();
        let order = BookOrder {
            id: id.clone(),
            client_order_id: new.client_order_id,
            symbol: new.symbol,
            side: new.side,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            qty: new.qty,
            limit_price: new.limit_price,
            stop_price: new.stop_price,
            status: VenueStatus::Accepted,
            triggered: false,
            fills: Vec::new(),
            created_ms: now,
            updated_ms: now,
            reason: None,
        };
        self.unrouted.push(order);
        self.settle(now);
        self.save();
        self.get_raw(&id)
            .map(|o| self.view(o))
            .ok_or(Refusal::Book(BookError::NotFound))
    }

    pub fn find(&mut self, client_order_id: &str) -> Option<OrderView> {
        self.settle(now_ms());
        self.find_raw(client_order_id).map(|o| self.view(o))
    }

    pub fn get(&mut self, id: &str) -> Option<OrderView> {
        self.settle(now_ms());
        self.get_raw(id).map(|o| self.view(o))
    }

    /// Requests a cancel: the order shows `pending_cancel` for `cancel_ms`, then
    /// `canceled` (what filled meanwhile stands). Asking again changes nothing.
    pub fn cancel(&mut self, id: &str) -> Result<(), BookError> {
        let now = now_ms();
        self.settle(now);
        let order = self.get_raw(id).ok_or(BookError::NotFound)?;
        let meta = self.meta.get(id).cloned().unwrap_or_default();
        let status = self.shown(order, &meta);
        if !status.is_open() {
            return Err(BookError::NotCancelable(status));
        }
        if meta.cancel_at_ms.is_none() {
            let due = now.saturating_add(i64::try_from(self.knobs.cancel_ms).unwrap_or(i64::MAX));
            self.meta.entry(id.to_owned()).or_default().cancel_at_ms = Some(due);
        }
        self.settle(now);
        self.save();
        Ok(())
    }

    /// The venue replaces a working order (as for a corporate action): the old
    /// order becomes `replaced`, `replaced_by` naming a new order for what was left
    /// of it, which `replaces` it, carries on working and has its own client order
    /// id (`client_order_id`, or one the venue generates, as Alpaca's replace does).
    pub fn replace(&mut self, id: &str, changes: Replacement) -> Result<OrderView, Refusal> {
        let Replacement {
            qty,
            limit_price,
            stop_price,
            time_in_force,
            client_order_id,
        } = changes;
        let now = now_ms();
        self.settle(now);
        // Not routed yet (`accepted`, `pending_new`): Alpaca cannot replace it.
        if let Some(waiting) = self.unrouted.iter().find(|o| o.id == id && o.status.is_open()) {
            return Err(BookError::NotCancelable(waiting.status.clone()).into());
        }
        let old = self.book.get(id).cloned().ok_or(BookError::NotFound)?;
        let meta = self.meta.get(id).cloned().unwrap_or_default();
        let status = self.shown(&old, &meta);
        if !matches!(
            status,
            VenueStatus::New | VenueStatus::PartiallyFilled | VenueStatus::DoneForDay
        ) {
            return Err(BookError::NotCancelable(status).into());
        }
        let client_order_id = client_order_id.unwrap_or_else(|| ulid::Ulid::new().to_string().to_lowercase());
        if self.find_raw(&client_order_id).is_some() {
            return Err(BookError::DuplicateClientOrderId.into());
        }
        let new_id = self.next_uuid();
        self.book.cancel(id, now)?;
        let new = NewBookOrder {
            client_order_id,
            symbol: old.symbol.clone(),
            side: old.side,
            order_type: old.order_type,
            time_in_force: time_in_force.unwrap_or(old.time_in_force),
            // Alpaca's `qty` is the replacing order's quantity; unchanged, it works on
            // for what was left of the old one.
            qty: qty.unwrap_or_else(|| old.remaining()),
            limit_price: limit_price.or(old.limit_price),
            stop_price: stop_price.or(old.stop_price),
        };
        let price = self.prices.price(&new.symbol);
        let Self { book, dice, knobs, .. } = self;
        let rate = knobs.partial_fill_rate;
        let fill = knobs.market_open;
        book.place(new_id.clone(), new, price, now, &mut || fill && dice.chance(rate))?;
        let old_meta = self.meta.entry(id.to_owned()).or_default();
        old_meta.replaced_by = Some(new_id.clone());
        old_meta.replaced_at_ms = Some(now);
        old_meta.cancel_at_ms = None;
        self.meta.entry(new_id.clone()).or_default().replaces = Some(id.to_owned());
        self.settle(now);
        self.save();
        self.get_raw(&new_id)
            .map(|o| self.view(o))
            .ok_or(Refusal::Book(BookError::NotFound))
    }

    /// Brings every order up to `now`: routes received orders that are due, carries
    /// out due cancels, expires DAY orders, records new executions, and announces
    /// every change on the stream. Runs on every request and every tick, so an
    /// answer never shows an order behind its time.
    fn settle(&mut self, now: i64) {
        let mut changed = self.route_due(now);
        changed |= self.cancel_due(now);
        let day = i64::try_from(self.knobs.day_ms).unwrap_or(i64::MAX);
        changed |= self.book.expire(now, day) > 0;
        changed |= self.record_executions(now);
        self.announce(now);
        if changed {
            self.save();
        }
    }

    fn route_due(&mut self, now: i64) -> bool {
        let accepted = i64::try_from(self.knobs.accepted_ms).unwrap_or(i64::MAX);
        let pending = i64::try_from(self.knobs.pending_new_ms).unwrap_or(i64::MAX);
        let mut due = Vec::new();
        for o in &mut self.unrouted {
            if !o.status.is_open() {
                continue;
            }
            let age = now - o.created_ms;
            if age >= accepted.saturating_add(pending) && self.knobs.market_open {
                due.push(o.id.clone());
            } else if age >= accepted && self.knobs.market_open && o.status == VenueStatus::Accepted {
                o.status = VenueStatus::PendingNew;
                o.updated_ms = now;
            }
        }
        for id in &due {
            let Some(at) = self.unrouted.iter().position(|o| &o.id == id) else {
                continue;
            };
            let o = self.unrouted.remove(at);
            // Every step is announced, however late this look: `pending_new`, then
            // `new` before any fill it meets at once.
            if o.status == VenueStatus::Accepted {
                let mut routed = o.clone();
                routed.status = VenueStatus::PendingNew;
                routed.updated_ms = now;
                self.emit("pending_new", routed, now, None);
            }
            let mut working = o.clone();
            working.status = VenueStatus::New;
            working.updated_ms = now;
            self.emit("new", working, now, None);
            self.meta.entry(o.id.clone()).or_default().announced = Some(VenueStatus::New);
            let new = NewBookOrder {
                client_order_id: o.client_order_id,
                symbol: o.symbol,
                side: o.side,
                order_type: o.order_type,
                time_in_force: o.time_in_force,
                qty: o.qty,
                limit_price: o.limit_price,
                stop_price: o.stop_price,
            };
            let price = self.prices.price(&new.symbol);
            let Self { book, dice, knobs, .. } = self;
            let rate = knobs.partial_fill_rate;
            // Routed now: its fills happen now, after every execution already
            // listed, so a client paging activities by time misses none (the book
            // dates the order from here too).
            if let Err(e) = book.place(o.id, new, price, now, &mut || dice.chance(rate)) {
                eprintln!("venue-simulator: routing an accepted order failed: {e}");
            }
        }
        !due.is_empty()
    }

    fn cancel_due(&mut self, now: i64) -> bool {
        let due: Vec<String> = self
            .meta
            .iter()
            .filter(|(_, m)| m.cancel_at_ms.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            if let Some(m) = self.meta.get_mut(id) {
                m.cancel_at_ms = None;
            }
            if let Some(o) = self.unrouted.iter_mut().find(|o| &o.id == id) {
                if o.status.is_open() {
                    o.status = VenueStatus::Canceled;
                    o.reason = Some("canceled by request".into());
                    o.updated_ms = now;
                }
            } else {
                // Filled meanwhile: nothing left to cancel, which is fine.
                let _ = self.book.cancel(id, now);
            }
        }
        !due.is_empty()
    }

    /// Gives each new fill of the book an execution id and an activity, and
    /// announces it. Returns whether there was any.
    fn record_executions(&mut self, now: i64) -> bool {
        let mut found = Vec::new();
        for o in self.book.orders() {
            let known = self.meta.get(&o.id).map_or(0, |m| m.executions.len());
            if o.fills.len() > known {
                found.push((o.id.clone(), known));
            }
        }
        if found.is_empty() {
            return false;
        }
        let mut new_executions = Vec::new();
        for (id, known) in found {
            let Some(o) = self.book.get(&id).cloned() else { continue };
            let mut cum: Decimal = o.fills[..known].iter().map(|f| f.qty).sum();
            for fill in &o.fills[known..] {
                cum += fill.qty;
                self.next_id += 1;
                let execution_id = uuid_like(self.next_id);
                let signed = if o.side == Side::Buy { fill.qty } else { -fill.qty };
                let position = self.position(&o.symbol) + signed;
                let leaves = o.qty - cum;
                new_executions.push(Execution {
                    activity_id: format!("{}::{execution_id}", activity_stamp(fill.at_ms)),
                    execution_id: execution_id.clone(),
                    order_id: o.id.clone(),
                    symbol: o.symbol.clone(),
                    side: o.side,
                    qty: fill.qty,
                    price: fill.price,
                    cum_qty: cum,
                    leaves_qty: leaves,
                    position_qty: position,
                    at_ms: fill.at_ms,
                    order_status: if leaves.is_zero() {
                        VenueStatus::Filled
                    } else {
                        VenueStatus::PartiallyFilled
                    },
                });
                self.executions.push(new_executions[new_executions.len() - 1].clone());
                self.meta.entry(o.id.clone()).or_default().executions.push(execution_id);
            }
        }
        for e in new_executions {
            let Some(o) = self.book.get(&e.order_id) else { continue };
            // The order as it stood right after this execution.
            let mut then = self.view(o);
            let upto = then
                .meta
                .executions
                .iter()
                .position(|x| *x == e.execution_id)
                .map_or(0, |i| i + 1);
            then.order.fills.truncate(upto);
            then.order.status = e.order_status.clone();
            let event = if e.order_status == VenueStatus::Filled {
                "fill"
            } else {
                "partial_fill"
            };
            self.emit_view(event, then, now, Some(e.clone()));
            if let Some(m) = self.meta.get_mut(&e.order_id) {
                m.announced = Some(e.order_status.clone());
            }
        }
        true
    }

    fn position(&self, symbol: &str) -> Decimal {
        self.executions
            .iter()
            .rev()
            .find(|e| e.symbol == symbol)
            .map_or(Decimal::ZERO, |e| e.position_qty)
    }

    /// Announces every order whose shown status changed since it was last announced.
    fn announce(&mut self, now: i64) {
        let none = Meta::default();
        let mut changes = Vec::new();
        for o in self.book.orders().iter().chain(&self.unrouted) {
            let meta = self.meta.get(&o.id).unwrap_or(&none);
            if meta.announced.as_ref() != Some(&self.shown(o, meta)) {
                changes.push(self.view(o));
            }
        }
        for view in changes {
            let status = view.order.status.clone();
            let id = view.order.id.clone();
            if let Some(event) = event_of(&status) {
                self.emit_view(event, view, now, None);
            }
            self.meta.entry(id).or_default().announced = Some(status);
        }
    }

    fn emit(&self, event: &'static str, order: BookOrder, now: i64, execution: Option<Execution>) {
        let meta = self.meta.get(&order.id).cloned().unwrap_or_default();
        self.emit_view(event, OrderView { order, meta }, now, execution);
    }

    fn emit_view(&self, event: &'static str, view: OrderView, now: i64, execution: Option<Execution>) {
        let at_ms = execution.as_ref().map_or(now, |e| e.at_ms);
        // No listener is not an error: updates are not kept for later (the
        // activities endpoint is how a client catches up).
        let _ = self.updates.send(TradeUpdate {
            event,
            view,
            at_ms,
            execution,
        });
    }

    /// Every execution, oldest first (ties in the order they happened).
    pub fn executions(&self) -> &[Execution] {
        &self.executions
    }

    /// `n` steps of the price path; resting orders fill where it crosses them
    /// (none while the market is closed). The file is written only when an order
    /// changed, not for every price move: after a restart the path goes on from
    /// the last saved prices.
    pub fn tick(&mut self, n: u64) {
        let mut changed = 0;
        for _ in 0..n {
            let moves = self.prices.tick();
            changed += self.fill_at(&moves);
        }
        if changed > 0 {
            self.save();
        }
        self.settle(now_ms());
    }

    /// Sets prices by hand; resting orders fill where they are crossed.
    pub fn set_prices(&mut self, prices: &[(String, Decimal)]) {
        for (symbol, price) in prices {
            self.prices.set(symbol, *price);
        }
        self.fill_at(prices);
        self.settle(now_ms());
        self.save();
    }

    /// Returns how many orders changed.
    fn fill_at(&mut self, moves: &[(String, Decimal)]) -> usize {
        if !self.knobs.market_open {
            return 0;
        }
        let now = now_ms();
        let Self { book, dice, knobs, .. } = self;
        let rate = knobs.partial_fill_rate;
        moves
            .iter()
            .map(|(symbol, price)| book.on_price(symbol, *price, now, &mut || dice.chance(rate)))
            .sum()
    }

    /// The price of `symbol`'s latest trade on the price path, and the ticks so far.
    pub fn last_trade(&mut self, symbol: &str) -> (Decimal, u64) {
        (self.prices.price(symbol), self.prices.ticks())
    }

    pub fn prices(&self) -> std::collections::BTreeMap<String, Decimal> {
        self.prices.current()
    }

    pub fn ticks(&self) -> u64 {
        self.prices.ticks()
    }

    /// Forgets every order and execution and restarts the price path; the knobs stay.
    pub fn reset(&mut self) {
        self.book.clear();
        self.unrouted.clear();
        self.meta.clear();
        self.executions.clear();
        self.prices.reset();
        self.save();
    }
}

fn write_atomically(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// A replace's changes (Alpaca's `PatchOrderRequest`): each given field overrides the
/// old order's, the rest stay as they were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replacement {
    pub qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub time_in_force: Option<shared::domain::TimeInForce>,
    pub client_order_id: Option<String>,
}
