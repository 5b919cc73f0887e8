//! The matching book of the two venue doubles: the in-memory venue
//! (`adapters::memory::MemoryVenue`) and the exchange simulator (`tools/simulator`).
//! It owns the state of orders at a pretend venue: unique client order ids, fills
//! against a last-trade price, stop triggers, IOC/FOK, DAY expiry and cancels.
//!
//! Pure: the caller passes the time, the price and whether a fill is partial, so
//! both doubles (and their tests) are deterministic. Fills are kept one by one and
//! the average is their exact volume-weighted mean (`rust_decimal`, no floats).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{OrderId, OrderType, Side, TimeInForce};
use crate::ports::{VenueOrder, VenueStatus};

/// An order as the venue received it (already validated by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBookOrder {
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub qty: Decimal,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookFill {
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookOrder {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub limit_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub stop_price: Option<Decimal>,
    pub status: VenueStatus,
    /// A stop or stop-limit whose stop price was crossed.
    pub triggered: bool,
    pub fills: Vec<BookFill>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub reason: Option<String>,
}

impl BookOrder {
    pub fn filled_qty(&self) -> Decimal {
        self.fills.iter().map(|f| f.qty).sum()
    }

    pub fn remaining(&self) -> Decimal {
        self.qty - self.filled_qty()
    }

    /// Sum of quantity × price over the fills: exact.
    pub fn notional(&self) -> Decimal {
        self.fills.iter().map(|f| f.qty * f.price).sum()
    }

    /// Volume-weighted average fill price; `None` before the first fill.
    pub fn average_price(&self) -> Option<Decimal> {
        let filled = self.filled_qty();
        (!filled.is_zero()).then(|| (self.notional() / filled).normalize())
    }

    /// The port's view of this order, for a venue whose client order ids are order ids.
    pub fn to_venue_order(&self, client_order_id: OrderId) -> VenueOrder {
        VenueOrder {
            venue_order_id: self.id.clone(),
            client_order_id,
            status: self.status.clone(),
            quantity: Some(self.qty),
            filled_quantity: self.filled_qty(),
            average_fill_price: self.average_price(),
            reason: self.reason.clone(),
            replaced_by: None,
        }
    }

    fn fill(&mut self, qty: Decimal, price: Decimal, now_ms: i64) {
        self.fills.push(BookFill {
            qty,
            price,
            at_ms: now_ms,
        });
        self.status = if self.remaining().is_zero() {
            VenueStatus::Filled
        } else {
            VenueStatus::PartiallyFilled
        };
        self.updated_ms = now_ms;
    }

    fn close(&mut self, status: VenueStatus, reason: &str, now_ms: i64) {
        self.status = status;
        self.reason = Some(reason.to_owned());
        self.updated_ms = now_ms;
    }

    /// Triggers a stop if `price` crossed it; then fills (all, or a part when
    /// `partial` says so) if the order is marketable at `price`. A marketable order
    /// fills at `price`, which is never worse than its limit: the better of the two.
    /// Returns whether anything changed.
    fn try_fill(&mut self, price: Decimal, now_ms: i64, partial: &mut dyn FnMut() -> bool) -> bool {
        if !self.status.is_open() {
            return false;
        }
        let mut changed = false;
        if matches!(self.order_type, OrderType::Stop | OrderType::StopLimit) && !self.triggered {
            let Some(stop) = self.stop_price else { return false };
            let crossed = match self.side {
                Side::Buy => price >= stop,
                Side::Sell => price <= stop,
            };
            if !crossed {
                return false;
            }
            self.triggered = true;
            self.updated_ms = now_ms;
            changed = true;
        }
        let marketable = match (self.order_type, self.limit_price) {
            (OrderType::Market | OrderType::Stop, _) => true,
            (OrderType::Limit | OrderType::StopLimit, Some(limit)) => match self.side {
                Side::Buy => price <= limit,
                Side::Sell => price >= limit,
            },
            (OrderType::Limit | OrderType::StopLimit, None) => false,
        };
        let remaining = self.remaining();
        if !marketable || remaining <= Decimal::ZERO {
            return changed;
        }
        let qty = if partial() { part_of(remaining) } else { remaining };
        self.fill(qty, price, now_ms);
        true
    }
}

/// The part a partial fill takes: half the remainder rounded down to whole shares;
/// the whole remainder when that is nothing (under two shares), so a run of partial
/// fills always ends.
fn part_of(remaining: Decimal) -> Decimal {
    let half = (remaining / Decimal::TWO).floor();
    if half > Decimal::ZERO { half } else { remaining }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("client_order_id must be unique")]
    DuplicateClientOrderId,
    #[error("order not found")]
    NotFound,
    #[error("order is not cancelable (status {0})")]
    NotCancelable(VenueStatus),
    #[error("bad fill: {0}")]
    BadFill(String),
}

/// Every order the venue holds, in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    orders: Vec<BookOrder>,
}

impl Book {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn orders(&self) -> &[BookOrder] {
        &self.orders
    }

