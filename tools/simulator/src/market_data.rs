//! Alpaca's Market Data API subset the submit function uses ("Market Data API" 1.1,
//! kept in `spec/market-data-api.json`): `GET /v2/stocks/{symbol}/trades/latest`
//! (`StockLatestTradeSingle`), answered from the price path, so the latest trade moves
//! with ticks and `/_sim/prices`. Its own per-key limit at Alpaca is not the trading
//! API's: these calls count against `market_data_rate_limit_per_min` (Alpaca's Basic
//! plan: 200 a minute), apart from `rate_limit_per_min`, and answer 429 once it is
//! spent, with the document's `X-RateLimit-*` headers on every answer; they meet no
//! fault knob. Errors are the Market Data API's `{"message"}` (its document gives the
//! error statuses without a body schema): 401 without the auth headers, 400 for a
//! symbol that is not a valid ticker, or for a `feed` the document does not name.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::domain::Symbol;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::state::Rate;

/// The feeds the document names (`stock_latest_feed`).
const FEEDS: [&str; 6] = ["sip", "iex", "delayed_sip", "boats", "overnight", "otc"];

/// Alpaca's `X-RateLimit-*` headers, which the document gives on the 200, 400 and
/// 429: the key's quota as counted (with no limit set, a full quota of 200 that resets
/// at the next minute).
fn rate_headers(rate: Option<Rate>) -> [(&'static str, String); 3] {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let rate = rate.unwrap_or(Rate {
        limit: 200,
        remaining: 200,
        reset: now - now.rem_euclid(60) + 60,
        allowed: true,
    });
    [
        ("x-ratelimit-limit", rate.limit.to_string()),
        ("x-ratelimit-remaining", rate.remaining.to_string()),
        ("x-ratelimit-reset", rate.reset.to_string()),
    ]
}

fn error(status: StatusCode, rate: Option<Rate>, message: String) -> Response {
    (status, rate_headers(rate), axum::Json(json!({ "message": message }))).into_response()
}

#[derive(serde::Deserialize)]
pub struct LatestQuery {
    feed: Option<String>,
    currency: Option<String>,
}

/// `GET /v2/stocks/{symbol}/trades/latest` → `{"symbol", "trade": {"t", "x", "p", "s",
/// "c", "i", "z"}}`; the price is written as a JSON number by its exact decimal text.
pub async fn latest_trade(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
    Query(query): Query<LatestQuery>,
) -> Response {
    let key = headers
        .get("apca-api-key-id")
        .filter(|_| headers.contains_key("apca-api-secret-key"));
    let Some(key) = key else {
        return error(StatusCode::UNAUTHORIZED, None, "request is not authorized".into());
    };
    let rate = app
        .lock()
        .market_data_rate(&String::from_utf8_lossy(key.as_bytes()), crate::state::now_ms());
    if rate.is_some_and(|r| !r.allowed) {
        return error(StatusCode::TOO_MANY_REQUESTS, rate, "too many requests".into());
    }
    if Symbol::parse(&symbol).is_err() {
        return error(StatusCode::BAD_REQUEST, rate, format!("invalid symbol: {symbol}"));
    }
    if let Some(feed) = query.feed.as_deref().filter(|f| !FEEDS.contains(f)) {
        return error(StatusCode::BAD_REQUEST, rate, format!("invalid feed: {feed}"));
    }
    if let Some(currency) = query.currency.as_deref().filter(|c| *c != "USD") {
        return error(StatusCode::BAD_REQUEST, rate, format!("invalid currency: {currency}"));
    }
    let (price, ticks) = app.lock().last_trade(&symbol);
    let at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    let body = format!(
        r#"{{"symbol":{},"trade":{{"t":{},"x":"V","p":{},"s":100,"c":["@"],"i":{},"z":"C"}}}}"#,
        json!(symbol),
        json!(at),
        price.normalize(),
        ticks + 1
    );
    (rate_headers(rate), [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
