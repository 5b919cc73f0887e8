//! Why the store refused a submit, in the trader's terms: a refusal found by the
//! submit transaction's conditions (the account snapshot was stale) explained with
//! the account as it is now.

use super::error::AppError;
use super::submit::SubmitDeps;
use crate::domain::{OrderError, Reservation, TraderId};
use crate::ports::StoreError;

/// Turns a store refusal into the trader-facing error, with current figures.
pub(super) async fn explain(
    deps: &SubmitDeps<'_>,
    trader: &TraderId,
    refusal: StoreError,
    reservation: &Reservation,
    limits: &crate::domain::RiskLimits,
    now: crate::domain::Timestamp,
) -> Result<OrderError, AppError> {
    let Some(account) = deps.store.get_account(trader).await? else {
        return Ok(OrderError::NoAccount);
    };
    Ok(match (refusal, reservation) {
        (StoreError::InsufficientFunds, Reservation::Cash(required)) => OrderError::InsufficientFunds {
            required: *required,
            available: account.buying_power(),
        },
        (StoreError::InsufficientPosition, Reservation::Position { symbol, quantity }) => {
            OrderError::InsufficientPosition {
                symbol: symbol.to_string(),
                requested: *quantity,
                available: account
                    .position(symbol)
                    .map_or(rust_decimal::Decimal::ZERO, |p| p.available()),
            }
        }
        (StoreError::OpenOrderLimit, _) => OrderError::MaxOpenOrders {
            limit: limits.max_open_orders,
        },
        (StoreError::DailyLossLimit, _) => OrderError::DailyLossLimit {
            limit: limits.daily_loss_limit,
            losses: account.losses_on(now.trading_day()),
        },
        _ => OrderError::NoAccount,
    })
}
