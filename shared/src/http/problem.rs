//! The one place errors become HTTP responses. Every refusal a trader can cause is a
//! 4xx with a specific, actionable `detail` (SPEC §3); a 5xx only when a dependency
//! is down (503, naming it) or on a bug (500).

use serde::Serialize;

use crate::app::AppError;
use crate::domain::{FieldError, OrderError};
use crate::ports::StoreError;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Errors of the HTTP layer itself (who is calling, which route), and every use-case
/// error below it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    /// A valid caller without the right to this route (an operator route, a trader's
    /// token).
    #[error("{0}")]
    Forbidden(String),
    /// A route the function does not serve.
    #[error("{0}")]
    NotFound(String),
    /// The request event itself could not be read.
    #[error("The request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        Self::App(AppError::Order(e))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::App(AppError::from(e))
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
            ApiError::Unauthorized(_) => Problem::new(401, "unauthorized", "Unauthorized", d),
            ApiError::Forbidden(_) => Problem::new(403, "forbidden", "Forbidden", d),
            ApiError::NotFound(_) => Problem::new(404, "not-found", "Not found", d),
            ApiError::MalformedJson(_) => Problem::new(400, "malformed-json", "Malformed JSON", d),
            ApiError::App(app) => Problem::from(app),
        }
    }
}

impl From<&AppError> for Problem {
    fn from(e: &AppError) -> Self {
        let d = e.to_string();
        match e {
            AppError::MalformedJson(_) => Problem::new(400, "malformed-json", "Malformed JSON", d),
            AppError::BodyTooLarge { .. } => Problem::new(413, "body-too-large", "Request body too large", d),
            AppError::OrderNotFound(_)
            | AppError::AccountNotFound
            | AppError::TraderNotFound(_)
            | AppError::PositionNotFound(_) => Problem::new(404, "not-found", "Not found", d),
            AppError::InvalidParameter(field) => {
                let mut p = Problem::new(400, "bad-parameter", "Invalid request parameter", d);
                p.errors = vec![field.clone()];
                p
            }
            AppError::IdempotencyKeyReused(_) => Problem::new(
                422,
                "idempotency-key-reused",
                "Idempotency key reused with another request",
                d,
            ),
            AppError::AccountContended | AppError::KeyInProgress | AppError::OrderContended(_) => {
                Problem::new(409, "conflict", "Conflict", d)
            }
            AppError::Order(o) => Problem::from(o),
            AppError::Unavailable { service, .. } => Problem::new(
                503,
                "dependency-unavailable",
                "Dependency unavailable",
                format!(
                    "{service} is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit)"
                ),
            ),
            AppError::Internal(_) => Problem::new(500, "internal", "Internal error", d),
        }
    }
}

impl From<&OrderError> for Problem {
    fn from(e: &OrderError) -> Self {
        order_problem(e)
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
        OrderError::NotionalPerMinute { .. } => Problem::new(
            422,
            "notional-per-minute-limit",
            "Notional per minute limit exceeded",
            d,
        ),
        OrderError::MaxOpenOrders { .. } => Problem::new(422, "open-orders-limit", "Open orders limit reached", d),
        OrderError::DailyLossLimit { .. } => Problem::new(422, "daily-loss-limit", "Daily loss limit reached", d),
        OrderError::NoReferencePrice { .. } => Problem::new(422, "no-reference-price", "Order cannot be priced", d),
        OrderError::NoAccount => Problem::new(422, "no-account", "No trading account", d),
        OrderError::RestrictedSymbol { .. } | OrderError::RestrictedForAccount { .. } => {
            Problem::new(422, "restricted-symbol", "Restricted symbol", d)
        }
        OrderError::MaxQuantity { .. } => Problem::new(422, "order-quantity-limit", "Order quantity limit exceeded", d),
        OrderError::PriceBand(_) => Problem::new(422, "price-band", "Price outside the band", d),
        OrderError::TradingHalted { .. } => Problem::new(422, "trading-halted", "Trading halted", d),
        OrderError::ReduceOnly { .. } => Problem::new(422, "reduce-only", "Trading is reduce-only", d),
        OrderError::RateLimited { retry_after_secs, .. } => {
            let mut p = Problem::new(429, "rate-limited", "Rate limit exceeded", d);
            p.retry_after_secs = Some(*retry_after_secs);
            p
        }
        OrderError::CannotCancel { .. } => Problem::new(409, "order-not-cancellable", "Order cannot be cancelled", d),
        OrderError::CannotReplace { .. } => Problem::new(409, "order-not-replaceable", "Order cannot be replaced", d),
        OrderError::ClientOrderIdInUse { .. } => {
            Problem::new(409, "client-order-id-in-use", "Client order id in use", d)
        }
        OrderError::DuplicateOrder { .. } => Problem::new(409, "duplicate-order", "Possible duplicate order", d),
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
                ApiError::from(AppError::BodyTooLarge {
                    size: 70_000,
                    limit: 65_536,
                }),
                413,
            ),
            (ApiError::Unauthorized("Missing bearer token".into()), 401),
            (ApiError::from(AppError::OrderNotFound("01J".into())), 404),
            (
                ApiError::from(OrderError::CannotCancel {
                    status: OrderStatus::Filled,
                }),
                409,
            ),
            (ApiError::from(AppError::IdempotencyKeyReused("k".into())), 422),
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

