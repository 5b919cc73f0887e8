//! The venue orders are sent to (`Venue`), its order view, statuses and errors.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Order, OrderId};

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
