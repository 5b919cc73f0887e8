//! Committing a submit's transaction: the retries of a transaction that lost to a
//! concurrent one on the account, and the rolling-minute notional (issue 19), which is
//! admitted against the trader's window as stored and written back with the order over
//! the version read; when another submit of the trader committed in between, the order
//! is admitted again against the window as it is then.

use rust_decimal::Decimal;

use super::submit::SubmitDeps;
use crate::domain::{NotionalWindow, OrderError, Timestamp};
use crate::ports::{NewOrder, StoreError};

/// What became of an order the store was asked to commit.
pub(super) enum Admission {
    /// The store's answer (the order committed, or why not).
    Decided(Result<Committed, StoreError>),
    /// The rolling-minute notional has no room for it: refused before any write.
    OverNotional(OrderError),
}

/// Commits `new`, first counting it into the trader's rolling-minute notional when
/// the account has that limit (`limit` above zero). `read` is the window as read with
/// the account; it is read again only after another submit moved it.
pub(super) async fn commit_admitting(
    deps: &SubmitDeps<'_>,
    new: &mut NewOrder,
    mut read: Option<NotionalWindow>,
    limit: Decimal,
    now: Timestamp,
) -> Admission {
    let trader = new.order.trader_id.clone();
    let mut committed = Err(StoreError::NotionalWindowMoved);
    for _ in 0..COMMIT_ATTEMPTS {
        if limit > Decimal::ZERO {
            let window = match read.take() {
                Some(w) => w,
                None => match deps.store.notional_window(&trader).await {
                    Ok(w) => w,
                    Err(e) => return Admission::Decided(Err(e)),
                },
            };
            match window.admit(now, new.notional, limit) {
                Ok(w) => new.notional_window = Some(w),
                Err(e) => return Admission::OverNotional(e),
            }
        }
        committed = commit(deps, new).await;
        if !matches!(committed, Err(StoreError::NotionalWindowMoved)) {
            break;
        }
        tracing::debug!(order_id = %new.order.order_id, "the notional window moved; admitting the order again");
    }
    Admission::Decided(committed)
}

/// How often a submit's transaction is tried when the store reports a concurrent
/// change (`StoreError::Conflict`: DynamoDB cancelled it with TransactionConflict
/// because a fill, cancel or other submit on the same ACCOUNT item was in flight;
/// AWS documents that as retryable). The attempts after the first wait a random
/// time in [0, 10·2^(n-1)) ms (full jitter): at most 10 + 20 + 40 + 80 = 150 ms in
/// all, well inside the function's timeout. The rate token was taken once, before.
pub const COMMIT_ATTEMPTS: u32 = 5;
const BACKOFF_BASE_MS: u64 = 10;

/// Full-jitter backoff before attempt `attempt` (2, 3, ...).
fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap = BACKOFF_BASE_MS << attempt.saturating_sub(2).min(10);
    // A randomly keyed hasher's output: random enough to spread retries apart,
    // without a random number generator dependency.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    std::time::Duration::from_millis(random % cap)
}

/// Which attempt committed the order.
pub(super) enum Committed {
    Now,
    /// A retried attempt found its own order id taken: an earlier attempt whose
    /// answer was lost committed it (with the key's outcome, in the same transaction).
    Earlier,
}

/// Commits a submit's transaction, retrying a conflict with backoff. A retry sends
/// the same items (same order id, same idempotency record), so it can never make a
/// second order: if an earlier attempt did land, the retry fails on the order id's
/// (or the key's) condition. A refusal on the account's conditions (buying power,
/// open orders, daily loss) is real and is returned as is, never retried.
async fn commit(deps: &SubmitDeps<'_>, new: &NewOrder) -> Result<Committed, StoreError> {
    let (trader, order_id) = (&new.order.trader_id, new.order.order_id);
    let mut attempt = 1;
    loop {
        let result = deps.store.create_order(new.clone()).await;
        match result {
            Ok(()) => return Ok(Committed::Now),
            Err(StoreError::Conflict) if attempt < COMMIT_ATTEMPTS => {
                attempt += 1;
                tracing::debug!(attempt, order_id = %order_id, "submit transaction conflicted; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(StoreError::AlreadyExists | StoreError::IdempotencyKeyTaken) if attempt > 1 => {
                return match deps.store.get_order(trader, &order_id).await? {
                    Some(_) => Ok(Committed::Earlier),
                    // The key was taken by another request, not by us.
                    None => Err(StoreError::IdempotencyKeyTaken),
                };
            }
            Err(e) => return Err(e),
        }
    }
}
