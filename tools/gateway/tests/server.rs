//! The gateway in process, in front of a stand-in for `cargo lambda watch`'s invoke
//! API: what the function gets, what the client gets back, and the gateway's own
//! answers when the function fails, is unreachable, or the route or token is wrong.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use local_gateway::auth::JwtConfig;
use local_gateway::routes::Routes;
use local_gateway::server::{Gateway, router};
use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// Answers every invocation with a 201 echoing the route key, except for
/// `cancel`, which fails as a function error does.
async fn invoke(State(seen): State<Seen>, Path(function): Path<String>, body: Bytes) -> (HeaderMap, String) {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((function.clone(), event.clone()));
    let mut headers = HeaderMap::new();
    if function == "cancel" {
        headers.insert("x-amz-function-error", "Unhandled".parse().unwrap());
        return (
            headers,
            json!({"errorMessage": "boom", "errorType": "Panic"}).to_string(),
        );
    }
    let reply = json!({"statusCode": 201, "headers": {"content-type": "application/json", "x-route": event["routeKey"]},
        "body": "{\"ok\":true}", "isBase64Encoded": false});
    (headers, reply.to_string())
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"gateway-test-secret-0123456789abcdef".to_vec(),
        issuer: "orders-local".into(),
        audience: "orders-api".into(),
        scopes: Vec::new(),
    }
}

async fn gateway(lambda_url: String) -> String {
    let routes = Routes::parse(TEMPLATE).unwrap();
    let gw = Gateway::new(routes, jwt(), lambda_url, None, 1).unwrap();
    serve(router(Arc::new(gw))).await
}

#[tokio::test]
async fn requests_reach_the_function_as_events_and_failures_are_502() {
    let seen: Seen = Arc::default();
    let lambda = serve(
        Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(seen.clone()),
    )
    .await;
    let api = gateway(lambda).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = jwt().mint("alice", 60, now).unwrap();
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{api}/api/v1/orders?x=1"))
        .bearer_auth(&token)
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-route"], "POST /api/v1/orders");
    assert_eq!(r.text().await.unwrap(), "{\"ok\":true}");
    let (function, event) = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(function, "submit");
    assert_eq!(event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"], "alice");
    assert_eq!(event["body"], "{\"a\":1}");
    assert_eq!(event["queryStringParameters"]["x"], "1");

    // A function error is the gateway's 502, naming the function and its message.
    let r = http
        .post(format!("{api}/api/v1/orders/01ABC/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/bad-gateway");
    assert!(
        body["detail"].as_str().unwrap().contains("cancel failed: boom"),
        "{body}"
    );

    // No token, or an unknown route: refused before any function runs.
    let before = seen.lock().unwrap().len();
    let r = http.get(format!("{api}/api/v1/account")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = http
        .get(format!("{api}/api/v1/nowhere"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[tokio::test]
async fn an_unreachable_function_is_502_naming_it() {
    // A port nothing listens on: bind one, then let it go.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let api = gateway(url).await;
    let r = reqwest::get(format!("{api}/api/v1/health")).await.unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Function query is not reachable"),
        "{body}"
    );
}
