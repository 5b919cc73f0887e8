// Long because: Alpaca v2's order and error JSON as the simulator speaks it, with its tests (a third of the file).
//! Alpaca Trading API v2 JSON as the simulator speaks it: the order request it
//! accepts (decimals as strings or numbers), the order object it returns (decimals
//! as strings, like Alpaca) and Alpaca's error body `{"code": ..., "message": ...}`.
//! Written independently of the adapter's parser, so the contract tests compare two
//! readings of the API rather than one type with itself.

use std::str::FromStr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use shared::adapters::venue::NewBookOrder;
use shared::domain::{OrderType, Side, Symbol, TimeInForce};
use time::OffsetDateTime;

use crate::state::{Execution, OrderView, TradeUpdate};

/// Alpaca caps client order ids at 128 characters.
pub const MAX_CLIENT_ORDER_ID: usize = 128;

/// The document: quantities "can take up to 9 decimal points".
const MAX_QTY_PLACES: u32 = 9;

/// An error answer in Alpaca's shape `{"code", "message"}`; the code is the status
/// followed by `10000`, as Alpaca's are (403 `40310000` insufficient buying power,
/// 404 `40410000`, 422 `42210000`, 429 `42910000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = u64::from(self.status.as_u16()) * 100_000 + 10_000;
        (self.status, Json(json!({"code": code, "message": self.message}))).into_response()
    }
}

fn decimal(body: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, ApiError> {
    let text = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "{field} must be a decimal, got {other}"
            )));
        }
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| ApiError::unprocessable(format!("{field} `{text}` is not a decimal")))
}

fn text<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(ApiError::unprocessable(format!(
            "{field} must be a string, got {other}"
        ))),
    }
}

fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    text(body, field)?.ok_or_else(|| ApiError::unprocessable(format!("{field} is required")))
}

fn positive(body: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, ApiError> {
    match decimal(body, field)? {
        Some(v) if v <= Decimal::ZERO => Err(ApiError::unprocessable(format!("{field} must be > 0"))),
        other => Ok(other),
    }
}

/// Reads a `PATCH /v2/orders/{order_id}` body (`PatchOrderRequest`): `qty`,
/// `limit_price`, `stop_price`, `time_in_force`, `client_order_id`, each optional.
pub fn parse_replacement(raw: &[u8]) -> Result<crate::state::Replacement, ApiError> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("request body is not valid JSON: {e}")))?;
    let Value::Object(body) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object",
        ));
    };
    let time_in_force = text(&body, "time_in_force")?
        .map(|tif| {
            TimeInForce::from_wire(tif).ok_or_else(|| ApiError::unprocessable(format!("invalid time_in_force `{tif}`")))
        })
        .transpose()?;
    let qty = positive(&body, "qty")?;
    if qty.is_some_and(|q| q.normalize().scale() > MAX_QTY_PLACES) {
        return Err(ApiError::unprocessable(format!(
            "qty has more than {MAX_QTY_PLACES} decimal places"
        )));
    }
    Ok(crate::state::Replacement {
        qty,
        limit_price: positive(&body, "limit_price")?,
        stop_price: positive(&body, "stop_price")?,
        time_in_force,
        client_order_id: text(&body, "client_order_id")?.map(str::to_owned),
    })
}

/// Reads a `POST /v2/orders` body. Malformed JSON is 400; a well-formed order the
/// venue will not take is 422, with a message naming the field.
pub fn parse_order(raw: &[u8], generated_client_id: impl FnOnce() -> String) -> Result<NewBookOrder, ApiError> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("request body is not valid JSON: {e}")))?;
    let Value::Object(body) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object",
        ));
    };
    let symbol = required(&body, "symbol")?;
    Symbol::parse(symbol).map_err(|_| ApiError::unprocessable(format!("invalid symbol `{symbol}`")))?;
    let qty = positive(&body, "qty")?.ok_or_else(|| ApiError::unprocessable("qty is required"))?;
    let side = required(&body, "side")?;
    let side = Side::from_wire(side).ok_or_else(|| ApiError::unprocessable(format!("invalid side `{side}`")))?;
    let ty = required(&body, "type")?;
    let order_type =
        OrderType::from_wire(ty).ok_or_else(|| ApiError::unprocessable(format!("invalid order type `{ty}`")))?;
    let tif = required(&body, "time_in_force")?;
    let time_in_force =
        TimeInForce::from_wire(tif).ok_or_else(|| ApiError::unprocessable(format!("invalid time_in_force `{tif}`")))?;
    let limit_price = positive(&body, "limit_price")?;
    let stop_price = positive(&body, "stop_price")?;
    for (field, price) in [("limit_price", limit_price), ("stop_price", stop_price)] {
        if let Some(p) = price {
            // SEC Rule 612: whole cents at or above $1, at most 4 dp below.
            let places = if p >= Decimal::ONE { 2 } else { 4 };
            if p.normalize().scale() > places {
                return Err(ApiError::unprocessable(format!(
                    "invalid {field} {p}. sub-penny increment does not fulfill minimum pricing criteria"
                )));
            }
        }
    }
    if qty.normalize().scale() > MAX_QTY_PLACES {
        return Err(ApiError::unprocessable(format!(
            "qty {qty} has more than {MAX_QTY_PLACES} decimal places"
        )));
    }
    if qty.fract() != Decimal::ZERO && (order_type != OrderType::Market || time_in_force != TimeInForce::Day) {
        return Err(ApiError::unprocessable(
            "fractional orders must be market orders with time_in_force day",
        ));
    }
    match (order_type.needs_limit_price(), limit_price) {
        (true, None) => return Err(ApiError::unprocessable("limit_price is required for limit orders")),
        (false, Some(_)) => {
            return Err(ApiError::unprocessable(format!(
                "limit_price is not allowed for {ty} orders"
            )));
        }
        _ => {}
    }
    match (order_type.needs_stop_price(), stop_price) {
        (true, None) => return Err(ApiError::unprocessable("stop_price is required for stop orders")),
        (false, Some(_)) => {
            return Err(ApiError::unprocessable(format!(
                "stop_price is not allowed for {ty} orders"
            )));
        }
        _ => {}
    }
    let client_order_id = match text(&body, "client_order_id")? {
        Some(id) if id.is_empty() || id.chars().count() > MAX_CLIENT_ORDER_ID => {
            return Err(ApiError::unprocessable("client_order_id must be 1 to 128 characters"));
        }
        Some(id) => id.to_owned(),
        None => generated_client_id(),
    };
    Ok(NewBookOrder {
        client_order_id,
        symbol: symbol.to_owned(),
        side,
        order_type,
        time_in_force,
        qty,
        limit_price,
        stop_price,
    })
}

