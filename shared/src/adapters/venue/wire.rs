//! Alpaca Trading API v2 JSON, as this service sends and reads it: the order
//! request, the order object and the error body. Only the adapter sees these types.
//!
//! Alpaca sends decimals as strings (`"filled_qty": "5"`); numbers are accepted too,
//! read through their literal text so nothing passes through a float.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Order, OrderId, Side, Timestamp};
use crate::ports::{VenueExecution, VenueOrder, VenueOrderRef, VenueStatus};

/// `POST /v2/orders` body. Decimals go as strings, as Alpaca documents them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderRequest {
    pub symbol: String,
    pub qty: String,
    pub side: &'static str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    pub time_in_force: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<String>,
    pub client_order_id: String,
}

impl From<&Order> for OrderRequest {
    /// A market or stop buy goes as a limit or stop limit (`super::protect`).
    fn from(order: &Order) -> Self {
        let terms = super::protect::venue_terms(order);
        Self {
            symbol: order.symbol.to_string(),
            qty: order.quantity.to_string(),
            side: order.side.as_str(),
            order_type: terms.order_type.as_str(),
            time_in_force: order.time_in_force.as_str(),
            limit_price: terms.limit_price.map(|p| p.to_string()),
            stop_price: order.stop_price.map(|p| p.to_string()),
            client_order_id: order.order_id.to_string(),
        }
    }
}

/// `PATCH /v2/orders/{order_id}` body (`PatchOrderRequest`): only the changed fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplaceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<&'static str>,
    pub client_order_id: String,
}

impl From<&crate::ports::VenueReplace> for ReplaceRequest {
    fn from(r: &crate::ports::VenueReplace) -> Self {
        Self {
            qty: r.qty.map(|q| q.to_string()),
            limit_price: r.limit_price.map(|p| p.to_string()),
            stop_price: r.stop_price.map(|p| p.to_string()),
            time_in_force: r.time_in_force.map(|t| t.as_str()),
            client_order_id: r.client_order_id.to_string(),
        }
    }
}

/// The fields of Alpaca's order object this service uses; the rest are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderResponse {
    pub id: String,
    pub client_order_id: String,
    pub status: String,
    #[serde(default, deserialize_with = "decimal_or_null")]
    pub qty: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_or_null")]
    pub filled_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_or_null")]
    pub filled_avg_price: Option<Decimal>,
    /// Not Alpaca's: a venue double may say why it cancelled, expired or rejected.
    #[serde(default)]
    pub reason: Option<String>,
    /// Alpaca's: the order that replaced this one (status `replaced`).
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// Alpaca's: the order this one replaced.
    #[serde(default)]
    pub replaces: Option<String>,
}

impl From<OrderResponse> for VenueOrderRef {
    fn from(r: OrderResponse) -> Self {
        VenueOrderRef {
            venue_order_id: r.id,
            client_order_id: r.client_order_id,
            status: VenueStatus::from_alpaca(&r.status),
            filled_quantity: r.filled_qty.unwrap_or_default(),
            replaced_by: r.replaced_by,
            replaces: r.replaces,
        }
    }
}

impl TryFrom<OrderResponse> for VenueOrder {
    type Error = String;

    fn try_from(r: OrderResponse) -> Result<Self, String> {
        // Every order this service sends uses its order id as client order id; any
        // other id is not ours and must not be mistaken for one of ours.
        let client_order_id = OrderId::parse(&r.client_order_id)
            .map_err(|_| format!("client_order_id `{}` is not an order id of ours", r.client_order_id))?;
        Ok(VenueOrder {
            venue_order_id: r.id,
            client_order_id,
            status: VenueStatus::from_alpaca(&r.status),
            quantity: r.qty,
            filled_quantity: r.filled_qty.unwrap_or_default(),
            average_fill_price: r.filled_avg_price,
            // A replaced order also names its replacement in its reason, for people.
            reason: r
                .reason
                .or_else(|| r.replaced_by.as_ref().map(|id| format!("replaced by venue order {id}"))),
            replaced_by: r.replaced_by,
        })
    }
}

/// A FILL activity of `GET /v2/account/activities/FILL` (the document's
/// `TradingActivities`): the fields this service books.
#[derive(Clone, Debug, Deserialize)]
pub struct FillActivity {
    pub id: String,
    #[serde(default)]
    pub activity_type: Option<String>,
    pub order_id: String,
    pub symbol: String,
    pub side: String,
    #[serde(deserialize_with = "decimal_or_null")]
    pub price: Option<Decimal>,
    #[serde(deserialize_with = "decimal_or_null")]
    pub qty: Option<Decimal>,
    #[serde(deserialize_with = "decimal_or_null")]
    pub cum_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_or_null")]
    pub leaves_qty: Option<Decimal>,
    pub transaction_time: String,
}

impl TryFrom<FillActivity> for VenueExecution {
    type Error = String;

    fn try_from(a: FillActivity) -> Result<Self, String> {
        let bad = |what: &str| format!("FILL activity {}: {what}", a.id);
        if let Some(kind) = a.activity_type.as_deref().filter(|k| *k != "FILL") {
            return Err(bad(&format!("activity_type `{kind}` is not FILL")));
        }
        let side = match a.side.as_str() {
            "buy" => Side::Buy,
            // Alpaca reports a short sale as `sell_short`: a sell all the same.
            "sell" | "sell_short" => Side::Sell,
            other => return Err(bad(&format!("side `{other}` is not buy or sell"))),
        };
        let price = a
            .price
            .filter(|p| *p > Decimal::ZERO)
            .ok_or_else(|| bad("no positive price"))?;
        let qty = a
            .qty
            .filter(|q| *q > Decimal::ZERO)
            .ok_or_else(|| bad("no positive qty"))?;
        let cum_qty = a
            .cum_qty
            .filter(|c| *c >= qty)
            .ok_or_else(|| bad("cum_qty missing or below qty"))?;
        let transaction_time = Timestamp::parse(&a.transaction_time)
            .map_err(|e| bad(&format!("transaction_time `{}`: {e}", a.transaction_time)))?;
        if a.order_id.is_empty() {
            return Err(bad("no order_id"));
        }
        Ok(VenueExecution {
            execution_id: a.id,
            venue_order_id: a.order_id,
            client_order_id: None,
            symbol: a.symbol,
            side,
            price,
            qty,
            cum_qty,
            leaves_qty: a.leaves_qty.unwrap_or_default(),
            transaction_time,
        })
    }
}

/// Alpaca's error body: `{"code": 40310000, "message": "..."}`.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: Option<String>,
}

/// The venue's message in an error body, or the body itself (shortened) when it is
/// not Alpaca's error JSON.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(ApiError { message: Some(m) }) = serde_json::from_slice::<ApiError>(body) {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no message".to_owned();
    }
    text.chars().take(200).collect()
}

fn decimal_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    parse_decimal(&value).map_err(serde::de::Error::custom)
}

/// A decimal from a JSON string or number (by its literal text), or null.
pub fn parse_decimal(value: &serde_json::Value) -> Result<Option<Decimal>, String> {
    let text = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(s) if s.trim().is_empty() => return Ok(None),
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        other => return Err(format!("expected a decimal, got {other}")),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| format!("`{text}` is not a decimal"))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
