//! API Gateway v2 (HTTP API) glue for the HTTP functions: who is calling (the JWT
//! claims API Gateway's authorizer verified), and use-case replies as responses.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::problem::{ApiError, CONTENT_TYPE, Problem};
use super::submit::Reply;
use crate::app::AppError;
use crate::domain::TraderId;

/// The trader is the verified token's `sub`. The function refuses a request without
/// claims even though API Gateway's authorizer should never let one through.
pub fn trader(req: &Request) -> Result<TraderId, ApiError> {
    let sub = match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .and_then(|a| a.jwt)
            .and_then(|j| j.claims.get("sub").cloned()),
        #[allow(unreachable_patterns)]
        _ => None,
    };
    let sub = sub.ok_or_else(|| ApiError::Unauthorized("A valid bearer token is required".into()))?;
    TraderId::parse(&sub).map_err(|_| ApiError::Unauthorized("The token's subject is not a valid trader id".into()))
}

pub fn request_id(req: &Request) -> Option<String> {
    match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id,
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

pub fn body(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        #[allow(unreachable_patterns)]
        _ => &[],
    }
}

fn response(status: u16, content_type: &str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(body));
    *r.status_mut() =
        lambda_http::http::StatusCode::from_u16(status).unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

pub fn problem_response(err: &ApiError) -> Response<Body> {
    let p = Problem::from(err);
    if p.status >= 500 {
        tracing::error!(error = %err, status = p.status, "request failed");
    }
    let mut r = response(p.status, CONTENT_TYPE, p.body());
    if let Some(secs) = p.retry_after_secs.and_then(|s| s.to_string().parse().ok()) {
        r.headers_mut().insert("retry-after", secs);
    }
    r
}

/// A 2xx JSON response; a value that cannot be encoded is a 500, never a panic.
pub fn json_response<T: serde::Serialize>(status: u16, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => response(status, "application/json", body),
        Err(e) => problem_response(&ApiError::from(AppError::Internal(e.to_string()))),
    }
}

pub fn reply_response(reply: &Reply) -> Response<Body> {
    let content_type = if reply.is_problem() {
        CONTENT_TYPE
    } else {
        "application/json"
    };
    let mut r = response(reply.status, content_type, reply.body.clone());
    if reply.replayed {
        r.headers_mut().insert(
            "idempotent-replayed",
            lambda_http::http::HeaderValue::from_static("true"),
        );
    }
    r
}
