//! `POST /api/v1/orders/{id}/cancel`: the cancel handler over `shared::app::cancel`.

use std::sync::Arc;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::app::{CancelDeps, cancel};
use shared::http::lambda::{json_response, problem_response, request_id, trader};
use shared::ports::{Clock, OrderStore};
use tracing::Instrument;

pub struct Cancel {
    pub store: Arc<dyn OrderStore>,
    pub clock: Arc<dyn Clock>,
}

impl Cancel {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = request_id(&req);
        let trader = match trader(&req) {
            Ok(t) => t,
            Err(e) => return problem_response(&e),
        };
        let id = req
            .path_parameters_ref()
            .and_then(|p| p.first("id"))
            .unwrap_or_default()
            .to_owned();
        let span = tracing::info_span!("cancel", request_id = request_id.as_deref().unwrap_or(""), trader_id = %trader, order_id = %id);
        let deps = CancelDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
        };
        match cancel(&deps, &trader, &id, request_id).instrument(span).await {
            Ok(order) => json_response(200, &order),
            Err(e) => problem_response(&e.into()),
        }
    }
}
