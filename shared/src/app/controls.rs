//! The operators' market access controls (issue 19): set the trading state of the
//! deployment or of one trader (audited on the principal's operator chain, with the
//! operator's identity; the stream carries the change), optionally cancelling the
//! trader's open orders in the same request. Operators are the callers with the
//! operator scope; their identity is `operator:<token sub>`.

use serde::{Deserialize, Serialize};

use super::cancel::CancelDeps;
use super::cancel_all::{CancelAllOutcome, cancel_all};
use super::error::AppError;
use super::plan::AuditContext;
use crate::domain::{FieldError, IdempotencyKey, OrderError, TraderId, TradingScope, TradingState};
use crate::ports::{OperatorAction, StoreError, TradingControls};

/// Largest operator request body accepted.
pub const MAX_CONTROL_BODY_BYTES: usize = 4 * 1024;
/// Longest reason kept on the record.
pub const MAX_REASON_CHARS: usize = 500;

pub struct ControlsDeps<'a> {
    pub cancel: CancelDeps<'a>,
    pub controls: &'a dyn TradingControls,
}

/// `PUT .../trading-state` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateRequest {
    state: String,
    #[serde(default)]
    reason: Option<String>,
    /// Also cancel the trader's open orders (one page; `more` says if any remain).
    #[serde(default)]
    cancel_open_orders: bool,
}

/// What an operator's trading state change answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateReply {
    /// `deployment`, or the trader's id.
    pub scope: String,
    pub previous_state: TradingState,
    pub state: TradingState,
    /// The record's sequence on the principal's chain (`ACCOUNT#<trader>`).
    pub audit_sequence: u64,
    pub operation_id: String,
    /// The orders asked to cancel, when `cancel_open_orders` was given for a trader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<CancelAllOutcome>,
}

fn parse_request(body: &[u8]) -> Result<(TradingState, Option<String>, bool), AppError> {
    if body.len() > MAX_CONTROL_BODY_BYTES {
        return Err(AppError::BodyTooLarge {
            size: body.len(),
            limit: MAX_CONTROL_BODY_BYTES,
        });
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| AppError::MalformedJson(e.to_string()))?;
    let req: StateRequest = serde_json::from_value(value).map_err(|e| {
        OrderError::Validation(vec![FieldError::new(
            "body",
            format!("The body must be {{\"state\": \"active\" | \"reducing\" | \"halted\", \"reason\"?: string, \"cancel_open_orders\"?: boolean}}: {e}"),
        )])
    })?;
    let state = TradingState::parse(&req.state).ok_or_else(|| {
        OrderError::Validation(vec![FieldError::new(
            "state",
            format!("State must be one of: active, reducing, halted (got `{}`)", req.state),
        )])
    })?;
    if let Some(r) = &req.reason {
        if r.chars().count() > MAX_REASON_CHARS {
            return Err(OrderError::Validation(vec![FieldError::new(
                "reason",
                format!("Reason must be at most {MAX_REASON_CHARS} characters"),
            )])
            .into());
        }
    }
    Ok((state, req.reason, req.cancel_open_orders))
}

/// Sets `scope`'s trading state for `operator`. `operation_key` (the request's
/// `Idempotency-Key`) makes a retry apply nothing twice; without one each call is a
/// new operation.
pub async fn set_trading_state(
    deps: &ControlsDeps<'_>,
    operator: &TraderId,
    scope: TradingScope,
    body: &[u8],
    operation_key: Option<&str>,
    request_id: Option<String>,
) -> Result<StateReply, AppError> {
    let (state, reason, cancel_open) = parse_request(body)?;
    if cancel_open && scope == TradingScope::Deployment {
        return Err(OrderError::Validation(vec![FieldError::new(
            "cancel_open_orders",
            "cancel_open_orders applies to one trader; cancel each trader's orders with DELETE /operator/traders/{trader}/orders",
        )])
        .into());
    }
    let by = match operation_key {
        Some(k) => {
            let key = IdempotencyKey::parse(k)
                .map_err(|e| AppError::InvalidParameter(FieldError::new("Idempotency-Key", e.to_string())))?;
            OperatorAction::with_id(operator.as_str(), key.to_string())
        }
        None => OperatorAction::new(operator.as_str()),
    };
    let change = deps
        .controls
        .set_trading_state(&scope, state, reason.as_deref(), &by)
        .await
        .map_err(|e| match (e, &scope) {
            (StoreError::NoAccount, TradingScope::Trader(t)) => AppError::TraderNotFound(t.to_string()),
            (e, _) => e.into(),
        })?;
    tracing::warn!(scope = %scope, from = %change.before, to = %change.after, actor = %by.actor, "trading state set");
    let cancelled = match (&scope, cancel_open) {
        (TradingScope::Trader(t), true) => {
            let ctx = AuditContext {
                actor: by.actor.clone(),
                request_id,
                idempotency_key: None,
            };
            Some(cancel_all(&deps.cancel, t, None, &ctx).await?)
        }
        _ => None,
    };
    Ok(StateReply {
        scope: match &scope {
            TradingScope::Deployment => "deployment".into(),
            TradingScope::Trader(t) => t.to_string(),
        },
        previous_state: change.before,
        state: change.after,
        audit_sequence: change.sequence,
        operation_id: by.operation_id,
        cancelled,
    })
}
