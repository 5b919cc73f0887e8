//! The submit use case (SPEC §3–§5): parse → account (a caller without one is refused
//! writing nothing) → rate limit (the first write) → idempotency replay → validate →
//! risk → one transaction (order, reservation, audit, idempotency record), retried
//! with backoff when it loses to a concurrent transaction on the account.
//! Returns a domain outcome (accepted, refused, replayed) or an `AppError`; the reply
//! an idempotent retry must get back byte for byte is rendered by the caller's
//! `SubmitReplies` (the HTTP layer's is `http::submit::ProblemJson`, and
//! `http::submit::submit` wraps this use case for the API) and stored with the key in
//! the same transaction. Right after its commit the order's execute message goes to
//! the work queue from here (the fast path, `app::fast_path`); the orders table's
//! stream (the outbox, `app::publish`) backs it up, so an order can never be committed
//! and not queued, whatever fails after the commit.

use serde_json::Value;
use tracing::info;

use super::error::AppError;
use super::plan::{AuditContext, plan_rejected_submit, plan_submit};
pub use super::submit_commit::COMMIT_ATTEMPTS;
use super::submit_commit::{Admission, Committed, commit_admitting};
use super::submit_explain::explain;
pub use super::submit_outcome::{RateQuota, StoredReply, SubmitOutcome, SubmitReplies};
pub use super::submit_request::SubmitRequest;
pub(super) use super::submit_request::{confirm_duplicate, idempotency_key, request_hash};
use crate::domain::{IdempotencyKey, OrderError, OrderId, Pricing, TraderId, TradingState, validate_order};
use crate::ports::{
    Clock, DuplicateGuard, IdempotencyRecord, MarketData, OrderStore, RateDecision, StoreError, WorkQueue, rate_window,
};

/// Largest submit body accepted (a valid order is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The ports submit needs.
pub struct SubmitDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub clock: &'a dyn Clock,
    pub pricing: &'a Pricing,
    /// Latest prices for market and stop orders (`None`: `pricing`'s static ones alone).
    pub market_data: Option<&'a dyn MarketData>,
    /// Where the fast path sends the execute message (`None`: the outbox alone).
    pub queue: Option<&'a dyn WorkQueue>,
}

/// Handles one submit; `replies` renders the replies stored with the key. `Err` only
/// for failures that must not be stored as the key's outcome (malformed input, rate
/// limit, a dependency down): the client may retry those with the same key.
pub async fn submit(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    req: SubmitRequest<'_>,
) -> Result<SubmitOutcome, AppError> {
    submit_counted(deps, replies, req, &mut None).await
}

/// `submit`, also setting `quota` once the request was counted against the trader's
/// budget (every answer after the account is found; not a malformed request, nor one
/// from a caller without an account).
pub async fn submit_counted(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    req: SubmitRequest<'_>,
    quota: &mut Option<RateQuota>,
) -> Result<SubmitOutcome, AppError> {
    submit_keyed_by(deps, replies, req, None, quota).await
}

