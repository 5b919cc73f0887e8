//! The Alpaca Trading API v2 subset: place, list (`GET /v2/orders`), find by client order id, get, cancel,
//! the FILL account activities; and the layers in front of it: the recording of
//! every exchange (`SIM_RECORDING`), auth headers, the per-key rate limit, and the
//! fault knobs (latency, errors, dropped answers), so every `/v2` call meets them.
//!
//! Long because: each handler answers one endpoint of the Alpaca document with its query
//! parsing and error codes; the state they share lives in state.rs.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shared::adapters::venue::BookError;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::AppState;
use crate::state::{Execution, Rate, Refusal, now_ms};
use crate::wire::{ApiError, activity_json, order_json, parse_order};

/// Largest body the recorder reads back (orders and pages are far smaller).
const MAX_RECORDED_BODY: usize = 4 << 20;

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

pub fn refusal(e: Refusal) -> ApiError {
    match e {
        Refusal::Book(e) => book_error(e),
        Refusal::InsufficientBuyingPower { needed, available } => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("insufficient buying power (needed {needed}, available {available})"),
        ),
    }
}

/// Writes every `/v2` exchange as one JSON line to `SIM_RECORDING` (when set), for
/// `tools/check_alpaca.py`: method, path, query, the matched route in the
/// document's spelling, status, lower-case headers and the body (JSON, text or null).
/// An answer the fault layer breaks on purpose is not recorded: nobody received it.
pub async fn record(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(recorder) = app.recorder.clone() else {
        return next.run(request).await;
    };
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| format!("{method} {}", m.as_str()));
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_RECORDED_BODY).await else {
        return dropped();
    };
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let body_json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    let line = json!({"method": method, "path": path, "query": query, "route": route,
        "status": parts.status.as_u16(), "headers": headers, "body": body_json});
    recorder.write(&line);
    Response::from_parts(parts, Body::from(bytes))
}

fn rate_headers(headers: &mut HeaderMap, rate: Rate) {
    for (name, value) in [
        ("x-ratelimit-limit", rate.limit.to_string()),
        ("x-ratelimit-remaining", rate.remaining.to_string()),
        ("x-ratelimit-reset", rate.reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// Alpaca's two auth headers must be there (any value); then the rate limit of the
/// key (`rate_limit_per_min`: 429 with `X-RateLimit-*` once spent; every answer
/// carries them); then the knobs decide: wait `latency_ms`; answer 500/503 without
/// doing anything (`error_rate`); or do the work and break the connection instead
/// of answering (`drop_response_rate`).
pub async fn faults(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let Some(key) = headers
        .get("apca-api-key-id")
        .filter(|_| headers.contains_key("apca-api-secret-key"))
    else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "request is not authorized").into_response();
    };
    let key = String::from_utf8_lossy(key.as_bytes()).into_owned();
    let rate = app.lock().rate(&key, now_ms());
    if let Some(r) = rate.filter(|r| !r.allowed) {
        let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded").into_response();
        rate_headers(response.headers_mut(), r);
        return response;
    }
    let knobs = app.lock().knobs.clone();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let (fail, unavailable) = {
        let mut sim = app.lock();
        (sim.chance(knobs.error_rate), sim.chance(0.5))
    };
    let mut response = if fail {
        let status = if unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, "simulated venue failure").into_response()
    } else {
        let response = next.run(request).await;
        if app.lock().chance(knobs.drop_response_rate) {
            return dropped();
        }
        response
    };
    if let Some(r) = rate {
        rate_headers(response.headers_mut(), r);
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

/// `POST /v2/orders`: the order as received (`accepted`, unless the knobs route it
/// at once); 403 `40310000` when buying power does not cover a buy.
pub async fn place(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let new = parse_order(&body, || ulid::Ulid::new().to_string())?;
    let placed = crate::admin::after_place_delay(&app, move |app| app.lock().place(new))
        .await
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the delayed placement failed"))?
        .map_err(refusal)?;
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

/// `PATCH /v2/orders/{order_id}` (Alpaca's replace): the working order becomes
/// `replaced` and a new order with the body's changes `replaces` it; answers with the
/// new order. An order not working (still `accepted`/`pending_new`, or final) is 422.
pub async fn patch_order(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let changes = crate::wire::parse_replacement(&body)?;
    let replaced = app.lock().replace(&id, changes);
    replaced.map(|o| Json(order_json(&o))).map_err(refusal)
}

/// `GET /v2/orders/{order_id}`
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

/// `DELETE /v2/orders/{order_id}`: 204 once the cancel is requested (the order
/// goes through `pending_cancel`), 404, or 422 when the order is no longer open.
pub async fn cancel(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let cancelled = app.lock().cancel(&id);
    cancelled.map(|()| StatusCode::NO_CONTENT).map_err(book_error)
}

/// The document's `ActivityType` enum: any of them may be asked for; only FILL has
/// entries here.
const ACTIVITY_TYPES: &[&str] = &[
    "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CGD", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVFEE",
    "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "FEE", "INT", "INTNRA", "INTTW", "JNL", "JNLC", "JNLS", "MA",
    "NC", "OPASN", "OPCA", "OPCSH", "OPEXC", "OPEXP", "OPTRD", "PTC", "PTR", "REORG", "SPIN", "SPLIT", "FOPT",
];
const MAX_PAGE_SIZE: usize = 100;

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time, as milliseconds.
fn instant(name: &str, raw: &str) -> Result<i64, ApiError> {
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(raw, &format)
            .ok()
            .map(|d| PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc())
    });
    parsed
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .ok_or_else(|| bad_request(format!("{name} `{raw}` is not a date (YYYY-MM-DD) or an RFC 3339 time")))
}

/// The FILL activities a query asks for, paged as the document says: `after`,
/// `until`, `date`, `direction` (default desc), `page_size` (1 to 100, default
/// 100) and `page_token` (the id of the last activity of the previous page).
fn fill_page(executions: &[Execution], query: &HashMap<String, String>) -> Result<Vec<Value>, ApiError> {
    let after = query.get("after").map(|v| instant("after", v)).transpose()?;
    let until = query.get("until").map(|v| instant("until", v)).transpose()?;
    let day = query.get("date").map(|v| instant("date", v)).transpose()?;
    let descending = match query.get("direction").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(bad_request(format!("direction `{other}` must be asc or desc"))),
    };
    let page_size = match query.get("page_size") {
        None => MAX_PAGE_SIZE,
        Some(raw) => usize::from_str(raw)
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| bad_request(format!("page_size `{raw}` must be 1 to {MAX_PAGE_SIZE}")))?,
    };
    let mut chosen: Vec<&Execution> = executions
        .iter()
        .filter(|e| after.is_none_or(|t| e.at_ms > t))
        .filter(|e| until.is_none_or(|t| e.at_ms < t))
        .filter(|e| day.is_none_or(|d| (d..d + 86_400_000).contains(&e.at_ms)))
        .collect();
    // Oldest first, ties in the order they happened (the slice's order); then the
    // direction asked for.
    chosen.sort_by_key(|e| e.at_ms);
    if descending {
        chosen.reverse();
    }
    let start = match query.get("page_token") {
        None => 0,
        Some(token) => {
            chosen
                .iter()
                .position(|e| e.activity_id == *token)
                .ok_or_else(|| bad_request(format!("page_token `{token}` is not an activity of this query")))?
                + 1
        }
    };
    Ok(chosen
        .into_iter()
        .skip(start)
        .take(page_size)
        .map(activity_json)
        .collect())
}

