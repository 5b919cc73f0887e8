//! The WebSocket API locally (issue 18), what API Gateway does for `LiveApi`:
//!
//! - `GET /live?token=<JWT>` upgrades to a WebSocket once the `$connect` authorizer
//!   (`ws-authorizer`, a REQUEST authorizer event) allowed it and the `$connect` route
//!   (`live`) answered 200; a missing token is refused with 401 without calling the
//!   authorizer (its identity source is absent), a Deny with 403.
//! - A text frame is routed by its `action` (`$request.body.action`): `subscribe` to
//!   `live`; anything else is answered as API Gateway does without a `$default` route.
//! - Closing the socket invokes `$disconnect`.
//! - `POST /@connections/{id}` (the body is the message) and `DELETE /@connections/{id}`
//!   are the management API the functions call; 410 Gone for an unknown connection.
//! - `GET /.well-known/jwks.json`: the dev secret as a JWKS (`kty: oct`, HS256), the
//!   keys the local authorizer fetches (`JWKS_URL`; `JWT_ALGORITHMS=HS256` locally).
//! - `PUT /_faults/connections/{id}` (`live_faults`) with `{"refuse_posts": bool, "refuse_deletes": bool}`
//!   (tests only): the management API answers that connection's POSTs / DELETEs with
//!   429 `LimitExceededException`, as API Gateway throttles; `DELETE` on it heals.
//!
//! Each route's event carries the authorizer's context in `requestContext.authorizer`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::live_faults::{Fault, clear_fault, set_fault, throttled};

/// Every function of the WebSocket API, as `cargo lambda watch` names them.
const AUTHORIZER: &str = "ws-authorizer";
const ROUTES: &str = "live";
const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:local/live/$connect";

enum Outgoing {
    Text(String),
    Close,
}

pub struct LiveGateway {
    lambda_url: String,
    client: reqwest::Client,
    secret: Vec<u8>,
    /// In-flight invocations per function (`--per-function`, the instances `cargo lambda
    /// watch --concurrency` runs): a burst beyond them (200 clients closing at once, each
    /// a `$disconnect`) leaves its dispatcher stuck, so the excess waits here, as the
    /// HTTP routes' does (server.rs).
    slots: HashMap<&'static str, Arc<tokio::sync::Semaphore>>,
    connections: Mutex<HashMap<String, mpsc::UnboundedSender<Outgoing>>>,
    /// Connections whose management calls are refused (`PUT /_faults/connections/{id}`).
    pub(crate) faults: Mutex<HashMap<String, Fault>>,
    /// The `pushed` stage of each message posted to a connection (tools/mapper's stages).
    stages: Option<StageFile>,
}

/// `LIVE_STAGES_FILE`, else `$STACK_LOG_DIR/live-stages.jsonl`: one line per message
/// posted to `@connections`, `{"stage": "pushed", "order_id", "version", "at_ms"}`
/// (the format of tools/mapper/src/stages.rs, whose stages come before this one).
struct StageFile(std::path::PathBuf);

impl StageFile {
    fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        var("LIVE_STAGES_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| var("STACK_LOG_DIR").map(|d| std::path::Path::new(&d).join("live-stages.jsonl")))
            .map(Self)
    }

    fn pushed(&self, message: &str) {
        let Ok(m) = serde_json::from_str::<Value>(message) else {
            return;
        };
        let (Some(order), Some(version)) = (m["order_id"].as_str(), m["version"].as_u64()) else {
            return;
        };
        let at_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let line = format!(
            "{}\n",
            json!({"stage": "pushed", "order_id": order, "version": version, "at_ms": at_ms as i64})
        );
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&self.0) {
            use std::io::Write;
            let _ = f.write_all(line.as_bytes());
        }
    }
}

impl LiveGateway {
    pub fn new(lambda_url: String, secret: Vec<u8>, per_function: usize) -> Result<Self, reqwest::Error> {
        let slots = [AUTHORIZER, ROUTES]
            .into_iter()
            .map(|f| (f, Arc::new(tokio::sync::Semaphore::new(per_function.max(1)))))
            .collect();
        Ok(Self {
            lambda_url,
            client: reqwest::Client::builder().build()?,
            secret,
            slots,
            connections: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            stages: StageFile::from_env(),
        })
    }

    fn fault(&self, id: &str) -> Fault {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
            .unwrap_or_default()
    }

