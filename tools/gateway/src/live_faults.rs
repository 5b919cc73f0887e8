//! Faults of the local management API, for the live fan-out's failure scenarios
//! (tests/tests/live.rs): `PUT /_faults/connections/{id}` with
//! `{"refuse_posts": bool, "refuse_deletes": bool}` makes `@connections/{id}` answer its
//! POSTs / DELETEs with 429 `LimitExceededException`, as API Gateway throttles;
//! `DELETE /_faults/connections/{id}` heals it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::live::{LiveGateway, refusal};

#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
pub(crate) struct Fault {
    #[serde(default)]
    pub(crate) refuse_posts: bool,
    #[serde(default)]
    pub(crate) refuse_deletes: bool,
}

/// The management API's 429 (`LimitExceededException`), which the SDK retries as throttling.
pub(crate) fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("x-amzn-errortype", "LimitExceededException")],
        axum::Json(json!({"message": "Rate exceeded"})),
    )
        .into_response()
}

pub(crate) async fn set_fault(State(g): State<Arc<LiveGateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            tracing::warn!(connection_id = %id, ?fault, "management API fault injected");
            g.faults.lock().unwrap_or_else(|e| e.into_inner()).insert(id, fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refusal(
            StatusCode::BAD_REQUEST,
            &format!("expected {{\"refuse_posts\": bool, \"refuse_deletes\": bool}}: {e}"),
        ),
    }
}

pub(crate) async fn clear_fault(State(g): State<Arc<LiveGateway>>, Path(id): Path<String>) -> Response {
    g.faults.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    StatusCode::NO_CONTENT.into_response()
}
