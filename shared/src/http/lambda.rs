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
    if sub.starts_with('@') {
        // `@...` names principals of the deployment itself (its trading state's
        // account): never a caller.
        return Err(ApiError::Unauthorized("The token's subject is reserved".into()));
    }
    TraderId::parse(&sub).map_err(|_| ApiError::Unauthorized("The token's subject is not a valid trader id".into()))
}

/// The claim API Gateway hands over, as a string (`None` without claims).
fn claim(req: &Request, name: &str) -> Option<String> {
    match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .and_then(|a| a.jwt)
            .and_then(|j| j.claims.get(name).cloned()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The operator calling an operator route: the token's `sub`, when the token carries
/// `operator_scope` in `scope` (space-separated) or `scp` (API Gateway hands an array
/// over as `[a b]`). API Gateway's authorizer already required the scope on these
/// routes; the function checks it again, as it checks `sub`, so a route wired without
/// it still refuses a trader's token (403).
pub fn operator(req: &Request, operator_scope: &str) -> Result<TraderId, ApiError> {
    let caller = trader(req)?;
    let held = [claim(req, "scope"), claim(req, "scp")].into_iter().flatten().any(|v| {
        v.trim_matches(['[', ']'])
            .split_whitespace()
            .any(|s| s == operator_scope)
    });
    if !held {
        return Err(ApiError::Forbidden(format!(
            "This route is for operators: the token must carry the {operator_scope} scope"
        )));
    }
    Ok(caller)
}

/// API Gateway's route key (`DELETE /api/v1/orders`), empty when absent.
pub fn route_key(req: &Request) -> String {
    match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx.route_key.unwrap_or_default(),
        #[allow(unreachable_patterns)]
        _ => String::new(),
    }
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

/// Alpaca's rate-limit headers on a submit's answer: the minute's limit, what is left
/// of it, and when (unix seconds) the next minute opens. Not on a 5xx: a store that
/// failed may not have counted what the figures say.
pub fn with_rate_quota(mut r: Response<Body>, quota: Option<&crate::app::submit::RateQuota>) -> Response<Body> {
    let Some(q) = quota.filter(|_| r.status().as_u16() < 500) else {
        return r;
    };
    let headers = r.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", i64::from(q.limit)),
        ("x-ratelimit-remaining", i64::from(q.remaining)),
        ("x-ratelimit-reset", q.reset_at),
    ] {
        headers.insert(name, lambda_http::http::HeaderValue::from(value));
    }
    r
}