/// RFC 3339 in UTC with microseconds, as Alpaca writes its times
/// (`2022-02-02T18:55:09.981482Z`): fixed width, so times sort as text too.
fn timestamp(ms: i64) -> Value {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .map_or(Value::Null, Value::String)
}

fn dec(value: Option<Decimal>) -> Value {
    value.map_or(Value::Null, |d| Value::String(d.normalize().to_string()))
}

fn timestamp_opt(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, timestamp)
}

/// The order object with the fields of the document's `Order` schema ("Trading
/// API" 2.0.1), as Alpaca returns them for a simple US equity order; `expires_at`
/// is left out (the document does not let it be null, and it is not required).
pub fn order_json(v: &OrderView) -> Value {
    use shared::ports::VenueStatus as S;
    let o = &v.order;
    let at = |status: S| {
        if o.status == status {
            timestamp(o.updated_ms)
        } else {
            Value::Null
        }
    };
    let filled_at = o
        .fills
        .last()
        .filter(|_| o.status == S::Filled)
        .map_or(Value::Null, |f| timestamp(f.at_ms));
    let filled_qty: Decimal = o.fills.iter().map(|f| f.qty).sum();
    let notional: Decimal = o.fills.iter().map(|f| f.qty * f.price).sum();
    let average = (!filled_qty.is_zero()).then(|| notional / filled_qty);
    let intent = match o.side {
        shared::domain::Side::Buy => "buy_to_open",
        shared::domain::Side::Sell => "sell_to_close",
    };
    json!({
        "id": o.id,
        "client_order_id": o.client_order_id,
        "created_at": timestamp(o.created_ms),
        "updated_at": timestamp(o.updated_ms),
        "submitted_at": timestamp(o.created_ms),
        "filled_at": filled_at,
        "expired_at": at(S::Expired),
        "canceled_at": at(S::Canceled),
        "failed_at": at(S::Rejected),
        "replaced_at": timestamp_opt(v.meta.replaced_at_ms),
        "replaced_by": v.meta.replaced_by,
        "replaces": v.meta.replaces,
        "asset_id": asset_id(&o.symbol),
        "symbol": o.symbol,
        "asset_class": "us_equity",
        "notional": Value::Null,
        "qty": dec(Some(o.qty)),
        "filled_qty": dec(Some(filled_qty)),
        "filled_avg_price": dec(average),
        "order_class": "simple",
        "order_type": o.order_type.as_str(),
        "type": o.order_type.as_str(),
        "side": o.side.as_str(),
        "position_intent": intent,
        "time_in_force": o.time_in_force.as_str(),
        "limit_price": dec(o.limit_price),
        "stop_price": dec(o.stop_price),
        "status": o.status.as_alpaca(),
        "extended_hours": false,
        "legs": Value::Null,
        "trail_percent": Value::Null,
        "trail_price": Value::Null,
        "hwm": Value::Null,
        "ratio_qty": Value::Null,
    })
}

/// A stable UUID-shaped asset id per symbol (Alpaca's asset ids are UUIDs).
fn asset_id(symbol: &str) -> String {
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let l = h.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
    let bits = (u128::from(h) << 64 | u128::from(l)) & !(0xF000u128 << 64) & !(0xC000u128 << 48);
    let x = format!("{:032x}", bits | (0x4000u128 << 64) | (0x8000u128 << 48));
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// The order object with the simulator's own detail: each fill with its execution
/// id, the stop trigger and why it closed.
pub fn sim_order_json(v: &OrderView) -> Value {
    let mut out = order_json(v);
    let o = &v.order;
    if let Value::Object(map) = &mut out {
        let fills = o
            .fills
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({"qty": dec(Some(f.qty)), "price": dec(Some(f.price)), "at": timestamp(f.at_ms),
                       "execution_id": v.meta.executions.get(i)})
            })
            .collect();
        map.insert("fills".into(), Value::Array(fills));
        map.insert("triggered".into(), Value::Bool(o.triggered));
        map.insert("reason".into(), json!(o.reason));
    }
    out
}

