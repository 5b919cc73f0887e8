//! The Alpaca Trading API v2 subset: place, find by client order id, get, cancel;
//! and the fault layer in front of it (auth headers, latency, errors, dropped
//! answers), so every `/v2` call meets the same faults.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shared::adapters::venue::BookError;

use crate::AppState;
use crate::wire::{ApiError, order_json, parse_order};

fn book_error(e: BookError) -> ApiError {
    match e {
        BookError::DuplicateClientOrderId => ApiError::unprocessable("client_order_id must be unique"),
        BookError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "order not found"),
        BookError::NotCancelable(status) => {
            ApiError::unprocessable(format!("order is not cancelable (status {status})"))
        }
        BookError::BadFill(m) => ApiError::unprocessable(m),
    }
}

/// Alpaca's two auth headers must be there (any value); then the knobs decide:
/// wait `latency_ms`; answer 500/503 without doing anything (`error_rate`); or do
/// the work and break the connection instead of answering (`drop_response_rate`).
pub async fn faults(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !headers.contains_key("apca-api-key-id") || !headers.contains_key("apca-api-secret-key") {
        return ApiError::new(StatusCode::UNAUTHORIZED, "request is not authorized").into_response();
    }
    let knobs = app.lock().knobs.clone();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let (fail, unavailable) = {
        let mut sim = app.lock();
        (sim.chance(knobs.error_rate), sim.chance(0.5))
    };
    if fail {
        let status = if unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return ApiError::new(status, "simulated venue failure").into_response();
    }
    let response = next.run(request).await;
    if app.lock().chance(knobs.drop_response_rate) {
        return dropped();
    }
    response
}

/// "Accept then drop": the work is done, but the body fails before its first byte,
/// so the server aborts the connection and the client sees a transport error, never
/// an answer it could read.
fn dropped() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped response"))
    });
    Response::new(Body::from_stream(broken))
}

/// `POST /v2/orders`
pub async fn place(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let new = parse_order(&body, || ulid::Ulid::new().to_string())?;
    let placed = crate::admin::after_place_delay(&app, move |app| app.lock().place(new))
        .await
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the delayed placement failed"))?
        .map_err(book_error)?;
    Ok(Json(order_json(&placed)))
}

/// `GET /v2/orders:by_client_order_id?client_order_id=...`
pub async fn by_client_order_id(
    State(app): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let id = query
        .get("client_order_id")
        .ok_or_else(|| ApiError::unprocessable("client_order_id is required"))?;
    let found = app.lock().find(id);
    found
        .map(|o| Json(order_json(&o)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "order not found"))
}

/// `GET /v2/orders/{id}`
pub async fn get_order(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let found = app.lock().get(&id);
    found
        .map(|o| Json(order_json(&o)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "order not found"))
}

/// `DELETE /v2/orders/{id}`: 204, 404, or 422 when the order is no longer open.
pub async fn cancel(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let cancelled = app.lock().cancel(&id);
    cancelled.map(|_| StatusCode::NO_CONTENT).map_err(book_error)
}
