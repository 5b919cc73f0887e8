//! A local Lambda runtime API (the `2018-06-01` interface a custom runtime polls):
//! `GET /runtime/invocation/next` hands out the next event (waiting until there is
//! one), `POST /runtime/invocation/{id}/response` and `.../error` answer it,
//! `POST /runtime/init/error` reports a failed init. One server per function process;
//! it records when the process first asked for work (the end of its init).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};

type Answer = Result<Value, String>;

struct Shared {
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<String>>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    function_arn: String,
}

/// A running runtime API for one function process.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    send: mpsc::UnboundedSender<(String, Value)>,
    server: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn next(State(s): State<Arc<Shared>>) -> (StatusCode, HeaderMap, String) {
    {
        let mut first = lock(&s.first_poll);
        if first.is_none() {
            *first = Some(Instant::now());
            s.polled.notify_waiters();
        }
    }
    // Only one poller per process; the lock is held while it waits, as Lambda does.
    let event = s.events.lock().await.recv().await;
    let Some((id, body)) = event else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now()
        .checked_add(Duration::from_secs(30))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", s.function_arn.clone()),
        ("lambda-runtime-trace-id", format!("Root=1-00000000-{id}")),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    (StatusCode::OK, headers, body.to_string())
}

fn answer(s: &Shared, id: &str, result: Answer) -> StatusCode {
    match lock(&s.waiting).remove(id) {
        Some(tx) => {
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    answer(&s, &id, Ok(value))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&s, &id, Err(String::from_utf8_lossy(&body).into_owned()))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *lock(&s.init_error) = Some(String::from_utf8_lossy(&body).into_owned());
    s.polled.notify_waiters();
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start(function: &str) -> anyhow::Result<Self> {
        let (send, recv) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            first_poll: Mutex::new(None),
            polled: Notify::new(),
            init_error: Mutex::new(None),
            events: tokio::sync::Mutex::new(recv),
            waiting: Mutex::new(HashMap::new()),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the runtime API")?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "runtime API stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            send,
            server,
        })
    }

    /// When the process first polled for an event; an error if it reported a failed init.
    pub async fn first_poll(&self, within: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.polled.notified();
            if let Some(t) = *lock(&self.shared.first_poll) {
                return Ok(t);
            }
            if let Some(e) = lock(&self.shared.init_error).clone() {
                bail!("the function reported an init error: {e}");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the function did not poll the runtime API within {within:?}");
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }

    /// One invocation: the function's response, or its error report.
    pub async fn invoke(&self, event: Value, within: Duration) -> anyhow::Result<Answer> {
        let id = ulid::Ulid::new().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), tx);
        self.send.send((id, event)).context("the runtime API is closed")?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => bail!("the invocation was dropped"),
            Err(_) => bail!("no answer within {within:?}"),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime client as `lambda_runtime` drives it: poll, then answer.
    async fn serve_one(base: String, reply: &'static str) -> anyhow::Result<Value> {
        let http = reqwest::Client::new();
        let next = http
            .get(format!("{base}/2018-06-01/runtime/invocation/next"))
            .send()
            .await?;
        let id = next.headers()["lambda-runtime-aws-request-id"].to_str()?.to_owned();
        anyhow::ensure!(next.headers().contains_key("lambda-runtime-deadline-ms"));
        let event: Value = next.json().await?;
        let path = format!("{base}/2018-06-01/runtime/invocation/{id}/{reply}");
        let status = http.post(path).json(&event).send().await?.status();
        anyhow::ensure!(status == 202, "answer got {status}");
        Ok(event)
    }

    #[tokio::test]
    async fn an_invocation_goes_to_the_poller_and_its_answer_comes_back() {
        let api = RuntimeApi::start("t").await.unwrap();
        let base = format!("http://{}", api.addr);
        let client = tokio::spawn(serve_one(base, "response"));
        let polled = api.first_poll(Duration::from_secs(5)).await.unwrap();
        let answer = api
            .invoke(serde_json::json!({"n": 1}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer, Ok(serde_json::json!({"n": 1})));
        assert_eq!(client.await.unwrap().unwrap(), serde_json::json!({"n": 1}));
        assert!(polled.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_error_report_is_an_error_answer() {
        let api = RuntimeApi::start("t").await.unwrap();
        let client = tokio::spawn(serve_one(format!("http://{}", api.addr), "error"));
        let answer = api
            .invoke(serde_json::json!({"n": 2}), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(answer.is_err(), "{answer:?}");
        client.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn no_poll_is_a_timeout_not_a_figure() {
        let api = RuntimeApi::start("t").await.unwrap();
        assert!(api.first_poll(Duration::from_millis(100)).await.is_err());
    }
}