/// `GET /v2/account/activities/{activity_type}`
pub async fn activities_of_type(
    State(app): State<AppState>,
    kind: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(kind) = kind.map_err(|e| bad_request(e.body_text()))?;
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    if !ACTIVITY_TYPES.contains(&kind.as_str()) {
        return Err(bad_request(format!("activity_type `{kind}` is not an activity type")));
    }
    let sim = app.lock();
    let page = fill_page(sim.executions(), &query)?;
    Ok(Json(Value::Array(if kind == "FILL" { page } else { Vec::new() })))
}

/// `GET /v2/account/activities[?activity_types=FILL,...]`
pub async fn activities(
    State(app): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let fills = match (query.get("activity_types"), query.get("category").map(String::as_str)) {
        (Some(_), Some(_)) => return Err(bad_request("category cannot be used with activity_types")),
        (Some(types), None) => {
            let types: Vec<&str> = types.split(',').map(str::trim).collect();
            if let Some(bad) = types.iter().find(|t| !ACTIVITY_TYPES.contains(t)) {
                return Err(bad_request(format!("activity_types: `{bad}` is not an activity type")));
            }
            types.contains(&"FILL")
        }
        (None, None | Some("trade_activity")) => true,
        (None, Some("non_trade_activity")) => false,
        (None, Some(other)) => {
            return Err(bad_request(format!(
                "category `{other}` must be trade_activity or non_trade_activity"
            )));
        }
    };
    let sim = app.lock();
    let page = fill_page(sim.executions(), &query)?;
    Ok(Json(Value::Array(if fills { page } else { Vec::new() })))
}

/// Alpaca's default and largest `limit` of `GET /v2/orders`.
const DEFAULT_ORDER_LIMIT: usize = 50;
const MAX_ORDER_LIMIT: usize = 500;
/// The document's `asset_class` values; every order here is `us_equity`.
const ASSET_CLASSES: &[&str] = &[
    "us_equity",
    "us_option",
    "crypto",
    "crypto_perp",
    "treasury",
    "corporate",
    "global_equity",
    "us_index",
    "us_equity_chain",
    "ipo",
    "all",
];

