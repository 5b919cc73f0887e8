//! The order status machine (SPEC §2). `next` is the only place a transition is
//! decided; the stores enforce the same decision with a conditional write on the
//! status and version the caller read.
//!
//! ```text
//! PENDING ──(execute picks it up)──> SUBMITTED ──> PARTIALLY_FILLED ──> FILLED
//!    │                                  │    │              │
//!    ├──> CANCELLED <── CANCEL_REQUESTED <┘  └──> REJECTED   ├──> CANCELLED
//!    ├──> REJECTED                       └──> EXPIRED        └──> EXPIRED
//!    └──> EXPIRED (stale: its time in force ended before execution got to it)
//!
//! SUBMITTED / PARTIALLY_FILLED ──(replace)──> REPLACE_REQUESTED ──(venue replaced, or
//! refused it)──> SUBMITTED / PARTIALLY_FILLED; a fill that gets there first may fill
//! it (FILLED), and it may be cancelled, expire or be cancelled by the venue.
//! ```
//!
//! Two edges beyond the spec's diagram, each explained at its row: PENDING →
//! EXPIRED, and a late fill booked on a CANCELLED order.

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
    /// A replace waits for the venue's answer (`domain::replace`).
    ReplaceRequested,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        Self::Pending,
        Self::Submitted,
        Self::PartiallyFilled,
        Self::CancelRequested,
        Self::ReplaceRequested,
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
        matches!(
            self,
            Self::Pending | Self::Submitted | Self::PartiallyFilled | Self::ReplaceRequested
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Submitted => "SUBMITTED",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::CancelRequested => "CANCEL_REQUESTED",
            Self::ReplaceRequested => "REPLACE_REQUESTED",
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
    /// A SUBMITTED order the venue does not know is placed again after its placement
    /// window closed; the order records a new window first.
    RetryPlacement,
    /// The venue confirmed a cancel (ours, or its own for the remainder of an order).
    ConfirmCancel,
    Reject,
    Expire,
    /// Execution gave up retrying (the work message went to the dead-letter queue):
    /// the status stays, the order says why, for an operator.
    Stall,
    /// A trader asked to replace a working order.
    RequestReplace,
    /// The venue answered a replace (done, or refused) for an order with no fills.
    EndReplace,
    /// The same, for an order with fills.
    EndReplaceAfterFills,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        Self::Claim,
        Self::PartialFill,
        Self::FinalFill,
        Self::RequestCancel,
        Self::RetryPlacement,
        Self::ConfirmCancel,
        Self::Reject,
        Self::Expire,
        Self::Stall,
        Self::RequestReplace,
        Self::EndReplace,
        Self::EndReplaceAfterFills,
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
        // Stale: its work message came after its time in force ended (a DAY order of
        // an earlier session, a market order older than the stated bound, e.g. after
        // a dead-letter redrive). It never reached the venue, so it expires here and
        // releases what it held instead of executing at a price nobody saw.
        (S::Pending, E::Expire) => S::Expired,
        (
            S::Pending,
            E::PartialFill
            | E::FinalFill
            | E::ConfirmCancel
            | E::RetryPlacement
            | E::RequestReplace
            | E::EndReplace
            | E::EndReplaceAfterFills,
        ) => {
            return Err(invalid(from, event));
        }

        (S::Submitted | S::PartiallyFilled, E::PartialFill) => S::PartiallyFilled,
        (S::Submitted | S::PartiallyFilled, E::FinalFill) => S::Filled,
        (S::Submitted | S::PartiallyFilled, E::RequestCancel) => S::CancelRequested,
        (S::Submitted, E::Reject) => S::Rejected,
        (S::Submitted | S::PartiallyFilled, E::Expire) => S::Expired,
        // The venue cancelled the remainder on its own (e.g. a halt): the fills stand.
        (S::PartiallyFilled, E::ConfirmCancel) => S::Cancelled,
        (S::Submitted, E::ConfirmCancel) => S::Cancelled,
        // Not a move: the order opens a new placement window before it is placed again.
        (S::Submitted, E::RetryPlacement) => S::Submitted,
        (S::Submitted | S::PartiallyFilled, E::Claim) => return Err(invalid(from, event)),
        (S::Submitted | S::PartiallyFilled, E::RequestReplace) => S::ReplaceRequested,
        (S::Submitted | S::PartiallyFilled, E::EndReplace | E::EndReplaceAfterFills) => {
            return Err(invalid(from, event));
        }
        (S::PartiallyFilled, E::RetryPlacement) => return Err(invalid(from, event)),
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
        // A cancel requested before any placement can no longer place it.
        (
            S::CancelRequested,
            E::Claim
            | E::RequestCancel
            | E::RetryPlacement
            | E::RequestReplace
            | E::EndReplace
            | E::EndReplaceAfterFills,
        ) => return Err(invalid(from, event)),

        // A fill that reached the venue before the replace is real and is applied; the
        // replace still waits for the venue's answer, unless the fill completed the order.
        (S::ReplaceRequested, E::PartialFill) => S::ReplaceRequested,
        (S::ReplaceRequested, E::FinalFill) => S::Filled,
        (S::ReplaceRequested, E::EndReplace) => S::Submitted,
        (S::ReplaceRequested, E::EndReplaceAfterFills) => S::PartiallyFilled,
        // A cancel overtakes the replace: execute cancels whichever version works.
        (S::ReplaceRequested, E::RequestCancel) => S::CancelRequested,
        (S::ReplaceRequested, E::ConfirmCancel) => S::Cancelled,
        (S::ReplaceRequested, E::Expire) => S::Expired,
        (S::ReplaceRequested, E::Reject) => S::Rejected,
        (S::ReplaceRequested, E::Claim | E::RetryPlacement | E::RequestReplace) => return Err(invalid(from, event)),

        // Not a move: the order records that execution is stuck (its message in the
        // DLQ) and waits, in the status it had, for an operator's redrive.
        (S::Pending | S::Submitted | S::PartiallyFilled | S::CancelRequested | S::ReplaceRequested, E::Stall) => from,

        // The one way out of a terminal status. "Whatever the venue did is booked": a
        // fill the venue reports for an order we hold as cancelled is real (shares
        // bought or sold at the venue) and dropping it would leave the books wrong.
        // The executor makes this unreachable (a cancel is confirmed on "not found at
        // the venue" only after the order's placement window), so it happens only if
        // the venue acted later than that window allows; it is logged as an error
        // for an operator, and booked: the rest stays cancelled, or the order is
        // filled. What the order held was already released; the fill releases nothing.
        (S::Cancelled, E::PartialFill) => S::Cancelled,
        (S::Cancelled, E::FinalFill) => S::Filled,
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

    /// The late fills of a cancelled order (see the table) are the only events a
    /// terminal status takes.
    fn late_fill(from: OrderStatus, event: EventKind) -> bool {
        from == OrderStatus::Cancelled && matches!(event, EventKind::PartialFill | EventKind::FinalFill)
    }

    #[test]
    fn terminal_statuses_take_no_event_but_a_late_fill_of_a_cancelled_order() {
        for from in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in EventKind::ALL.into_iter().filter(|e| !late_fill(from, *e)) {
                assert_eq!(next(from, event), Err(InvalidTransition { from, event }));
            }
        }
        assert_eq!(
            next(OrderStatus::Cancelled, EventKind::PartialFill),
            Ok(OrderStatus::Cancelled)
        );
        assert_eq!(
            next(OrderStatus::Cancelled, EventKind::FinalFill),
            Ok(OrderStatus::Filled)
        );
    }

    #[test]
    fn a_placement_is_retried_only_from_submitted() {
        for from in OrderStatus::ALL {
            let expected = if from == OrderStatus::Submitted {
                Ok(from)
            } else {
                Err(InvalidTransition {
                    from,
                    event: EventKind::RetryPlacement,
                })
            };
            assert_eq!(next(from, EventKind::RetryPlacement), expected, "{from}");
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
            (S::Pending, E::Expire, S::Expired),
            (S::Submitted, E::RetryPlacement, S::Submitted),
            (S::Cancelled, E::PartialFill, S::Cancelled),
            (S::Cancelled, E::FinalFill, S::Filled),
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
                    if matches!(event, EventKind::Stall | EventKind::RetryPlacement) {
                        // A stall or a new placement window marks the order where it is.
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
