//! The simulator's own endpoints under `/_sim`, for tests and operators: health,
//! knobs, every order held, prices, manual ticks and reset. No auth, no faults.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::Symbol;

use crate::AppState;
use crate::api::refusal;
use crate::config::KnobsPatch;
use crate::wire::{ApiError, order_json, sim_order_json};

/// At most this many ticks per `POST /_sim/tick`.
const MAX_TICKS: u64 = 100_000;

fn bad_json(e: serde_json::Error) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, format!("request body is not valid JSON: {e}"))
}

fn prices_json(prices: &BTreeMap<String, Decimal>) -> Value {
    prices
        .iter()
        .map(|(s, p)| (s.clone(), Value::String(p.to_string())))
        .collect()
}

/// `GET /_sim/health` → `{"status": "ok", "orders": N, "ticks": N}`
pub async fn health(State(app): State<AppState>) -> Json<Value> {
    let sim = app.lock();
    Json(json!({"status": "ok", "orders": sim.order_count(), "ticks": sim.ticks()}))
}

/// Runs `act` (the venue acting on an order placement) once the `place_delay_ms`
/// knob's delay has passed, on a task of its own: a client that gives up meanwhile
/// (its timeout drops the request) does not stop it, as with a real slow venue, and
/// a lookup before then finds nothing. `None` if the task failed.
pub async fn after_place_delay<T: Send + 'static>(
    app: &AppState,
    act: impl FnOnce(&AppState) -> T + Send + 'static,
) -> Option<T> {
    let delay = app.lock().knobs.place_delay_ms;
    if delay == 0 {
        return Some(act(app));
    }
    let app = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        act(&app)
    })
    .await
    .ok()
}

/// `GET /_sim/config` → the knobs.
pub async fn get_config(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.lock().knobs))
}

/// `POST /_sim/config` with some of the knobs → all the knobs after the change.
pub async fn set_config(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let patch: KnobsPatch = serde_json::from_slice(&body).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut sim = app.lock();
    sim.knobs = sim.knobs.patched(&patch).map_err(ApiError::unprocessable)?;
    Ok(Json(json!(sim.knobs)))
}

/// `GET /_sim/orders[?client_order_id=...]` → `{"orders": [...]}` with their fills.
pub async fn orders(
    State(app): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let only = query.get("client_order_id");
    let sim = app.lock();
    let orders: Vec<Value> = sim
        .orders()
        .iter()
        .filter(|o| only.is_none_or(|c| *c == o.order.client_order_id))
        .map(sim_order_json)
        .collect();
    Ok(Json(json!({ "orders": orders })))
}

/// `POST /_sim/reset` → forgets every order and restarts the price path.
pub async fn reset(State(app): State<AppState>) -> Json<Value> {
    app.lock().reset();
    Json(json!({"status": "reset"}))
}

/// `GET /_sim/prices` → `{"AAPL": "190.02", ...}` for every symbol seen so far.
pub async fn get_prices(State(app): State<AppState>) -> Json<Value> {
    Json(prices_json(&app.lock().prices()))
}

/// `POST /_sim/prices` with `{"AAPL": "191.5"}` → moves those symbols there now
/// (resting orders they cross fill) and answers with every price.
pub async fn set_prices(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let raw: HashMap<String, Value> = serde_json::from_slice(&body).map_err(bad_json)?;
    let mut prices = Vec::new();
    for (symbol, value) in raw {
        Symbol::parse(&symbol).map_err(|_| ApiError::unprocessable(format!("invalid symbol `{symbol}`")))?;
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(ApiError::unprocessable(format!(
                    "price of {symbol} must be a decimal, got {other}"
                )));
            }
        };
        let price = text
            .parse::<Decimal>()
            .ok()
            .filter(|p| *p > Decimal::ZERO)
            .ok_or_else(|| ApiError::unprocessable(format!("price of {symbol} `{text}` is not a positive decimal")))?;
        prices.push((symbol, price));
    }
    prices.sort();
    let mut sim = app.lock();
    sim.set_prices(&prices);
    Ok(Json(prices_json(&sim.prices())))
}

