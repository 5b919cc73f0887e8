//! The rule target (an EventBridge rule's Lambda target, locally) against the emulator
//! (`AWS_ENDPOINT_URL`; `make test` runs these) and a fake invoke API that takes a
//! while per event and counts the invocations in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use local_mappings::invoke::Invoker;
use local_mappings::rule::RuleTarget;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

async fn invocation(State(f): State<Fake>, Json(event): Json<Value>) -> Json<Value> {
    let now = f.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    f.most.fetch_max(now, Ordering::SeqCst);
    let ms = event["detail"]["ms"].as_u64().unwrap_or(300);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    f.in_flight.fetch_sub(1, Ordering::SeqCst);
    f.done.fetch_add(1, Ordering::SeqCst);
    Json(json!({"delivered": 1}))
}

async fn fake_lambda() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invocation))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

async fn queue(sqs: &aws_sdk_sqs::Client) -> String {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: these tests run against the emulator `make test` starts"
    );
    let name = format!("rule-target-{}", ulid::Ulid::new());
    let out = sqs.create_queue().queue_name(name).send().await.unwrap();
    out.queue_url().unwrap().to_owned()
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, n: usize, ms: u64) {
    for i in 0..n {
        let event = json!({"source": "orders", "detail-type": "Order Status Changed", "detail": {"n": i, "ms": ms}});
        sqs.send_message()
            .queue_url(url)
            .message_body(event.to_string())
            .send()
            .await
            .unwrap();
    }
}

fn target(sqs: &aws_sdk_sqs::Client, lambda: &str, url: &str, concurrency: usize) -> RuleTarget {
    RuleTarget {
        client: sqs.clone(),
        invoker: Invoker::new(lambda).unwrap(),
        queue_url: url.to_owned(),
        function: "fanout".into(),
        on_failure_url: None,
        concurrency,
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A burst of events is invoked at most `concurrency` at a time (the function's
/// instances under `cargo lambda watch`; more would queue inside it), each on its own.
#[tokio::test]
#[ignore = "needs the local emulator (make test)"]
async fn a_burst_is_invoked_at_most_concurrency_at_once() {
    let sqs = aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let url = queue(&sqs).await;
    let (lambda, fake) = fake_lambda().await;
    send(&sqs, &url, 12, 300).await;
    tokio::spawn(target(&sqs, &lambda, &url, 2).run());
    wait_for(
        "12 invocations",
        || fake.done.load(Ordering::SeqCst) == 12,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(fake.most.load(Ordering::SeqCst), 2, "invocations in flight at most");
}

/// A slow invocation holds up no event but its own: with two slots, events sent
/// while one slow event runs are invoked at once, not after it.
#[tokio::test]
#[ignore = "needs the local emulator (make test)"]
async fn a_slow_invocation_does_not_hold_up_the_events_behind_it() {
    let sqs = aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let url = queue(&sqs).await;
    let (lambda, fake) = fake_lambda().await;
    // The slow one and a fast one in the same receive.
    send(&sqs, &url, 1, 4000).await;
    send(&sqs, &url, 1, 10).await;
    tokio::spawn(target(&sqs, &lambda, &url, 2).run());
    wait_for(
        "the fast event",
        || fake.done.load(Ordering::SeqCst) == 1,
        Duration::from_secs(10),
    )
    .await;
    let t0 = tokio::time::Instant::now();
    send(&sqs, &url, 3, 10).await;
    wait_for(
        "the events behind the slow one",
        || fake.done.load(Ordering::SeqCst) >= 4,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "held up behind the slow invocation: {:?}",
        t0.elapsed()
    );
}
