//! The submit use case (SPEC §3–§5): parse → idempotency replay → rate limit →
//! validate → risk → one transaction (order, reservation, audit, idempotency record).
//! Returns the HTTP reply, since that reply is what an idempotent retry must get back
//! byte for byte. Nothing is sent from here: the committed order reaches the work
//! queue through the orders table's stream (the outbox, `app::publish`), so an
//! order can never be committed and not queued.

use serde_json::Value;
use tracing::info;

use super::plan::{AuditContext, plan_rejected_submit, plan_submit};
use crate::domain::audit::sha256_hex;
use crate::domain::{FieldError, IdempotencyKey, OrderError, OrderId, Pricing, Reservation, TraderId, validate_order};
use crate::http::problem::{ApiError, Problem};
use crate::ports::{Clock, IdempotencyRecord, OrderStore, RateDecision, StoreError};

/// Largest submit body accepted (a valid order is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The ports submit needs.
pub struct SubmitDeps<'a> {
    pub store: &'a dyn OrderStore,
    pub clock: &'a dyn Clock,
    pub pricing: &'a Pricing,
}

pub struct SubmitRequest<'a> {
    pub trader: TraderId,
    pub body: &'a [u8],
    pub idempotency_key: Option<&'a str>,
    pub request_id: Option<String>,
}

/// An HTTP reply: status, JSON body, and whether it is a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
    pub retry_after_secs: Option<u64>,
}

impl Reply {
    /// `body` is `p.body()`, made once for both the reply and the key's record.
    fn problem(p: &Problem, body: String) -> Self {
        Self {
            status: p.status,
            body,
            replayed: false,
            retry_after_secs: p.retry_after_secs,
        }
    }

    fn replay(r: &IdempotencyRecord) -> Self {
        Self {
            status: r.status,
            body: r.body.clone(),
            replayed: true,
            retry_after_secs: None,
        }
    }

    pub fn is_problem(&self) -> bool {
        self.status >= 400
    }
}

/// SHA-256 of the body as parsed JSON: `serde_json` writes object keys sorted, so
/// key order and whitespace do not make two requests different. Written straight
/// into a buffer of about the raw body's size: the same bytes `Value`'s `Display`
/// gives, without its `fmt` adapter and `String` regrowth (issue 7 profile).
fn request_hash(body: &Value, raw_len: usize) -> String {
    let mut canonical = Vec::with_capacity(raw_len);
    // Writing a `Value` into a `Vec` cannot fail.
    if serde_json::to_writer(&mut canonical, body).is_err() {
        canonical.clear();
    }
    sha256_hex(&canonical)
}

/// The order as the 201 body, in one buffer: `to_string` starts at 128 bytes and
/// grew twice for every order (issue 7 profile).
fn order_json(order: &crate::domain::Order) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(ORDER_JSON_CAPACITY);
    serde_json::to_writer(&mut out, order).map_err(|e| ApiError::Internal(e.to_string()))?;
    String::from_utf8(out).map_err(|e| ApiError::Internal(e.to_string()))
}

/// An order's JSON is about 480 bytes (longer with a client order id).
const ORDER_JSON_CAPACITY: usize = 640;

