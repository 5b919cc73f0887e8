//! The cancel function: `POST /api/v1/orders/{id}/cancel` over `shared::app::cancel`,
//! `DELETE /api/v1/orders` (cancel all of the caller's open orders, one page a call),
//! and the operators' market access controls (issue 19), which need the same writes:
//! `PUT /api/v1/operator/trading-state`, `PUT /api/v1/operator/traders/{trader}/trading-state`
//! and `DELETE /api/v1/operator/traders/{trader}/orders`, and the operators' reads of
//! the trading state (`GET` of both trading-state routes) and the audit verification of a
//! trader's orders (`GET /api/v1/operator/traders/{trader}/audit-verification`), the
//! console's operator view; and what needs an operator (issue 22): the day's stalled
//! orders and reconciliation findings (`GET /api/v1/operator/attention`), the work
//! queue's dead-letter queue (`GET /api/v1/operator/dead-letters`) and its redrive
//! (`POST /api/v1/operator/dead-letters/redrive`).
//! Routes are told apart by API Gateway's route key.

use std::sync::Arc;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::app::attention::{AttentionParams, attention_list, dead_letter_depth, redrive};
use shared::app::audit_check::check_trader_audit;
use shared::app::{
    AppError, AuditContext, CancelDeps, ControlsDeps, cancel, cancel_all, set_trading_state, trading_state,
};
use shared::domain::{FieldError, Symbol, TraderId, TradingScope};
use shared::http::ApiError;
use shared::http::lambda::{body, json_response, operator, problem_response, request_id, route_key, trader};
use shared::ports::{AttentionLog, AuditLog, Clock, DeadLetters, OrderStore, TradingControls, WorkQueue};
use tracing::Instrument;

/// The operator scope when `OPERATOR_SCOPE` is not set (the template's default).
pub const DEFAULT_OPERATOR_SCOPE: &str = "orders/operate";

/// The trader routes: cancel one order, cancel all.
pub struct Cancel {
    pub store: Arc<dyn OrderStore>,
    pub clock: Arc<dyn Clock>,
    /// The fast path's work queue (`None`: the orders table's stream alone queues).
    pub queue: Option<Arc<dyn WorkQueue>>,
}

/// The operator routes, over the same store.
pub struct Operator {
    pub cancel: Cancel,
    pub controls: Arc<dyn TradingControls>,
    /// The audit chains, for the audit verification of a trader's orders.
    pub audit: Arc<dyn AuditLog>,
    /// The records of stalled orders and reconciliation findings.
    pub attention: Arc<dyn AttentionLog>,
    /// The work queue's dead-letter queue (`None` when `WORK_DEAD_LETTER_QUEUE_URL` is
    /// not set: its routes answer 503).
    pub dead_letters: Option<Arc<dyn DeadLetters>>,
    /// The scope an operator's token carries (`OPERATOR_SCOPE`).
    pub operator_scope: String,
}

/// The whole function: every route it serves.
pub struct CancelFunction {
    pub operator: Operator,
}

impl CancelFunction {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        if route_key(&req).contains(" /api/v1/operator/") {
            self.operator.handle(req).await
        } else {
            self.operator.cancel.handle(req).await
        }
    }
}

fn path_param(req: &Request, name: &str) -> String {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .unwrap_or_default()
        .to_owned()
}

/// The optional `symbol` query parameter.
fn symbol_filter(req: &Request) -> Result<Option<Symbol>, ApiError> {
    match req.query_string_parameters_ref().and_then(|q| q.first("symbol")) {
        None => Ok(None),
        Some(raw) => Symbol::parse(raw)
            .map(Some)
            .map_err(|e| AppError::InvalidParameter(FieldError::new("symbol", e.to_string())).into()),
    }
}

impl Cancel {
    fn deps(&self) -> CancelDeps<'_> {
        CancelDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            queue: self.queue.as_deref(),
        }
    }

    /// `POST /api/v1/orders/{id}/cancel` and `DELETE /api/v1/orders`.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let result = match route_key(&req).as_str() {
            "DELETE /api/v1/orders" => self.cancel_all(&req).await,
            _ => self.cancel_one(&req).await,
        };
        result.unwrap_or_else(|e| problem_response(&e))
    }

    async fn cancel_one(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let request_id = request_id(req);
        let trader = trader(req)?;
        let id = path_param(req, "id");
        let span = tracing::info_span!("cancel", request_id = request_id.as_deref().unwrap_or(""), trader_id = %trader, order_id = %id);
        let order = cancel(&self.deps(), &trader, &id, request_id).instrument(span).await?;
        Ok(json_response(200, &order))
    }

    async fn cancel_all(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let request_id = request_id(req);
        let trader = trader(req)?;
        let symbol = symbol_filter(req)?;
        let span =
            tracing::info_span!("cancel_all", request_id = request_id.as_deref().unwrap_or(""), trader_id = %trader);
        let ctx = AuditContext {
            actor: trader.to_string(),
            request_id,
            idempotency_key: None,
        };
        let outcome = cancel_all(&self.deps(), &trader, symbol.as_ref(), &ctx)
            .instrument(span)
            .await?;
        Ok(json_response(200, &outcome))
    }
}

