//! The one place errors become HTTP responses. Every refusal a trader can cause is a
//! 4xx with a specific, actionable `detail` (SPEC §3); a 5xx only when a dependency
//! is down (503, naming it) or on a bug (500).

use serde::Serialize;

use crate::domain::{FieldError, OrderError};
use crate::ports::{QueueError, StoreError};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Errors of the HTTP layer itself, plus everything below it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("The request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("The request body is {size} bytes; the limit is {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("Order {0} was not found")]
    OrderNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{}", .0.message)]
    BadParameter(FieldError),
    #[error("Idempotency-Key {0} was already used with a different request body; use a new key for a different order")]
    IdempotencyMismatch(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(
        "{service} is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit) ({detail})"
    )]
    Unavailable { service: &'static str, detail: String },
    #[error("Internal error; reference {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable { service, detail } => Self::Unavailable { service, detail },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        Self::Unavailable {
            service: "SQS",
            detail: e.to_string(),
        }
    }
}

/// An RFC 9457 problem document, with its status and extra headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// A refused submit's audit chain: `GET /orders/{audit_id}/audit` returns its one
    /// SUBMIT_REJECTED record (no order exists under this id). Absent on other problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    fn new(status: u16, slug: &str, title: &'static str, detail: String) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title,
            status,
            detail,
            errors: Vec::new(),
            audit_id: None,
            retry_after_secs: None,
        }
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl From<&ApiError> for Problem {
    fn from(e: &ApiError) -> Self {
        let d = e.to_string();
        match e {
            ApiError::MalformedJson(_) => Problem::new(400, "malformed-json", "Malformed JSON", d),
            ApiError::BodyTooLarge { .. } => Problem::new(413, "body-too-large", "Request body too large", d),
            ApiError::Unauthorized(_) => Problem::new(401, "unauthorized", "Unauthorized", d),
            ApiError::OrderNotFound(_) | ApiError::NotFound(_) => Problem::new(404, "not-found", "Not found", d),
            ApiError::BadParameter(field) => {
                let mut p = Problem::new(400, "bad-parameter", "Invalid request parameter", d);
                p.errors = vec![field.clone()];
                p
            }
            ApiError::IdempotencyMismatch(_) => Problem::new(
                422,
                "idempotency-key-reused",
                "Idempotency key reused with another request",
                d,
            ),
            ApiError::Conflict(_) => Problem::new(409, "conflict", "Conflict", d),
            ApiError::Order(o) => order_problem(o),
            ApiError::Unavailable { service, .. } => Problem::new(
                503,
                "dependency-unavailable",
                "Dependency unavailable",
                format!(
                    "{service} is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit)"
                ),
            ),
            ApiError::Internal(_) => Problem::new(500, "internal", "Internal error", d),
        }
    }
}

fn order_problem(e: &OrderError) -> Problem {
    let d = e.to_string();
    match e {
        OrderError::Validation(errors) => {
            let mut p = Problem::new(422, "validation-error", "The order is invalid", d);
            p.errors = errors.clone();
            p
        }
        OrderError::InsufficientFunds { .. } => Problem::new(422, "insufficient-funds", "Insufficient funds", d),
        OrderError::InsufficientPosition { .. } => {
            Problem::new(422, "insufficient-position", "Insufficient position", d)
        }
        OrderError::MaxNotional { .. } => Problem::new(422, "order-notional-limit", "Order notional limit exceeded", d),
        OrderError::MaxOpenOrders { .. } => Problem::new(422, "open-orders-limit", "Open orders limit reached", d),
        OrderError::DailyLossLimit { .. } => Problem::new(422, "daily-loss-limit", "Daily loss limit reached", d),
        OrderError::NoReferencePrice { .. } => Problem::new(422, "no-reference-price", "Order cannot be priced", d),
        OrderError::NoAccount => Problem::new(422, "no-account", "No trading account", d),
        OrderError::RateLimited { retry_after_secs, .. } => {
            let mut p = Problem::new(429, "rate-limited", "Rate limit exceeded", d);
            p.retry_after_secs = Some(*retry_after_secs);
            p
        }
        OrderError::CannotCancel { .. } => Problem::new(409, "order-not-cancellable", "Order cannot be cancelled", d),
        OrderError::Overfill { .. } | OrderError::BadFill | OrderError::Transition(_) => {
            Problem::new(409, "invalid-state", "Order state conflict", d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus;

    #[test]
    fn validation_errors_list_every_field() {
        let e = ApiError::from(OrderError::Validation(vec![
            FieldError::new("quantity", "Quantity must be greater than 0"),
            FieldError::new("side", "Side must be one of: buy, sell"),
        ]));
        let p = Problem::from(&e);
        assert_eq!(p.status, 422);
        let body: serde_json::Value = serde_json::from_str(&p.body()).unwrap();
        assert_eq!(body["type"], "/problems/validation-error");
        assert_eq!(body["errors"][0]["field"], "quantity");
        assert_eq!(body["errors"][0]["message"], "Quantity must be greater than 0");
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn statuses_follow_the_spec() {
        let cases: Vec<(ApiError, u16)> = vec![
            (ApiError::MalformedJson("eof".into()), 400),
            (
                ApiError::BodyTooLarge {
                    size: 70_000,
                    limit: 65_536,
                },
                413,
            ),
            (ApiError::Unauthorized("Missing bearer token".into()), 401),
            (ApiError::OrderNotFound("01J".into()), 404),
            (
                ApiError::from(OrderError::CannotCancel {
                    status: OrderStatus::Filled,
                }),
                409,
            ),
            (ApiError::IdempotencyMismatch("k".into()), 422),
            (
                ApiError::from(OrderError::RateLimited {
                    limit: 100,
                    retry_after_secs: 12,
                }),
                429,
            ),
            (
                ApiError::from(StoreError::Unavailable {
                    service: "DynamoDB",
                    detail: "timeout".into(),
                }),
                503,
            ),
            (ApiError::from(StoreError::Corrupt("x".into())), 500),
        ];
        for (e, status) in cases {
            assert_eq!(Problem::from(&e).status, status, "{e:?}");
        }
        let p = Problem::from(&ApiError::from(OrderError::RateLimited {
            limit: 100,
            retry_after_secs: 12,
        }));
        assert_eq!(p.retry_after_secs, Some(12));
        assert_eq!(
            p.detail,
            "Rate limit of 100 orders per minute exceeded; retry after 12 s"
        );
        let p = Problem::from(&ApiError::from(StoreError::Unavailable {
            service: "DynamoDB",
            detail: "t".into(),
        }));
        assert_eq!(
            p.detail,
            "DynamoDB is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit)"
        );
    }
}