/// Handles one submit. `Err` only for failures that must not be stored as the key's
/// outcome (malformed input, rate limit, a dependency down): the client may retry those
/// with the same key.
pub async fn submit(deps: &SubmitDeps<'_>, req: SubmitRequest<'_>) -> Result<Reply, ApiError> {
    let now = deps.clock.now();
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge {
            size: req.body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let key = req
        .idempotency_key
        .map(|k| {
            IdempotencyKey::parse(k)
                .map_err(|e| ApiError::BadParameter(FieldError::new("Idempotency-Key", e.to_string())))
        })
        .transpose()?;
    let body: Value = serde_json::from_slice(req.body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let hash = request_hash(&body, req.body.len());

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

    let Some(account) = deps.store.get_account(&req.trader).await? else {
        return reject(deps, &req.trader, &body, OrderError::NoAccount, &ctx, &outcome).await;
    };
    if let RateDecision::Limited { retry_after_secs } = deps
        .store
        .take_rate_token(&req.trader, account.limits.orders_per_minute, now)
        .await?
    {
        let limit = account.limits.orders_per_minute;
        return Err(ApiError::Order(OrderError::RateLimited {
            limit,
            retry_after_secs,
        }));
    }
    let draft = match validate_order(&body) {
        Ok(d) => d,
        Err(e) => return reject(deps, &req.trader, &body, e, &ctx, &outcome).await,
    };
    let order_id = OrderId::new();
    let mut new = match plan_submit(order_id, draft, &account, deps.pricing, &ctx, now) {
        Ok(n) => n,
        Err(e) => return reject(deps, &req.trader, &body, e, &ctx, &outcome).await,
    };
    let order_json = order_json(&new.order)?;
    new.idempotency = outcome.record(201, &order_json, Some(order_id));
    let reservation = new.reservation.clone();

    match deps.store.create_order(new).await {
        Ok(()) => {}
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
            let error = explain(deps, &req.trader, refusal, &reservation, &account.limits, now).await?;
            return reject(deps, &req.trader, &body, error, &ctx, &outcome).await;
        }
        Err(StoreError::Conflict) => {
            return Err(ApiError::Conflict(
                "The account changed during the submit; retry the request".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    info!(order_id = %order_id, trader_id = %req.trader, "order accepted");
    Ok(Reply {
        status: 201,
        body: order_json,
        replayed: false,
        retry_after_secs: None,
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
    fn record(&self, status: u16, body: &str, order_id: Option<OrderId>) -> Option<IdempotencyRecord> {
        self.key.map(|k| IdempotencyRecord {
            trader_id: self.trader.clone(),
            key: k.clone(),
            request_hash: self.hash.to_owned(),
            status,
            body: body.to_owned(),
            order_id,
            created_at: self.now,
            expires_at: IdempotencyRecord::expiry(self.now),
        })
    }
}

fn replay_or_mismatch(found: &IdempotencyRecord, hash: &str) -> Result<Reply, ApiError> {
    if found.request_hash == hash {
        Ok(Reply::replay(found))
    } else {
        Err(ApiError::IdempotencyMismatch(found.key.to_string()))
    }
}

/// Another request with the same key committed first: answer with its outcome.
async fn replay_after_race(
    deps: &SubmitDeps<'_>,
    trader: &TraderId,
    key: Option<&IdempotencyKey>,
    hash: &str,
    now: crate::domain::Timestamp,
) -> Result<Reply, ApiError> {
    let found = match key {
        Some(k) => deps.store.idempotency(trader, k, now).await?,
        None => None,
    };
    match found {
        Some(r) => replay_or_mismatch(&r, hash),
        None => Err(ApiError::Conflict(
            "A request with the same Idempotency-Key is in progress; retry".into(),
        )),
    }
}

/// Turns a store refusal into the trader-facing error, with current figures.
async fn explain(
    deps: &SubmitDeps<'_>,
    trader: &TraderId,
    refusal: StoreError,
    reservation: &Reservation,
    limits: &crate::domain::RiskLimits,
    now: crate::domain::Timestamp,
) -> Result<OrderError, ApiError> {
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

/// Records a refused submit (audit record, and the 422 as the key's outcome) and
/// answers with the problem.
async fn reject(
    deps: &SubmitDeps<'_>,
    trader: &TraderId,
    body: &Value,
    error: OrderError,
    ctx: &AuditContext,
    outcome: &KeyOutcome<'_>,
) -> Result<Reply, ApiError> {
    let problem = Problem::from(&ApiError::Order(error.clone()));
    let now = deps.clock.now();
    let audit = plan_rejected_submit(OrderId::new(), trader, Some(body.clone()), &error, ctx, now);
    let problem_body = problem.body();
    let record = outcome.record(problem.status, &problem_body, None);
    match deps.store.record_rejection(audit, record).await {
        Ok(()) => Ok(Reply::problem(&problem, problem_body)),
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