    pub fn get(&self, id: &str) -> Option<&BookOrder> {
        self.orders.iter().find(|o| o.id == id)
    }

    pub fn by_client_id(&self, client_order_id: &str) -> Option<&BookOrder> {
        self.orders.iter().find(|o| o.client_order_id == client_order_id)
    }

    /// Accepts `new` as order `id` with `price` the symbol's current price: fills
    /// what is marketable at once, settles IOC (the rest is cancelled) and FOK (all
    /// at once or nothing), and rests the rest.
    pub fn place(
        &mut self,
        id: String,
        new: NewBookOrder,
        price: Decimal,
        now_ms: i64,
        partial: &mut dyn FnMut() -> bool,
    ) -> Result<BookOrder, BookError> {
        if self.by_client_id(&new.client_order_id).is_some() {
            return Err(BookError::DuplicateClientOrderId);
        }
        let mut order = BookOrder {
            id,
            client_order_id: new.client_order_id,
            symbol: new.symbol,
            side: new.side,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            qty: new.qty,
            limit_price: new.limit_price,
            stop_price: new.stop_price,
            status: VenueStatus::New,
            triggered: false,
            fills: Vec::new(),
            created_ms: now_ms,
            updated_ms: now_ms,
            reason: None,
        };
        match order.time_in_force {
            TimeInForce::Ioc => {
                order.try_fill(price, now_ms, partial);
                if order.status.is_open() {
                    order.close(VenueStatus::Canceled, "ioc: unfilled remainder canceled", now_ms);
                }
            }
            TimeInForce::Fok => {
                order.try_fill(price, now_ms, &mut || false);
                if order.status.is_open() {
                    order.close(VenueStatus::Canceled, "fok: could not fill in full at once", now_ms);
                }
            }
            TimeInForce::Day | TimeInForce::Gtc => {
                order.try_fill(price, now_ms, partial);
            }
        }
        self.orders.push(order.clone());
        Ok(order)
    }

    /// The price of `symbol` is now `price`: fills the resting orders it crosses.
    /// Returns how many orders changed.
    pub fn on_price(&mut self, symbol: &str, price: Decimal, now_ms: i64, partial: &mut dyn FnMut() -> bool) -> usize {
        self.orders
            .iter_mut()
            .filter(|o| o.symbol == symbol)
            .map(|o| o.try_fill(price, now_ms, partial))
            .filter(|changed| *changed)
            .count()
    }

    /// Expires open DAY orders placed `day_ms` or longer before `now_ms` (their
    /// fills stand). Returns how many expired.
    pub fn expire(&mut self, now_ms: i64, day_ms: i64) -> usize {
        let mut n = 0;
        for o in &mut self.orders {
            if o.time_in_force == TimeInForce::Day && o.status.is_open() && now_ms - o.created_ms >= day_ms {
                o.close(VenueStatus::Expired, "day order expired", now_ms);
                n += 1;
            }
        }
        n
    }

    /// Cancels the remainder of order `id`, at once.
    pub fn cancel(&mut self, id: &str, now_ms: i64) -> Result<BookOrder, BookError> {
        let order = self.orders.iter_mut().find(|o| o.id == id).ok_or(BookError::NotFound)?;
        if !order.status.is_open() {
            return Err(BookError::NotCancelable(order.status.clone()));
        }
        order.close(VenueStatus::Canceled, "canceled by request", now_ms);
        Ok(order.clone())
    }

    /// Test knob: the venue ends the open order with client order id
    /// `client_order_id` on its own, as `status` says (`canceled` for a halt,
    /// `expired`, `rejected`); its fills stand.
    pub fn end(&mut self, client_order_id: &str, status: VenueStatus, now_ms: i64) -> Result<BookOrder, BookError> {
        let order = self
            .orders
            .iter_mut()
            .find(|o| o.client_order_id == client_order_id)
            .ok_or(BookError::NotFound)?;
        if !order.status.is_open() {
            return Err(BookError::NotCancelable(order.status.clone()));
        }
        let reason = format!("{status} by the venue");
        order.close(status, &reason, now_ms);
        Ok(order.clone())
    }

    /// Test knob: fills `qty` of the order with client order id `client_order_id`
    /// at `price`, whatever the market does.
    pub fn fill(
        &mut self,
        client_order_id: &str,
        qty: Decimal,
        price: Decimal,
        now_ms: i64,
    ) -> Result<BookOrder, BookError> {
        let order = self
            .orders
            .iter_mut()
            .find(|o| o.client_order_id == client_order_id)
            .ok_or(BookError::NotFound)?;
        if !order.status.is_open() {
            return Err(BookError::BadFill(format!("order is {}", order.status)));
        }
        if qty <= Decimal::ZERO || price <= Decimal::ZERO || qty > order.remaining() {
            return Err(BookError::BadFill(format!(
                "{qty} at {price} does not fit the remaining {}",
                order.remaining()
            )));
        }
        order.fill(qty, price, now_ms);
        Ok(order.clone())
    }

    pub fn clear(&mut self) {
        self.orders.clear();
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