/// One FILL activity, as the document's `TradingActivities` schema has it.
pub fn activity_json(e: &Execution) -> Value {
    json!({
        "activity_type": "FILL",
        "id": e.activity_id,
        "cum_qty": dec(Some(e.cum_qty)),
        "leaves_qty": dec(Some(e.leaves_qty)),
        "price": dec(Some(e.price)),
        "qty": dec(Some(e.qty)),
        "side": e.side.as_str(),
        "symbol": e.symbol,
        "transaction_time": timestamp(e.at_ms),
        "order_id": e.order_id,
        "type": if e.leaves_qty.is_zero() { "fill" } else { "partial_fill" },
        "order_status": e.order_status.as_alpaca(),
    })
}

/// A `trade_updates` message as Alpaca streams it on `/stream`: fills carry the
/// execution's id, price, quantity and the position after it.
pub fn trade_update_json(u: &TradeUpdate) -> Value {
    let mut data = json!({
        "event": u.event,
        "timestamp": timestamp(u.at_ms),
        "order": order_json(&u.view),
    });
    if let (Some(e), Value::Object(map)) = (&u.execution, &mut data) {
        map.insert("execution_id".into(), json!(e.execution_id));
        map.insert("price".into(), dec(Some(e.price)));
        map.insert("qty".into(), dec(Some(e.qty)));
        map.insert("position_qty".into(), dec(Some(e.position_qty)));
    }
    json!({"stream": "trade_updates", "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<NewBookOrder, ApiError> {
        parse_order(body.as_bytes(), || "generated".into())
    }

    #[test]
    fn orders_parse_with_decimals_as_strings_or_numbers() {
        let a = parse(r#"{"symbol":"AAPL","qty":"2","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"150.25","client_order_id":"c1"}"#).unwrap();
        let b = parse(r#"{"symbol":"AAPL","qty":2,"side":"buy","type":"limit","time_in_force":"gtc","limit_price":150.25,"client_order_id":"c1"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.limit_price, Decimal::from_str("150.25").ok());
        // Fractional quantities: market orders for the day only, as Alpaca takes them.
        let f = parse(r#"{"symbol":"AAPL","qty":"2.5","side":"buy","type":"market","time_in_force":"day"}"#).unwrap();
        let g = parse(r#"{"symbol":"AAPL","qty":2.5,"side":"buy","type":"market","time_in_force":"day"}"#).unwrap();
        assert_eq!((f.qty, g.qty), (Decimal::new(25, 1), Decimal::new(25, 1)));
        let c = parse(r#"{"symbol":"AAPL","qty":"1","side":"sell","type":"market","time_in_force":"day"}"#).unwrap();
        assert_eq!(c.client_order_id, "generated");
    }

    #[test]
    fn bad_input_is_400_or_422_never_a_panic() {
        let cases = [
            ("", 400),
            ("{", 400),
            ("[1]", 400),
            (
                r#"{"symbol":"aapl","qty":"1","side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"0","side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"-1","side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"x","side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"stop","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"1","side":"hold","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"opg"}"#,
                422,
            ),
            (
                r#"{"symbol":7,"qty":"1","side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
            (
                r#"{"symbol":"AAPL","qty":[],"side":"buy","type":"market","time_in_force":"day"}"#,
                422,
            ),
        ];
        let venue_rules = [
            // Sub-penny prices: 2 dp at or above $1, 4 dp below (SEC Rule 612).
            r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"150.255"}"#,
            r#"{"symbol":"AAPL","qty":"1","side":"sell","type":"stop","time_in_force":"gtc","stop_price":"1.001"}"#,
            r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"0.12345"}"#,
            // Fractional quantities only for market orders for the day.
            r#"{"symbol":"AAPL","qty":"1.5","side":"buy","type":"limit","time_in_force":"day","limit_price":"150"}"#,
            r#"{"symbol":"AAPL","qty":"1.5","side":"buy","type":"market","time_in_force":"gtc"}"#,
            r#"{"symbol":"AAPL","qty":"0.0000000001","side":"buy","type":"market","time_in_force":"day"}"#,
        ];
        for body in venue_rules {
            let e = parse(body).expect_err(body);
            assert_eq!(e.status.as_u16(), 422, "{body}: {}", e.message);
        }
        for ok in [
            r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"0.1234"}"#,
            r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"150.10"}"#,
        ] {
            parse(ok).expect(ok);
        }
        for (body, status) in cases {
            let e = parse(body).expect_err(body);
            assert_eq!(e.status.as_u16(), status, "{body}: {}", e.message);
        }
    }
}
