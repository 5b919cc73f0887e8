//! The EventBridge adapter against a scripted PutEvents endpoint on loopback (the
//! real SDK, fake answers): per-entry failures are read, only retryable entries are
//! sent again, and what stays unpublished is reported by index.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use shared::adapters::aws::EventBridgePublisher;
use shared::domain::{Order, OrderId, OrderStatus, Timestamp, TraderId, validate_order};
use shared::ports::{PublishError, ReconciliationEvent, StatusEvent, StatusEvents};

/// Serves PutEvents answers from `script` (one per request; the last repeats) and
/// records the request bodies.
async fn stub(script: Vec<Value>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: headers, then Content-Length bytes of body.
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
                    buf.drain(..head_end + len);
                    let answer = {
                        let mut log = log.lock().unwrap();
                        log.push(body);
                        script[(log.len() - 1).min(script.len() - 1)].to_string()
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if sock.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn publisher(url: &str, attempts: u32) -> EventBridgePublisher {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    EventBridgePublisher::new(aws_sdk_eventbridge::Client::from_conf(config), "bus")
        .with_retries(attempts, Duration::from_millis(1))
}

fn events(n: usize) -> Vec<StatusEvent> {
    let draft = validate_order(&json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"})).unwrap();
    (0..n)
        .map(|_| {
            let o = Order::pending(
                OrderId::new(),
                TraderId::parse("t").unwrap(),
                draft.clone(),
                0.into(),
                Timestamp::now(),
            );
            StatusEvent::of(None, &o)
        })
        .collect()
}

fn order_ids(request: &Value) -> Vec<String> {
    request["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str::<Value>(e["Detail"].as_str().unwrap()).unwrap()["order_id"].to_string())
        .collect()
}

#[tokio::test]
async fn only_retryable_entries_are_sent_again_and_permanent_ones_are_reported() {
    let (url, seen) = stub(vec![
        json!({"FailedEntryCount": 2, "Entries": [
            {"EventId": "e0"},
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
            {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad detail"}]}),
        json!({"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}]}),
    ])
    .await;
    let evs = events(3);
    let result = publisher(&url, 4).publish(&evs).await;
    assert!(
        matches!(&result, Err(PublishError::Failed { failed, total: 3, detail }) if failed == &vec![2] && detail.contains("MalformedDetail")),
        "{result:?}"
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(order_ids(&requests[1]), vec![format!("\"{}\"", evs[1].order_id)]);
}

#[tokio::test]
async fn an_entry_throttled_past_the_budget_is_reported_not_dropped() {
    let (url, seen) = stub(vec![json!({"FailedEntryCount": 1, "Entries": [
        {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}]})])
    .await;
    let result = publisher(&url, 3).publish(&events(1)).await;
    assert!(
        matches!(&result, Err(PublishError::Failed { failed, .. }) if failed == &vec![0]),
        "{result:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts in all");
}

#[tokio::test]
async fn more_than_ten_events_go_in_batches_of_ten() {
    let ok = |n: usize| json!({"FailedEntryCount": 0, "Entries": (0..n).map(|i| json!({"EventId": i.to_string()})).collect::<Vec<_>>()});
    let (url, seen) = stub(vec![ok(10), ok(3)]).await;
    publisher(&url, 2).publish(&events(13)).await.unwrap();
    let sizes: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["Entries"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [10, 3]);
}

fn reconciled(n: usize) -> Vec<ReconciliationEvent> {
    (0..n)
        .map(|i| {
            let order_id = OrderId::new();
            ReconciliationEvent {
                reconciliation_id: format!("{:013}#{order_id}", 1_795_838_706_789u64 + i as u64),
                order_id,
                trader_id: TraderId::parse("t").unwrap(),
                venue_order_id: format!("v-{i}"),
                venue_status: "expired".into(),
                from_status: OrderStatus::Submitted,
                to_status: OrderStatus::Expired,
                corrected: true,
                reason: "The venue reports the order expired".into(),
                at: Timestamp::now(),
            }
        })
        .collect()
}

#[tokio::test]
async fn reconciliations_go_out_as_order_reconciled_and_a_refused_one_is_reported_by_index() {
    let (url, seen) = stub(vec![
        json!({"FailedEntryCount": 1, "Entries": [
            {"EventId": "e0"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}),
        json!({"FailedEntryCount": 1, "Entries": [
            {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad detail"}]}),
    ])
    .await;
    let evs = reconciled(2);
    let result = publisher(&url, 4).publish_reconciliations(&evs).await;
    assert!(
        matches!(&result, Err(PublishError::Failed { failed, total: 2, detail }) if failed == &vec![1] && detail.contains("MalformedDetail")),
        "{result:?}"
    );
    let requests = seen.lock().unwrap().clone();
    let first = &requests[0]["Entries"][0];
    assert_eq!(
        (&first["Source"], &first["DetailType"], &first["EventBusName"]),
        (&json!("orders"), &json!("Order Reconciled"), &json!("bus"))
    );
    assert_eq!(first["Resources"], json!([format!("order/{}", evs[0].order_id)]));
    let detail: Value = serde_json::from_str(first["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail, serde_json::to_value(&evs[0]).unwrap());
    // Only the retryable entry was sent again.
    assert_eq!(order_ids(&requests[1]), vec![format!("\"{}\"", evs[1].order_id)]);
}
