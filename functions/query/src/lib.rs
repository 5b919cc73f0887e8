//! The read routes of `/api/v1`, one function (all read-only), routed by API Gateway's
//! route key: `GET /orders`, `/orders:by_client_order_id`, `/orders/{id}`, `/orders/{id}/fills`, `/orders/{id}/audit`,
//! `/account`, `/positions`, `/positions/{symbol}`, and the unauthenticated `/health`.

use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::app::{positions, query};
use shared::http::ApiError;
use shared::http::lambda::{json_response, problem_response, request_id, trader};
use shared::ports::{AuditLog, Clock, OrderStore};
use tracing::Instrument;

pub struct Query {
    pub store: Arc<dyn OrderStore>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

fn route_key(req: &Request) -> String {
    match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx.route_key.unwrap_or_default(),
        #[allow(unreachable_patterns)]
        _ => String::new(),
    }
}

impl Query {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let route = route_key(&req);
        if route == "GET /api/v1/health" {
            return json_response(200, &serde_json::json!({"status": "ok"}));
        }
        let trader = match trader(&req) {
            Ok(t) => t,
            Err(e) => return problem_response(&e),
        };
        let span = tracing::info_span!("query", request_id = request_id(&req).unwrap_or_default(), trader_id = %trader, route = %route);
        let id = req
            .path_parameters_ref()
            .and_then(|p| p.first("id"))
            .unwrap_or_default()
            .to_owned();
        let params = req.query_string_parameters();
        let store = self.store.as_ref();
        async {
            let result = match route.as_str() {
                "GET /api/v1/orders" => {
                    let list = query::ListParams {
                        status: params.first("status"),
                        limit: params.first("limit"),
                        cursor: params.first("cursor"),
                        after: params.first("after"),
                        until: params.first("until"),
                        symbols: params.first("symbols"),
                        side: params.first("side"),
                        direction: params.first("direction"),
                    };
                    query::list_orders(store, &trader, &list)
                        .await
                        .map(|v| json_response(200, &v))
                }
                "GET /api/v1/orders:by_client_order_id" => {
                    query::by_client_order_id(store, &trader, params.first("client_order_id"))
                        .await
                        .map(|v| json_response(200, &v))
                }
                "GET /api/v1/orders/{id}" => query::get_order(store, &trader, &id)
                    .await
                    .map(|v| json_response(200, &v)),
                "GET /api/v1/orders/{id}/fills" => {
                    query::fills(store, &trader, &id).await.map(|v| json_response(200, &v))
                }
                "GET /api/v1/orders/{id}/audit" => query::audit(store, self.audit.as_ref(), &trader, &id)
                    .await
                    .map(|v| json_response(200, &v)),
                "GET /api/v1/positions" => positions::positions(store, &trader)
                    .await
                    .map(|v| json_response(200, &v)),
                "GET /api/v1/positions/{symbol}" => {
                    let symbol = req
                        .path_parameters_ref()
                        .and_then(|p| p.first("symbol"))
                        .unwrap_or_default();
                    positions::position(store, &trader, symbol)
                        .await
                        .map(|v| json_response(200, &v))
                }
                "GET /api/v1/account" => query::account(store, &trader, self.clock.now())
                    .await
                    .map(|v| json_response(200, &v)),
                other => return problem_response(&ApiError::NotFound(format!("No route {other}"))),
            };
            result.unwrap_or_else(|e| problem_response(&e.into()))
        }
        .instrument(span)
        .await
    }
}
