//! The replace use case (issue 20, `PATCH /orders/{id}`): a working order's quantity
//! (its new total), limit or stop price or time in force change through the venue's
//! replace. This side commits the request (SUBMITTED / PARTIALLY_FILLED →
//! REPLACE_REQUESTED, holding the larger of what the old and new values need: the
//! transaction's account condition is the atomic funds check) with its audit record
//! and, with an `Idempotency-Key`, the reply under the key; then sends the replace
//! message to execute (the fast path; the orders table's stream backs it up).
//! Execute asks the venue (`app::execute`'s replace step) and confirms or refuses.
//!
//! A retry with the same key and body gets the first reply back and changes nothing;
//! the same key with another body is refused. Refusals are not stored under the key
//! (they change nothing, so a retry is answered afresh).

use serde_json::Value;
use tracing::info;

use super::error::AppError;
use super::plan::{AuditContext, plan_transition};
use super::submit::{MAX_BODY_BYTES, SubmitDeps, SubmitReplies, idempotency_key, request_hash};
use super::submit_outcome::StoredReply;
use crate::domain::{Order, OrderError, OrderEvent, OrderId, TraderId, TradingState, assess_replace, validate_replace};
use crate::ports::{IdempotencyRecord, StoreError};

/// How many times a replace re-reads and retries after losing a race on the order.
const ATTEMPTS: usize = 5;

pub struct ReplaceRequest<'a> {
    pub trader: TraderId,
    /// The order id as the path gave it.
    pub order_id: &'a str,
    pub body: &'a [u8],
    pub idempotency_key: Option<&'a str>,
    pub request_id: Option<String>,
}

/// What became of a replace that was answered.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplaceOutcome {
    /// Committed: the order waits for the venue's answer in REPLACE_REQUESTED.
    Accepted { order: Box<Order>, reply: StoredReply },
    /// An earlier request with the same key and body was answered: its reply.
    Replayed(StoredReply),
}

impl ReplaceOutcome {
    pub fn into_reply(self) -> StoredReply {
        match self {
            Self::Accepted { reply, .. } | Self::Replayed(reply) => reply,
        }
    }
}

pub async fn replace(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    req: ReplaceRequest<'_>,
) -> Result<ReplaceOutcome, AppError> {
    let id = OrderId::parse(req.order_id).map_err(|_| AppError::OrderNotFound(req.order_id.to_owned()))?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(AppError::BodyTooLarge {
            size: req.body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let key = idempotency_key(req.idempotency_key)?;
    let body: Value = serde_json::from_slice(req.body).map_err(|e| AppError::MalformedJson(e.to_string()))?;
    // The key's identity is the order and the body: one key, one change of one order.
    let hash = request_hash(&serde_json::json!({"replace": id.to_string(), "body": body}), 0);
    let now = deps.clock.now();
    if let Some(k) = &key {
        if let Some(found) = deps.store.idempotency(&req.trader, k, now).await? {
            return replay(&found, &hash);
        }
    }
    let ctx = AuditContext {
        actor: req.trader.to_string(),
        request_id: req.request_id.clone(),
        idempotency_key: key.clone(),
    };
    for _ in 0..ATTEMPTS {
        let order = deps
            .store
            .get_order(&req.trader, &id)
            .await?
            .ok_or_else(|| AppError::OrderNotFound(id.to_string()))?;
        let draft = validate_replace(&body, order.order_type, order.time_in_force)?;
        let Some(account) = deps.store.get_account(&req.trader).await? else {
            return Err(OrderError::NoAccount.into());
        };
        let now = deps.clock.now();
        let pricing =
            super::reference_price::priced_for_symbol(deps.market_data, deps.pricing, &order.symbol, order.order_type)
                .await;
        let pending = assess_replace(&order, &draft, &account, &pricing, OrderId::new(), now)?;
        let extra = pending.extra_reserved;
        let mut write = plan_transition(&order, &OrderEvent::RequestReplace { pending }, None, &ctx, now)?;
        let reply = replies.replace_accepted(&write.after)?;
        write.idempotency = key.as_ref().map(|k| IdempotencyRecord {
            trader_id: req.trader.clone(),
            key: k.clone(),
            request_hash: hash.clone(),
            status: reply.status,
            body: reply.body.clone(),
            order_id: Some(id),
            created_at: now,
            expires_at: IdempotencyRecord::expiry(now),
        });
        let after = write.after.clone();
        match deps.store.request_replace(write).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue,
            Err(StoreError::IdempotencyKeyTaken) => {
                // Another request with the key committed first: its answer.
                let found = match &key {
                    Some(k) => deps.store.idempotency(&req.trader, k, now).await?,
                    None => None,
                };
                return match found {
                    Some(r) => replay(&r, &hash),
                    None => Err(AppError::KeyInProgress),
                };
            }
            Err(StoreError::InsufficientFunds) => {
                let available = deps
                    .store
                    .get_account(&req.trader)
                    .await?
                    .map_or(rust_decimal::Decimal::ZERO, |a| a.buying_power());
                return Err(OrderError::InsufficientFunds {
                    required: extra,
                    available,
                }
                .into());
            }
            Err(StoreError::InsufficientPosition) => {
                let available = deps
                    .store
                    .get_account(&req.trader)
                    .await?
                    .and_then(|a| a.position(&order.symbol).map(|p| p.available()))
                    .unwrap_or_default();
                return Err(OrderError::InsufficientPosition {
                    symbol: order.symbol.to_string(),
                    requested: extra,
                    available,
                }
                .into());
            }
            Err(StoreError::TradingRestricted { scope, state }) => {
                return Err(match state {
                    TradingState::Reducing => OrderError::ReduceOnly { scope },
                    _ => OrderError::TradingHalted { scope },
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        super::fast_path::replace_now(deps.queue, &req.trader, id).await;
        info!(order_id = %id, trader_id = %req.trader, "replace accepted");
        return Ok(ReplaceOutcome::Accepted {
            order: Box::new(after),
            reply,
        });
    }
    Err(AppError::OrderContended(id))
}

fn replay(found: &IdempotencyRecord, hash: &str) -> Result<ReplaceOutcome, AppError> {
    if found.request_hash == hash {
        Ok(ReplaceOutcome::Replayed(StoredReply {
            status: found.status,
            body: found.body.clone(),
        }))
    } else {
        Err(AppError::IdempotencyKeyReused(found.key.to_string()))
    }
}
