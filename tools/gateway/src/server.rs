//! The gateway's HTTP side: match the route, run the authorizer, invoke the function
//! through the Lambda invoke API of `cargo lambda watch`
//! (`POST /2015-03-31/functions/<binary>/invocations`), answer with its reply.
//! The gateway's own refusals are problem+json like the functions' (in AWS, API
//! Gateway answers them with `{"message": "Unauthorized"}` / `"Not Found"`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::auth::{AuthError, JwtConfig};
use crate::event::{self, Incoming, Reply};
use crate::record::{Exchange, Recorder};
use crate::routes::Routes;

/// API Gateway HTTP APIs take payloads up to 10 MB; Lambda's invoke limit is 6 MB.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// API Gateway HTTP APIs give an integration at most 30 s.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Gateway {
    pub routes: Routes,
    pub jwt: JwtConfig,
    /// `http://127.0.0.1:9000`: where `cargo lambda watch` takes invocations.
    pub lambda_url: String,
    pub client: reqwest::Client,
    pub recorder: Option<Recorder>,
    /// In-flight invocations per function, at most as many as `cargo lambda watch
    /// --concurrency` runs instances: a burst beyond that (200 at once) leaves its
    /// dispatcher stuck, so the gateway queues the excess itself.
    pub slots: HashMap<String, Arc<Semaphore>>,
}

impl Gateway {
    pub fn new(
        routes: Routes,
        jwt: JwtConfig,
        lambda_url: String,
        recorder: Option<Recorder>,
        per_function: usize,
    ) -> Result<Self, reqwest::Error> {
        let slots = routes
            .all()
            .iter()
            .map(|r| (r.function.clone(), Arc::new(Semaphore::new(per_function.max(1)))))
            .collect();
        Ok(Self {
            routes,
            jwt,
            lambda_url,
            client: reqwest::Client::builder().build()?,
            recorder,
            slots,
        })
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(handle).with_state(gateway)
}

fn problem(status: u16, slug: &str, title: &str, detail: &str) -> Reply {
    let body = json!({"type": format!("/problems/{slug}"), "title": title, "status": status, "detail": detail});
    let mut headers = vec![("content-type".to_owned(), "application/problem+json".to_owned())];
    if status == 401 {
        headers.push(("www-authenticate".to_owned(), "Bearer".to_owned()));
    }
    Reply {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn now_unix_ms() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .div_euclid(1_000_000) as i64
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (route_key, reply) = match to_bytes(req.into_body(), MAX_BODY_BYTES).await {
        Err(_) => (
            None,
            problem(
                413,
                "body-too-large",
                "Request body too large",
                &format!("The request body exceeds the API's limit of {MAX_BODY_BYTES} bytes"),
            ),
        ),
        Ok(body) => dispatch(&gw, &method, &path, &query, headers, &body).await,
    };
    tracing::info!(
        method = %method,
        path = %path,
        route = route_key.as_deref().unwrap_or("-"),
        status = reply.status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if let Some(recorder) = &gw.recorder {
        recorder.write(&Exchange::new(&method, &path, route_key.as_deref(), &reply));
    }
    into_response(reply)
}

async fn dispatch(
    gw: &Gateway,
    method: &str,
    path: &str,
    query: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> (Option<String>, Reply) {
    let Some(matched) = gw.routes.find(method, path) else {
        return (
            None,
            problem(404, "not-found", "Not found", &format!("No route {method} {path}")),
        );
    };
    let route_key = Some(matched.route.key());
    let claims = if matched.route.authorized {
        let authorization = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        match gw.jwt.verify_for(authorization, matched.route.scopes.as_deref()) {
            Ok(c) => Some(c),
            // A valid token without the route's scope: API Gateway answers 403.
            Err(e @ AuthError::Scope(_)) => return (route_key, problem(403, "forbidden", "Forbidden", &e.to_string())),
            Err(e) => return (route_key, problem(401, "unauthorized", "Unauthorized", &e.to_string())),
        }
    } else {
        None
    };
    let request_id = ulid::Ulid::new().to_string();
    let incoming = Incoming {
        method,
        path,
        raw_query: query,
        headers,
        body,
        request_id: &request_id,
        source_ip: "127.0.0.1",
        now_unix_ms: now_unix_ms(),
    };
    let event = event::build(&incoming, &matched, claims.as_ref());
    let function = &matched.route.function;
    let deadline = Instant::now() + INTEGRATION_TIMEOUT;
    let _slot = match gw.slots.get(function) {
        Some(slots) => match tokio::time::timeout(INTEGRATION_TIMEOUT, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => return (route_key, timeout(function)),
        },
        None => None,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    (route_key, invoke(gw, function, &event, left).await)
}

fn timeout(function: &str) -> Reply {
    problem(
        504,
        "gateway-timeout",
        "Gateway timeout",
        &format!(
            "Function {function} did not answer within {} s",
            INTEGRATION_TIMEOUT.as_secs()
        ),
    )
}

async fn invoke(gw: &Gateway, function: &str, event: &serde_json::Value, left: Duration) -> Reply {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        gw.lambda_url.trim_end_matches('/')
    );
    let sent = gw.client.post(&url).timeout(left).json(event).send().await;
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return timeout(function),
        Err(e) => {
            return problem(
                502,
                "bad-gateway",
                "Bad gateway",
                &format!("Function {function} is not reachable at {url} (is `cargo lambda watch` running?): {e}"),
            );
        }
    };
    let failed = response.headers().contains_key("x-amz-function-error") || !response.status().is_success();
    let status = response.status();
    let payload = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return problem(
                502,
                "bad-gateway",
                "Bad gateway",
                &format!("Function {function}'s reply was cut: {e}"),
            );
        }
    };
    if failed {
        let detail = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&payload).into_owned());
        tracing::error!(function, %status, %detail, "function failed");
        return problem(
            502,
            "bad-gateway",
            "Bad gateway",
            &format!("Function {function} failed: {detail}"),
        );
    }
    event::reply(&payload).unwrap_or_else(|e| problem(502, "bad-gateway", "Bad gateway", &e.to_string()))
}

fn into_response(reply: Reply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().append(k, v);
        }
    }
    response
}
