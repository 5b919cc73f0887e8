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
use shared::adapters::venue::{BookOrder, NewBookOrder};
use shared::domain::{OrderType, Side, Symbol, TimeInForce};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Alpaca caps client order ids at 128 characters.
pub const MAX_CLIENT_ORDER_ID: usize = 128;

/// An error answer in Alpaca's shape; the code is the status followed by zeros, as
/// Alpaca's codes are (`42210000`).
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
        let code = u64::from(self.status.as_u16()) * 100_000;
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

fn timestamp(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn dec(value: Option<Decimal>) -> Value {
    value.map_or(Value::Null, |d| Value::String(d.normalize().to_string()))
}

/// The order object, as Alpaca returns it (plus `reason`, which Alpaca lacks).
pub fn order_json(o: &BookOrder) -> Value {
    use shared::ports::VenueStatus as S;
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
    json!({
        "id": o.id,
        "client_order_id": o.client_order_id,
        "created_at": timestamp(o.created_ms),
        "updated_at": timestamp(o.updated_ms),
        "submitted_at": timestamp(o.created_ms),
        "filled_at": filled_at,
        "expired_at": at(S::Expired),
        "canceled_at": at(S::Canceled),
        "failed_at": Value::Null,
        "asset_class": "us_equity",
        "symbol": o.symbol,
        "qty": dec(Some(o.qty)),
        "filled_qty": dec(Some(o.filled_qty())),
        "filled_avg_price": dec(o.average_price()),
        "order_class": "simple",
        "order_type": o.order_type.as_str(),
        "type": o.order_type.as_str(),
        "side": o.side.as_str(),
        "time_in_force": o.time_in_force.as_str(),
        "limit_price": dec(o.limit_price),
        "stop_price": dec(o.stop_price),
        "status": o.status.as_alpaca(),
        "extended_hours": false,
        "reason": o.reason,
    })
}

/// The order object with the simulator's own detail: each fill and the stop trigger.
pub fn sim_order_json(o: &BookOrder) -> Value {
    let mut v = order_json(o);
    if let Value::Object(map) = &mut v {
        let fills = o
            .fills
            .iter()
            .map(|f| json!({"qty": dec(Some(f.qty)), "price": dec(Some(f.price)), "at": timestamp(f.at_ms)}))
            .collect();
        map.insert("fills".into(), Value::Array(fills));
        map.insert("triggered".into(), Value::Bool(o.triggered));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<NewBookOrder, ApiError> {
        parse_order(body.as_bytes(), || "generated".into())
    }

    #[test]
    fn orders_parse_with_decimals_as_strings_or_numbers() {
        let a = parse(r#"{"symbol":"AAPL","qty":"2.5","side":"buy","type":"limit","time_in_force":"gtc","limit_price":"150.25","client_order_id":"c1"}"#).unwrap();
        let b = parse(r#"{"symbol":"AAPL","qty":2.5,"side":"buy","type":"limit","time_in_force":"gtc","limit_price":150.25,"client_order_id":"c1"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.limit_price, Decimal::from_str("150.25").ok());
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
        for (body, status) in cases {
            let e = parse(body).expect_err(body);
            assert_eq!(e.status.as_u16(), status, "{body}: {}", e.message);
        }
    }
}
