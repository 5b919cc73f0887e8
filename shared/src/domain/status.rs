//! The order status machine (SPEC §2). `next` is the only place a transition is
//! decided; the stores enforce the same decision with a conditional write on the
//! status and version the caller read.
//!
//! ```text
//! PENDING ──(execute picks it up)──> SUBMITTED ──> PARTIALLY_FILLED ──> FILLED
//!    │                                  │    │              │
//!    ├──> CANCELLED <── CANCEL_REQUESTED <┘  └──> REJECTED   ├──> CANCELLED
//!    ├──> REJECTED                       └──> EXPIRED        └──> EXPIRED
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Submitted,
    PartiallyFilled,
    CancelRequested,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        Self::Pending,
        Self::Submitted,
        Self::PartiallyFilled,
        Self::CancelRequested,
        Self::Filled,
        Self::Cancelled,
        Self::Rejected,
        Self::Expired,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired)
    }

    /// Statuses a trader may cancel from (SPEC §3 message lists them).
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Pending | Self::Submitted | Self::PartiallyFilled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Submitted => "SUBMITTED",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::CancelRequested => "CANCEL_REQUESTED",
            Self::Filled => "FILLED",
            Self::Cancelled => "CANCELLED",
            Self::Rejected => "REJECTED",
            Self::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

/// What happened to an order, reduced to what the table needs to decide the next
/// status. A fill is `PartialFill` or `FinalFill` depending on whether it completes
/// the order's quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The executor claimed the order and is sending it to the venue.
    Claim,
    PartialFill,
    FinalFill,
    /// A trader asked to cancel.
    RequestCancel,
    /// The venue confirmed a cancel (ours, or its own for the remainder of an order).
    ConfirmCancel,
    Reject,
    Expire,
    /// Execution gave up retrying (the work message went to the dead-letter queue):
    /// the status stays, the order says why, for an operator.
    Stall,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        Self::Claim,
        Self::PartialFill,
        Self::FinalFill,
        Self::RequestCancel,
        Self::ConfirmCancel,
        Self::Reject,
        Self::Expire,
        Self::Stall,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an order in {from} status cannot take a {event:?} event")]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub event: EventKind,
}

/// The transition table. Exhaustive over both enums: adding a status or an event
/// does not compile until every pair is decided here.
pub fn next(from: OrderStatus, event: EventKind) -> Result<OrderStatus, InvalidTransition> {
    use EventKind as E;
    use OrderStatus as S;
    let to = match (from, event) {
        (S::Pending, E::Claim) => S::Submitted,
        // Never reached the venue, so nothing to ask it: cancel at once.
        (S::Pending, E::RequestCancel) => S::Cancelled,
        (S::Pending, E::Reject) => S::Rejected,
        (S::Pending, E::PartialFill | E::FinalFill | E::ConfirmCancel | E::Expire) => return Err(invalid(from, event)),

        (S::Submitted | S::PartiallyFilled, E::PartialFill) => S::PartiallyFilled,
        (S::Submitted | S::PartiallyFilled, E::FinalFill) => S::Filled,
        (S::Submitted | S::PartiallyFilled, E::RequestCancel) => S::CancelRequested,
        (S::Submitted, E::Reject) => S::Rejected,
        (S::Submitted | S::PartiallyFilled, E::Expire) => S::Expired,
        // The venue cancelled the remainder on its own (e.g. a halt): the fills stand.
        (S::PartiallyFilled, E::ConfirmCancel) => S::Cancelled,
        (S::Submitted, E::ConfirmCancel) => S::Cancelled,
        (S::Submitted | S::PartiallyFilled, E::Claim) => return Err(invalid(from, event)),
        // Fills are final at the venue; an order with fills cannot be rejected.
        (S::PartiallyFilled, E::Reject) => return Err(invalid(from, event)),

        // A fill that raced the cancel request is real and is applied; the order keeps
        // waiting for the venue's answer to the cancel.
        (S::CancelRequested, E::PartialFill) => S::CancelRequested,
        // The cancel lost the race: the order filled completely.
        (S::CancelRequested, E::FinalFill) => S::Filled,
        (S::CancelRequested, E::ConfirmCancel) => S::Cancelled,
        (S::CancelRequested, E::Expire) => S::Expired,
        // The cancel arrived while the venue was still deciding, and it refused the order.
        (S::CancelRequested, E::Reject) => S::Rejected,
        (S::CancelRequested, E::Claim | E::RequestCancel) => return Err(invalid(from, event)),

        // Not a move: the order records that execution is stuck (its message in the
        // DLQ) and waits, in the status it had, for an operator's redrive.
        (S::Pending | S::Submitted | S::PartiallyFilled | S::CancelRequested, E::Stall) => from,

        (S::Filled | S::Cancelled | S::Rejected | S::Expired, _) => return Err(invalid(from, event)),
    };
    Ok(to)
}

fn invalid(from: OrderStatus, event: EventKind) -> InvalidTransition {
    InvalidTransition { from, event }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses_take_no_event() {
        for from in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in EventKind::ALL {
                assert_eq!(next(from, event), Err(InvalidTransition { from, event }));
            }
        }
    }

    #[test]
    fn every_edge_of_the_spec_diagram_exists() {
        use EventKind as E;
        use OrderStatus as S;
        let edges = [
            (S::Pending, E::Claim, S::Submitted),
            (S::Pending, E::RequestCancel, S::Cancelled),
            (S::Pending, E::Reject, S::Rejected),
            (S::Submitted, E::PartialFill, S::PartiallyFilled),
            (S::Submitted, E::FinalFill, S::Filled),
            (S::Submitted, E::RequestCancel, S::CancelRequested),
            (S::Submitted, E::Reject, S::Rejected),
            (S::Submitted, E::Expire, S::Expired),
            (S::PartiallyFilled, E::FinalFill, S::Filled),
            (S::PartiallyFilled, E::ConfirmCancel, S::Cancelled),
            (S::PartiallyFilled, E::Expire, S::Expired),
            (S::PartiallyFilled, E::RequestCancel, S::CancelRequested),
            (S::CancelRequested, E::ConfirmCancel, S::Cancelled),
            (S::CancelRequested, E::PartialFill, S::CancelRequested),
            (S::CancelRequested, E::FinalFill, S::Filled),
            (S::Submitted, E::Stall, S::Submitted),
            (S::Pending, E::Stall, S::Pending),
        ];
        for (from, event, to) in edges {
            assert_eq!(next(from, event), Ok(to), "{from} --{event:?}-->");
        }
    }

    #[test]
    fn nothing_returns_to_pending_and_claim_only_from_pending() {
        for from in OrderStatus::ALL {
            for event in EventKind::ALL {
                if let Ok(to) = next(from, event) {
                    if event == EventKind::Stall {
                        // A stall marks the order where it is; it never moves it.
                        assert_eq!(to, from);
                        continue;
                    }
                    assert_ne!(to, OrderStatus::Pending);
                    if event == EventKind::Claim {
                        assert_eq!(from, OrderStatus::Pending);
                    }
                }
            }
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
    }
}