    fn sender(&self, id: &str) -> Option<mpsc::UnboundedSender<Outgoing>> {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    async fn invoke(&self, function: &str, event: &Value) -> Result<Value, String> {
        let _slot = match self.slots.get(function) {
            Some(slots) => Some(
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| format!("{function}: {e}"))?,
            ),
            None => None,
        };
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.lambda_url);
        let response = self
            .client
            .post(&url)
            .json(event)
            .send()
            .await
            .map_err(|e| format!("{function}: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| format!("{function}: {e}"))?;
        if !status.is_success() || body.get("errorType").is_some() {
            return Err(format!("{function} failed ({status}): {body}"));
        }
        Ok(body)
    }

    fn route_event(route: &str, connection_id: &str, context: &Value, body: Option<&str>) -> Value {
        json!({
            "requestContext": {
                "routeKey": route, "eventType": match route { "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" },
                "connectionId": connection_id, "stage": "live", "apiId": "local", "domainName": "127.0.0.1",
                "connectedAt": 0, "requestId": ulid::Ulid::new().to_string(), "authorizer": context,
            },
            "body": body, "isBase64Encoded": false,
        })
    }

    /// Invokes a route of the connection; its `statusCode` (500 when the function failed).
    async fn route(&self, route: &str, connection_id: &str, context: &Value, body: Option<&str>) -> u16 {
        match self
            .invoke(ROUTES, &Self::route_event(route, connection_id, context, body))
            .await
        {
            Ok(reply) => reply.get("statusCode").and_then(Value::as_u64).unwrap_or(200) as u16,
            Err(e) => {
                tracing::error!(route, connection_id, error = %e, "route failed");
                500
            }
        }
    }
}

pub fn router(gateway: Arc<LiveGateway>) -> Router {
    Router::new()
        .route("/live", get(connect))
        .route("/@connections/{id}", post(post_to_connection).delete(delete_connection))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/_faults/connections/{id}", put(set_fault).delete(clear_fault))
        .with_state(gateway)
}

async fn jwks(State(g): State<Arc<LiveGateway>>) -> Response {
    axum::Json(
        json!({"keys": [{"kty": "oct", "kid": "local", "alg": "HS256", "use": "sig",
        "k": URL_SAFE_NO_PAD.encode(&g.secret)}]}),
    )
    .into_response()
}

pub(crate) fn refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message}))).into_response()
}

/// The management API's 410: the SDK tells its errors by `x-amzn-errortype` (restJson1).
fn gone() -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        axum::Json(json!({"message": "GoneException"})),
    )
        .into_response()
}

async fn connect(
    State(g): State<Arc<LiveGateway>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return refusal(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let request = json!({"type": "REQUEST", "methodArn": METHOD_ARN, "queryStringParameters": {"token": token},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "stage": "live", "apiId": "local"}});
    let answer = match g.invoke(AUTHORIZER, &request).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "authorizer failed");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let allowed = answer["policyDocument"]["Statement"]
        .as_array()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|st| st["Effect"] == "Allow"));
    if !allowed {
        tracing::info!(reason = %answer["context"]["reason"], "connect refused by the authorizer");
        return refusal(StatusCode::FORBIDDEN, "Forbidden");
    }
    let mut context = answer.get("context").cloned().unwrap_or_else(|| json!({}));
    context["principalId"] = answer.get("principalId").cloned().unwrap_or(Value::Null);
    let connection_id = URL_SAFE_NO_PAD.encode(ulid::Ulid::new().to_bytes());
    // Registered before $connect runs: the connection can be posted to as soon as it is recorded.
    let (tx, rx) = mpsc::unbounded_channel();
    g.connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(connection_id.clone(), tx);
    let status = g.route("$connect", &connection_id, &context, None).await;
    if status != 200 {
        g.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&connection_id);
        return refusal(
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            "Forbidden",
        );
    }
    ws.on_upgrade(move |socket| serve(g, socket, connection_id, context, rx))
}

async fn serve(
    g: Arc<LiveGateway>,
    mut socket: WebSocket,
    id: String,
    context: Value,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() { break; }
                }
                Some(Outgoing::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let action = serde_json::from_str::<Value>(&text).ok()
                        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
                    match action.as_deref() {
                        Some("subscribe") => { g.route("subscribe", &id, &context, Some(&text)).await; }
                        _ => {
                            // No $default route: API Gateway answers the client itself.
                            let reply = json!({"message": "Forbidden", "connectionId": id}).to_string();
                            if socket.send(Message::Text(reply.into())).await.is_err() { break; }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    g.connections.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    g.route("$disconnect", &id, &context, None).await;
}

async fn post_to_connection(State(g): State<Arc<LiveGateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(tx) = g.sender(&id) else {
        return gone();
    };
    if g.fault(&id).refuse_posts {
        return throttled();
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if let Some(stages) = &g.stages {
        stages.pushed(&text);
    }
    match tx.send(Outgoing::Text(text)) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => gone(),
    }
}

async fn delete_connection(State(g): State<Arc<LiveGateway>>, Path(id): Path<String>) -> Response {
    if g.sender(&id).is_some() && g.fault(&id).refuse_deletes {
        return throttled();
    }
    let removed = g.connections.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    match removed {
        Some(tx) => {
            let _ = tx.send(Outgoing::Close);
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A burst of route invocations (200 clients closing at once: 200 `$disconnect`s)
    /// keeps at most `per_function` in flight per function, as the HTTP routes do: more
    /// at once leaves `cargo lambda watch`'s dispatcher stuck.
    #[tokio::test]
    async fn a_burst_of_route_invocations_stays_within_the_functions_instances() {
        #[derive(Clone, Default)]
        struct Count(Arc<AtomicUsize>, Arc<AtomicUsize>);
        async fn invocation(State(c): State<Count>) -> axum::Json<Value> {
            let now = c.0.fetch_add(1, Ordering::SeqCst) + 1;
            c.1.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            c.0.fetch_sub(1, Ordering::SeqCst);
            axum::Json(json!({"statusCode": 200}))
        }
        let count = Count::default();
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invocation))
            .with_state(count.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let g = Arc::new(LiveGateway::new(url, b"secret".to_vec(), 2).unwrap());
        let calls = (0..40).map(|i| {
            let g = g.clone();
            async move { g.route("$disconnect", &format!("c{i}"), &json!({}), None).await }
        });
        let statuses = futures::future::join_all(calls).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(count.1.load(Ordering::SeqCst), 2, "invocations in flight at most");
    }
}