/// Which orders a `GET /v2/orders` query asks for, as the document's parameters say.
struct OrderQuery {
    status: OrderState,
    limit: usize,
    after: Option<i64>,
    until: Option<i64>,
    descending: bool,
    symbols: Option<Vec<String>>,
    side: Option<shared::domain::Side>,
    equities: bool,
    after_order: Option<String>,
    before_order: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OrderState {
    Open,
    Closed,
    All,
}

impl OrderQuery {
    fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::unprocessable(m);
        let status = match query.get("status").map(String::as_str) {
            None | Some("open") => OrderState::Open,
            Some("closed") => OrderState::Closed,
            Some("all") => OrderState::All,
            Some(other) => return Err(bad(format!("status `{other}` must be open, closed or all"))),
        };
        let limit = match query.get("limit") {
            None => DEFAULT_ORDER_LIMIT,
            Some(raw) => usize::from_str(raw)
                .ok()
                .filter(|n| (1..=MAX_ORDER_LIMIT).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "limit `{raw}` must be a whole number from 1 to {MAX_ORDER_LIMIT}"
                    ))
                })?,
        };
        let time = |name: &str| {
            query
                .get(name)
                .map(|v| instant(name, v).map_err(|_| bad(format!("{name} `{v}` is not an RFC 3339 time or a date"))))
                .transpose()
        };
        let (after, until) = (time("after")?, time("until")?);
        let descending = match query.get("direction").map(String::as_str) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(bad(format!("direction `{other}` must be asc or desc"))),
        };
        match query.get("nested").map(String::as_str) {
            None | Some("true") | Some("false") => {}
            Some(other) => return Err(bad(format!("nested `{other}` must be true or false"))),
        }
        let symbols = query.get("symbols").map(|raw| {
            raw.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });
        let side = match query.get("side").map(String::as_str) {
            None => None,
            Some("buy") => Some(shared::domain::Side::Buy),
            Some("sell") => Some(shared::domain::Side::Sell),
            Some(other) => return Err(bad(format!("side `{other}` must be buy or sell"))),
        };
        let equities = match query.get("asset_class") {
            None => true,
            Some(raw) => {
                let classes: Vec<&str> = raw.split(',').map(str::trim).collect();
                if let Some(c) = classes.iter().find(|c| !ASSET_CLASSES.contains(c)) {
                    return Err(bad(format!("asset_class `{c}` is not an asset class")));
                }
                classes.iter().any(|c| matches!(*c, "us_equity" | "all"))
            }
        };
        let after_order = query.get("after_order_id").cloned();
        let before_order = query.get("before_order_id").cloned();
        if after_order.is_some() && before_order.is_some() {
            return Err(bad("after_order_id and before_order_id cannot be used together".into()));
        }
        if (after_order.is_some() || before_order.is_some()) && (after.is_some() || until.is_some()) {
            return Err(bad(
                "after_order_id / before_order_id cannot be combined with after / until".into(),
            ));
        }
        Ok(Self {
            status,
            limit,
            after,
            until,
            descending,
            symbols,
            side,
            equities,
            after_order,
            before_order,
        })
    }

    fn wants(&self, v: &crate::state::OrderView) -> bool {
        let o = &v.order;
        let open = o.status.is_open();
        let state = match self.status {
            OrderState::Open => open,
            OrderState::Closed => !open,
            OrderState::All => true,
        };
        state
            && self.equities
            && self.after.is_none_or(|t| o.created_ms > t)
            && self.until.is_none_or(|t| o.created_ms < t)
            && self.side.is_none_or(|s| o.side == s)
            && self.symbols.as_ref().is_none_or(|s| s.contains(&o.symbol))
    }
}

/// `GET /v2/orders`: the account's orders by submission time (`submitted_at`, ties
/// by order id), filtered and paged as the document's parameters say: `status`
/// (open, closed or all; default open: every status but the final ones), `limit`
/// (default 50, at most 500), `after` / `until` (exclusive), `direction` (default
/// desc), `nested`, `symbols`, `side`, `asset_class`, and `after_order_id` /
/// `before_order_id` (exclusive; not with each other nor with `after` / `until`).
/// A bad parameter is 422 naming it.
pub async fn list_orders(
    State(app): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let q = OrderQuery::parse(&query)?;
    let mut orders = app.lock().listed();
    orders.sort_by(|a, b| (a.order.created_ms, &a.order.id).cmp(&(b.order.created_ms, &b.order.id)));
    let position = |id: &str, name: &str| {
        orders
            .iter()
            .position(|o| o.order.id == id)
            .ok_or_else(|| ApiError::unprocessable(format!("{name} `{id}` is not an order of this account")))
    };
    let (from, to) = match (&q.after_order, &q.before_order) {
        (Some(id), _) => (position(id, "after_order_id")? + 1, orders.len()),
        (_, Some(id)) => (0, position(id, "before_order_id")?),
        _ => (0, orders.len()),
    };
    let mut chosen: Vec<&crate::state::OrderView> = orders[from..to].iter().filter(|o| q.wants(o)).collect();
    if q.descending {
        chosen.reverse();
    }
    Ok(Json(Value::Array(
        chosen.into_iter().take(q.limit).map(order_json).collect(),
    )))
}