impl Operator {
    /// The operator routes (the token must carry the operator scope).
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let result = match route_key(&req).as_str() {
            "DELETE /api/v1/operator/traders/{trader}/orders" => self.operator_cancel_all(&req).await,
            "GET /api/v1/operator/trading-state" | "GET /api/v1/operator/traders/{trader}/trading-state" => {
                self.get_state(&req).await
            }
            "GET /api/v1/operator/traders/{trader}/audit-verification" => self.check_audit(&req).await,
            "GET /api/v1/operator/attention" => self.attention(&req).await,
            "GET /api/v1/operator/dead-letters" | "POST /api/v1/operator/dead-letters/redrive" => {
                self.dead_letters(&req).await
            }
            _ => self.set_state(&req).await,
        };
        result.unwrap_or_else(|e| problem_response(&e))
    }

    /// The trader an operator route names (404 as for an unknown trader when the id
    /// cannot be one).
    fn named_trader(req: &Request) -> Result<TraderId, ApiError> {
        let raw = path_param(req, "trader");
        TraderId::parse(&raw)
            .ok()
            .filter(|t| !t.as_str().starts_with('@'))
            .ok_or_else(|| AppError::TraderNotFound(raw).into())
    }

    fn scope(req: &Request) -> Result<TradingScope, ApiError> {
        match route_key(req).contains("{trader}") {
            true => Ok(TradingScope::Trader(Self::named_trader(req)?)),
            false => Ok(TradingScope::Deployment),
        }
    }

    async fn get_state(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let operator = operator(req, &self.operator_scope)?;
        let scope = Self::scope(req)?;
        let span = tracing::info_span!("trading_state", request_id = request_id(req).as_deref().unwrap_or(""), operator = %operator, scope = %scope);
        let view = trading_state(self.controls.as_ref(), scope).instrument(span).await?;
        Ok(json_response(200, &view))
    }

    async fn check_audit(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let operator = operator(req, &self.operator_scope)?;
        let trader = Self::named_trader(req)?;
        let cursor = req.query_string_parameters_ref().and_then(|q| q.first("cursor"));
        let span = tracing::info_span!("audit_verification", request_id = request_id(req).as_deref().unwrap_or(""), operator = %operator, trader_id = %trader);
        let check = check_trader_audit(self.cancel.store.as_ref(), self.audit.as_ref(), &trader, cursor)
            .instrument(span)
            .await?;
        Ok(json_response(200, &check))
    }

    async fn attention(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let operator = operator(req, &self.operator_scope)?;
        let q = req.query_string_parameters_ref();
        let first = |name: &str| q.and_then(|q| q.first(name));
        let params = AttentionParams {
            kind: first("kind"),
            date: first("date"),
            limit: first("limit"),
            cursor: first("cursor"),
        };
        let span = tracing::info_span!("attention", request_id = request_id(req).as_deref().unwrap_or(""), operator = %operator);
        let list = attention_list(
            self.cancel.store.as_ref(),
            self.attention.as_ref(),
            params,
            self.cancel.clock.now(),
        )
        .instrument(span)
        .await?;
        Ok(json_response(200, &list))
    }

    /// The dead-letter queue's depth, or (POST) a redrive of it.
    async fn dead_letters(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let operator = operator(req, &self.operator_scope)?;
        let Some(dlq) = self.dead_letters.as_deref() else {
            return Err(AppError::Unavailable {
                service: "SQS",
                detail: "the dead-letter queue is not configured (WORK_DEAD_LETTER_QUEUE_URL)".into(),
            }
            .into());
        };
        if route_key(req).starts_with("POST ") {
            let span = tracing::info_span!("redrive", request_id = request_id(req).as_deref().unwrap_or(""), operator = %operator);
            let moved = redrive(dlq).instrument(span).await?;
            tracing::info!(operator = %operator, moved = moved.moved, more = moved.more, "dead-lettered work redriven");
            return Ok(json_response(200, &moved));
        }
        Ok(json_response(200, &dead_letter_depth(dlq).await?))
    }

    async fn set_state(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let request_id = request_id(req);
        let operator = operator(req, &self.operator_scope)?;
        let scope = Self::scope(req)?;
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let span = tracing::info_span!("set_trading_state", request_id = request_id.as_deref().unwrap_or(""), operator = %operator, scope = %scope);
        let deps = ControlsDeps {
            cancel: self.cancel.deps(),
            controls: self.controls.as_ref(),
        };
        let reply = set_trading_state(&deps, &operator, scope, body(req), key, request_id)
            .instrument(span)
            .await?;
        Ok(json_response(200, &reply))
    }

    async fn operator_cancel_all(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let request_id = request_id(req);
        let operator = operator(req, &self.operator_scope)?;
        let trader = Self::named_trader(req)?;
        let symbol = symbol_filter(req)?;
        if self.cancel.store.get_account(&trader).await?.is_none() {
            return Err(AppError::TraderNotFound(trader.to_string()).into());
        }
        let span = tracing::info_span!("operator_cancel_all", request_id = request_id.as_deref().unwrap_or(""), operator = %operator, trader_id = %trader);
        let ctx = AuditContext {
            actor: format!("operator:{operator}"),
            request_id,
            idempotency_key: None,
        };
        let outcome = cancel_all(&self.cancel.deps(), &trader, symbol.as_ref(), &ctx)
            .instrument(span)
            .await?;
        Ok(json_response(200, &outcome))
    }
}