/// `submit_counted`, with the idempotency key's request identity given by the caller
/// (`request`: the request as its route received it) instead of the order body: for
/// routes that make the order body themselves (closing a position), so a retry is
/// recognised from what the client sent, whatever the account looks like by then.
pub(super) async fn submit_keyed_by(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    req: SubmitRequest<'_>,
    request: Option<&Value>,
    quota: &mut Option<RateQuota>,
) -> Result<SubmitOutcome, AppError> {
    let now = deps.clock.now();
    if req.body.len() > MAX_BODY_BYTES {
        return Err(AppError::BodyTooLarge {
            size: req.body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let key = idempotency_key(req.idempotency_key)?;
    let confirmed = confirm_duplicate(req.confirm_duplicate)?;
    let body: Value = serde_json::from_slice(req.body).map_err(|e| AppError::MalformedJson(e.to_string()))?;
    let hash = match request {
        Some(r) => request_hash(r, 0),
        None => request_hash(&body, req.body.len()),
    };

    // The account first: it holds the trader's limits. A caller with a valid token but
    // no account is refused here and writes nothing permanent (no audit record, no
    // key outcome): each such request costs this one read, however often it comes.
    // The refusal is an `Err`, so a retry with the same key is answered afresh (and
    // succeeds once an operator opens the account).
    let Some((account, window)) = deps.store.account_with_window(&req.trader).await? else {
        tracing::warn!(trader_id = %req.trader, "submit refused: no account");
        return Err(AppError::Order(OrderError::NoAccount));
    };
    // The per-trader rate limit is the first write, before anything a request can
    // multiply: replays, refusals (each writes an audit record), orders. A replay
    // counts too; its 429 is not stored, so the retry after Retry-After replays.
    let limit = account.limits.orders_per_minute;
    let reset_at = now.unix_seconds() + rate_window(now).1 as i64;
    match deps.store.take_rate_token(&req.trader, limit, now).await? {
        RateDecision::Limited { retry_after_secs } => {
            *quota = Some(RateQuota {
                limit,
                remaining: 0,
                reset_at,
            });
            return Err(AppError::Order(OrderError::RateLimited {
                limit,
                retry_after_secs,
            }));
        }
        RateDecision::Allowed { remaining } => {
            *quota = Some(RateQuota {
                limit,
                remaining,
                reset_at,
            })
        }
    }
    if let Some(key) = &key {
        if let Some(found) = deps.store.idempotency(&req.trader, key, now).await? {
            return replay_or_mismatch(&found, &hash);
        }
    }

    let ctx = AuditContext {
        actor: req.trader.to_string(),
        request_id: req.request_id.clone(),
        idempotency_key: key.clone(),
    };
    let outcome = KeyOutcome {
        trader: &req.trader,
        key: key.as_ref(),
        hash: &hash,
        now,
    };
    let draft = match validate_order(&body) {
        Ok(d) => d,
        Err(e) => return reject(deps, replies, &req.trader, &body, e, &ctx, &outcome).await,
    };
    let order_id = OrderId::new();
    // Duplicate detection covers orders sent without a key (a key's retry is a replay).
    let window_secs = account.limits.duplicate_window_secs;
    let fingerprint = (key.is_none() && window_secs > 0).then(|| draft.duplicate_fingerprint());
    let pricing = super::reference_price::priced_for(deps.market_data, deps.pricing, &draft).await;
    // The order is created now, as its transaction is built (after the reads and any
    // market-data call above): its `created_at`, its first version's time and its
    // place in the rolling-minute notional are those of its commit, give or take the
    // transaction itself (what the commit → claim measure of issue 17 starts from).
    let created_at = deps.clock.now();
    let mut new = match plan_submit(order_id, draft, &account, &pricing, &ctx, created_at) {
        Ok(n) => n,
        Err(e) => return reject(deps, replies, &req.trader, &body, e, &ctx, &outcome).await,
    };
    let reply = replies.accepted(&new.order)?;
    new.idempotency = outcome.record(&reply, Some(order_id));
    new.duplicate = fingerprint.map(|fingerprint| DuplicateGuard {
        fingerprint,
        window_secs,
        confirmed,
    });

    let committed = match commit_admitting(
        deps,
        &mut new,
        window,
        account.limits.max_notional_per_minute,
        created_at,
    )
    .await
    {
        Admission::Decided(c) => c,
        Admission::OverNotional(e) => return reject(deps, replies, &req.trader, &body, e, &ctx, &outcome).await,
    };
    if committed.is_ok() {
        super::fast_path::execute_now(deps.queue, &req.trader, order_id).await;
    }
    match committed {
        Ok(Committed::Now) => {}
        Ok(Committed::Earlier) => {
            // An earlier attempt of this very request landed (its answer was lost):
            // answer what it stored, never a second order.
            info!(order_id = %order_id, trader_id = %req.trader, "order accepted by an earlier attempt");
            return match key.as_ref() {
                Some(_) => replay_after_race(deps, &req.trader, key.as_ref(), &hash, now).await,
                None => Ok(SubmitOutcome::Accepted {
                    order: Box::new(new.order),
                    reply,
                }),
            };
        }
        Err(StoreError::IdempotencyKeyTaken) => {
            return replay_after_race(deps, &req.trader, key.as_ref(), &hash, now).await;
        }
        Err(
            refusal @ (StoreError::InsufficientFunds
            | StoreError::InsufficientPosition
            | StoreError::OpenOrderLimit
            | StoreError::DailyLossLimit
            | StoreError::NoAccount),
        ) => {
            // The snapshot was stale: explain the refusal with the account as it is now.
            let error = explain(deps, &req.trader, refusal, &new.reservation, &account.limits, now).await?;
            return reject(deps, replies, &req.trader, &body, error, &ctx, &outcome).await;
        }
        Err(StoreError::TradingRestricted { scope, state }) => {
            // A halt (or reduce-only) committed before this order: refused, recorded.
            let error = match state {
                TradingState::Reducing => OrderError::ReduceOnly { scope },
                _ => OrderError::TradingHalted { scope },
            };
            return reject(deps, replies, &req.trader, &body, error, &ctx, &outcome).await;
        }
        Err(StoreError::ClientOrderIdTaken { order_id }) => {
            // Client order ids are unique among the trader's open orders: refused, recorded.
            let client_order_id = new
                .order
                .client_order_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            let error = OrderError::ClientOrderIdInUse {
                client_order_id,
                order_id,
            };
            return reject(deps, replies, &req.trader, &body, error, &ctx, &outcome).await;
        }
        Err(StoreError::DuplicateOrder { order_id, placed_at }) => {
            // An identical order of the trader's moments ago: refused, recorded.
            let error = OrderError::DuplicateOrder {
                order_id,
                seconds_ago: (now.unix_seconds() - placed_at.unix_seconds()).max(0),
                window_secs,
            };
            return reject(deps, replies, &req.trader, &body, error, &ctx, &outcome).await;
        }
        Err(StoreError::Conflict | StoreError::NotionalWindowMoved) => {
            // Every attempt lost to a concurrent transaction on the account.
            return Err(AppError::AccountContended);
        }
        Err(e) => return Err(e.into()),
    }
    info!(order_id = %order_id, trader_id = %req.trader, "order accepted");
    Ok(SubmitOutcome::Accepted {
        order: Box::new(new.order),
        reply,
    })
}

/// What a request's outcome is stored under, when it carried a key.
struct KeyOutcome<'a> {
    trader: &'a TraderId,
    key: Option<&'a IdempotencyKey>,
    hash: &'a str,
    now: crate::domain::Timestamp,
}

impl KeyOutcome<'_> {
    fn record(&self, reply: &StoredReply, order_id: Option<OrderId>) -> Option<IdempotencyRecord> {
        self.key.map(|k| IdempotencyRecord {
            trader_id: self.trader.clone(),
            key: k.clone(),
            request_hash: self.hash.to_owned(),
            status: reply.status,
            body: reply.body.clone(),
            order_id,
            created_at: self.now,
            expires_at: IdempotencyRecord::expiry(self.now),
        })
    }
}

fn replay_or_mismatch(found: &IdempotencyRecord, hash: &str) -> Result<SubmitOutcome, AppError> {
    if found.request_hash == hash {
        Ok(SubmitOutcome::Replayed(StoredReply::of(found)))
    } else {
        Err(AppError::IdempotencyKeyReused(found.key.to_string()))
    }
}

/// Another request with the same key committed first: answer with its outcome.
async fn replay_after_race(
    deps: &SubmitDeps<'_>,
    trader: &TraderId,
    key: Option<&IdempotencyKey>,
    hash: &str,
    now: crate::domain::Timestamp,
) -> Result<SubmitOutcome, AppError> {
    let found = match key {
        Some(k) => deps.store.idempotency(trader, k, now).await?,
        None => None,
    };
    match found {
        Some(r) => replay_or_mismatch(&r, hash),
        None => Err(AppError::KeyInProgress),
    }
}

/// Records a refused submit (audit record, and the refusal's reply as the key's
/// outcome) and answers with the refusal.
async fn reject(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    trader: &TraderId,
    body: &Value,
    error: OrderError,
    ctx: &AuditContext,
    outcome: &KeyOutcome<'_>,
) -> Result<SubmitOutcome, AppError> {
    if error == OrderError::NoAccount {
        // The account went away during the submit: as for a caller without one,
        // nothing permanent is written.
        return Err(AppError::Order(error));
    }
    let now = deps.clock.now();
    // The client can find the refusal's record under this id (the API names it in
    // the reply: GET /orders/{audit_id}/audit).
    let audit_id = OrderId::new();
    let reply = replies.refused(&error, audit_id);
    let audit = plan_rejected_submit(audit_id, trader, Some(body.clone()), &error, ctx, now);
    let record = outcome.record(&reply, None);
    match deps.store.record_rejection(audit, record).await {
        Ok(()) => Ok(SubmitOutcome::Refused { error, audit_id, reply }),
        Err(StoreError::IdempotencyKeyTaken) => replay_after_race(deps, trader, outcome.key, outcome.hash, now).await,
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_request_hash_is_sha256_of_the_canonical_json() {
        // Stored idempotency records hold hashes made from `Value`'s `Display`: the
        // buffered encoding must give the very same text.
        let raw = br#"{ "symbol": "AAPL", "quantity": 10.50, "side": "buy",
            "nested": {"z": [1, "\u00e9\n"], "a": null}, "type": "limit" }"#;
        let body: Value = serde_json::from_slice(raw).unwrap();
        let reference = hex::encode(Sha256::digest(body.to_string()));
        assert_eq!(request_hash(&body, raw.len()), reference);
        assert_eq!(request_hash(&body, 0), reference);
        let reordered: Value = serde_json::from_str(
            r#"{"type":"limit","side":"buy","nested":{"a":null,"z":[1,"é\n"]},"quantity":10.50,"symbol":"AAPL"}"#,
        )
        .unwrap();
        assert_eq!(request_hash(&reordered, 0), reference);
    }
}
