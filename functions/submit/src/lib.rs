//! `POST /api/v1/orders`, `DELETE /api/v1/positions/{symbol}` (a market sell of the
//! position, `shared::app::close_position`) and `PATCH /api/v1/orders/{id}` (a replace,
//! `shared::app::replace`: it checks the new values as a submit does): the submit handler. Everything but HTTP lives in
//! `shared::app::submit` (rendered by `shared::http::submit`); this maps the request
//! in and the reply out.

use std::sync::Arc;

use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response};
use shared::app::close_position::{CloseRequest, close_position};
use shared::app::{ReplaceRequest, SubmitDeps, SubmitRequest};
use shared::domain::Pricing;
use shared::http::ApiError;
use shared::http::lambda::{body, problem_response, reply_response, request_id, trader, with_rate_quota};
use shared::http::submit::{ProblemJson, Reply, replace, submit_counted};
use shared::ports::{Clock, MarketData, OrderStore, WorkQueue};

/// `DELETE /api/v1/positions/{symbol}`: closing a position is a submit of a market sell.
const CLOSE_ROUTE: &str = "DELETE /api/v1/positions/{symbol}";
/// `PATCH /api/v1/orders/{id}`: replace a working order.
const REPLACE_ROUTE: &str = "PATCH /api/v1/orders/{id}";
use tracing::Instrument;

pub struct Submit {
    pub store: Arc<dyn OrderStore>,
    pub clock: Arc<dyn Clock>,
    pub pricing: Pricing,
    /// Latest prices for market and stop orders, cached (`None`: `pricing`'s static
    /// reference prices alone).
    pub market_data: Option<Arc<dyn MarketData>>,
    /// The fast path's work queue (`None`: the orders table's stream alone queues).
    pub queue: Option<Arc<dyn WorkQueue>>,
}

impl Submit {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = request_id(&req);
        let trader = match trader(&req) {
            Ok(t) => t,
            Err(e) => return problem_response(&e),
        };
        let span = tracing::info_span!("submit", request_id = request_id.as_deref().unwrap_or(""), trader_id = %trader);
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let deps = SubmitDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            pricing: &self.pricing,
            market_data: self.market_data.as_deref(),
            queue: self.queue.as_deref(),
        };
        let route = match req.request_context() {
            RequestContext::ApiGatewayV2(ctx) => ctx.route_key.unwrap_or_default(),
            #[allow(unreachable_patterns)]
            _ => String::new(),
        };
        let (result, quota) = if route == REPLACE_ROUTE {
            let id = req
                .path_parameters_ref()
                .and_then(|p| p.first("id"))
                .unwrap_or_default()
                .to_owned();
            let request = ReplaceRequest {
                trader,
                order_id: &id,
                body: body(&req),
                idempotency_key: key,
                request_id,
            };
            (replace(&deps, request).instrument(span).await, None)
        } else if route == CLOSE_ROUTE {
            let params = req.query_string_parameters();
            let close = CloseRequest {
                trader,
                symbol: req
                    .path_parameters_ref()
                    .and_then(|p| p.first("symbol"))
                    .unwrap_or_default(),
                qty: params.first("qty"),
                percentage: params.first("percentage"),
                idempotency_key: key,
                request_id,
            };
            let mut quota = None;
            let result = close_position(&deps, &ProblemJson, close, &mut quota)
                .instrument(span)
                .await
                .map(Reply::from)
                .map_err(ApiError::from);
            (result, quota)
        } else {
            let request = SubmitRequest {
                trader,
                body: body(&req),
                idempotency_key: key,
                request_id,
                confirm_duplicate: req
                    .headers()
                    .get("confirm-duplicate")
                    .map(|v| v.to_str().unwrap_or("\u{fffd}")),
            };
            submit_counted(&deps, request).instrument(span).await
        };
        let response = match result {
            Ok(reply) => reply_response(&reply),
            Err(e) => problem_response(&e),
        };
        with_rate_quota(response, quota.as_ref())
    }
}