/// `POST /_sim/tick` with `{"ticks": N}` (default 1) → advances the price path now.
pub async fn tick(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let n = if body.iter().all(u8::is_ascii_whitespace) {
        1
    } else {
        let v: Value = serde_json::from_slice(&body).map_err(bad_json)?;
        match v.get("ticks") {
            None => 1,
            Some(t) => t
                .as_u64()
                .filter(|n| (1..=MAX_TICKS).contains(n))
                .ok_or_else(|| ApiError::unprocessable(format!("ticks must be 1 to {MAX_TICKS}")))?,
        }
    };
    let mut sim = app.lock();
    sim.tick(n);
    Ok(Json(
        json!({"ticks": sim.ticks(), "prices": prices_json(&sim.prices())}),
    ))
}

/// `POST /_sim/replace` with `{"id": venue order id}` or `{"client_order_id": ...}`,
/// and optionally `limit_price` and `new_client_order_id`: the venue replaces the
/// working order (as for a corporate action). The old order becomes `replaced` with
/// `replaced_by` naming the new one, which `replaces` it and works on for what was
/// left, under `new_client_order_id` or a client order id the venue generates.
/// Answers with the new order.
pub async fn replace(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let v: Value = serde_json::from_slice(&body).map_err(bad_json)?;
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match v.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::unprocessable(format!(
                "{field} must be a non-empty string, got {other}"
            ))),
        }
    };
    let limit_price = match text("limit_price")? {
        None => None,
        Some(raw) => Some(
            raw.parse::<Decimal>()
                .ok()
                .filter(|p| *p > Decimal::ZERO)
                .ok_or_else(|| ApiError::unprocessable(format!("limit_price `{raw}` is not a positive decimal")))?,
        ),
    };
    let new_client = text("new_client_order_id")?;
    let mut sim = app.lock();
    let id = match (text("id")?, text("client_order_id")?) {
        (Some(id), _) => id,
        (None, Some(client)) => sim
            .find(&client)
            .map(|o| o.order.id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "order not found"))?,
        (None, None) => return Err(ApiError::unprocessable("id or client_order_id is required")),
    };
    let changes = crate::state::Replacement {
        limit_price,
        client_order_id: new_client,
        ..Default::default()
    };
    let replacement = sim.replace(&id, changes).map_err(refusal)?;
    Ok(Json(order_json(&replacement)))
}

/// `POST /_sim/stream/drop` → closes every open `/stream` connection now.
pub async fn drop_streams(State(app): State<AppState>) -> Json<Value> {
    app.drops.send_modify(|n| *n += 1);
    Json(json!({"status": "dropped"}))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Knobs, SimConfig, spawn};

    #[tokio::test]
    async fn a_delayed_placement_is_not_found_until_it_lands_even_after_the_client_gave_up() {
        let config = SimConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            knobs: Knobs {
                place_delay_ms: 400,
                ..Knobs::default()
            },
            ..SimConfig::default()
        };
        let sim = spawn(config).await.unwrap();
        let http = reqwest::Client::new();
        let auth = |r: reqwest::RequestBuilder| r.header("apca-api-key-id", "k").header("apca-api-secret-key", "s");
        let body = serde_json::json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
            "time_in_force": "day", "client_order_id": "slow-1"});
        let posted = auth(http.post(format!("{}/v2/orders", sim.base_url())))
            .json(&body)
            .timeout(Duration::from_millis(100))
            .send()
            .await;
        assert!(posted.is_err_and(|e| e.is_timeout()), "the client gives up first");
        let find = || {
            auth(http.get(format!(
                "{}/v2/orders:by_client_order_id?client_order_id=slow-1",
                sim.base_url()
            )))
            .send()
        };
        assert_eq!(find().await.unwrap().status(), 404, "not acted on yet");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let found = find().await.unwrap();
        assert_eq!(found.status(), 200, "the venue acted on it anyway");
        let order: serde_json::Value = found.json().await.unwrap();
        assert_eq!(order["status"], "filled", "{order}");
    }
}
