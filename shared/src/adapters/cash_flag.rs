//! Belt and braces behind the venue's protection (`venue::protect`): a fill whose
//! booking takes the account's cash below zero (the venue filled past the order's
//! limit, or a fractional market buy, which goes to the venue unprotected, filled past
//! its reservation) is booked as the venue did it, so our books keep equal to the
//! venue's, and flagged for an operator: one error line naming the order, which is
//! also the `CashBelowZero` metric's line (a metric filter and an alarm in the
//! template). Both stores check it in the fill's own transaction; it is never silent.

use rust_decimal::Decimal;

use crate::ports::TransitionWrite;

/// What the `CashBelowZero` metric filter matches.
pub const CASH_BELOW_ZERO: &str = "cash below zero";

/// Whether booking `w` takes cash that stood at `cash` below zero.
pub fn takes_cash_below_zero(w: &TransitionWrite, cash: Decimal) -> bool {
    w.booking
        .as_ref()
        .is_some_and(|b| b.cash < Decimal::ZERO && cash + b.cash < Decimal::ZERO)
}

/// The operator's flag (and the metric's line) for a booked fill that took cash from
/// `cash` below zero.
pub fn flag_cash_below_zero(w: &TransitionWrite, cash: Decimal) {
    let delta = w.booking.as_ref().map_or(Decimal::ZERO, |b| b.cash);
    tracing::error!(
        metric = "CashBelowZero",
        order_id = %w.before.order_id,
        trader_id = %w.before.trader_id,
        execution_id = w.fill.as_ref().map_or("", |f| f.execution_id.as_str()),
        cash_before = %cash,
        cash_after = %(cash + delta),
        "{CASH_BELOW_ZERO}: a fill was booked past the order's reservation, as the venue did it; \
         an operator must look at this order and the account"
    );
}