    /// Every use-case error's whole problem body, as the API answered before the use
    /// cases stopped building problems themselves (infra/openapi.yaml and the e2e
    /// suites hold clients to these).
    #[test]
    fn every_use_case_error_keeps_its_problem_body() {
        let id = crate::domain::OrderId::parse("01M89CR8R9WRJ3P3W4H1SDS5EG").unwrap();
        let cases: Vec<(AppError, serde_json::Value)> = vec![
            (
                AppError::MalformedJson("EOF while parsing".into()),
                serde_json::json!({"type": "/problems/malformed-json", "title": "Malformed JSON", "status": 400,
                    "detail": "The request body is not valid JSON: EOF while parsing"}),
            ),
            (
                AppError::BodyTooLarge {
                    size: 20_000,
                    limit: 16_384,
                },
                serde_json::json!({"type": "/problems/body-too-large", "title": "Request body too large",
                    "status": 413, "detail": "The request body is 20000 bytes; the limit is 16384 bytes"}),
            ),
            (
                AppError::InvalidParameter(FieldError::new("limit", "Limit must be a whole number from 1 to 200")),
                serde_json::json!({"type": "/problems/bad-parameter", "title": "Invalid request parameter",
                    "status": 400, "detail": "Limit must be a whole number from 1 to 200",
                    "errors": [{"field": "limit", "message": "Limit must be a whole number from 1 to 200"}]}),
            ),
            (
                AppError::OrderNotFound("nope".into()),
                serde_json::json!({"type": "/problems/not-found", "title": "Not found", "status": 404,
                    "detail": "Order nope was not found"}),
            ),
            (
                AppError::AccountNotFound,
                serde_json::json!({"type": "/problems/not-found", "title": "Not found", "status": 404,
                    "detail": "No trading account exists for this trader; ask an operator to open one"}),
            ),
            (
                AppError::IdempotencyKeyReused("key-1".into()),
                serde_json::json!({"type": "/problems/idempotency-key-reused",
                    "title": "Idempotency key reused with another request", "status": 422,
                    "detail": "Idempotency-Key key-1 was already used with a different request body; use a new key for a different order"}),
            ),
            (
                AppError::AccountContended,
                serde_json::json!({"type": "/problems/conflict", "title": "Conflict", "status": 409,
                    "detail": "The account changed during the submit; retry the request"}),
            ),
            (
                AppError::KeyInProgress,
                serde_json::json!({"type": "/problems/conflict", "title": "Conflict", "status": 409,
                    "detail": "A request with the same Idempotency-Key is in progress; retry"}),
            ),
            (
                AppError::OrderContended(id),
                serde_json::json!({"type": "/problems/conflict", "title": "Conflict", "status": 409,
                    "detail": "Order 01M89CR8R9WRJ3P3W4H1SDS5EG is changing quickly; retry the cancel"}),
            ),
            (
                AppError::Order(OrderError::CannotCancel {
                    status: OrderStatus::Filled,
                }),
                serde_json::json!({"type": "/problems/order-not-cancellable", "title": "Order cannot be cancelled",
                    "status": 409, "detail": "Cannot cancel order in FILLED status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."}),
            ),
            (
                AppError::Order(OrderError::NoAccount),
                serde_json::json!({"type": "/problems/no-account", "title": "No trading account", "status": 422,
                    "detail": "No trading account exists for this trader; ask an operator to open one"}),
            ),
            (
                AppError::Unavailable {
                    service: "DynamoDB",
                    detail: "timeout".into(),
                },
                serde_json::json!({"type": "/problems/dependency-unavailable", "title": "Dependency unavailable",
                    "status": 503, "detail": "DynamoDB is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit)"}),
            ),
            (
                AppError::Internal("boom".into()),
                serde_json::json!({"type": "/problems/internal", "title": "Internal error", "status": 500,
                    "detail": "Internal error; reference boom"}),
            ),
        ];
        for (e, want) in cases {
            let body: serde_json::Value = serde_json::from_str(&Problem::from(&e).body()).unwrap();
            assert_eq!(body, want, "{e:?}");
            // Through the HTTP layer's own error, the same body.
            assert_eq!(Problem::from(&ApiError::from(e.clone())), Problem::from(&e), "{e:?}");
        }
        let p = Problem::from(&ApiError::NotFound("No route GET /api/v1/nope".into()));
        assert_eq!(
            (p.status, p.kind.as_str(), p.detail.as_str()),
            (404, "/problems/not-found", "No route GET /api/v1/nope")
        );
    }
}
