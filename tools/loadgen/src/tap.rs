//! The status events, as a consumer sees them: several long-poll receivers on the
//! stack's tap queue (`STATUS_EVENTS_TAP_QUEUE_URL`, a rule on the bus that matches
//! every `Order Status Changed` event), each deleting what it read. Every event is
//! kept with the instant it arrived, so a run can match them to its orders later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde_json::Value;
use tokio::task::JoinHandle;

/// One event as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub version: u64,
    pub status: String,
    /// The event's `timestamp` (the committed state change), Unix ms.
    pub changed_ms: Option<i64>,
    /// When it arrived here, Unix ms and as an instant.
    pub received_ms: i64,
    pub received_at: Instant,
}

pub type Events = Arc<Mutex<HashMap<String, Vec<Received>>>>;

pub struct Tap {
    pub events: Events,
    stop: Arc<std::sync::atomic::AtomicBool>,
    workers: Vec<JoinHandle<u64>>,
}

/// An SQS client for the measuring side: the SDK's defaults, without the functions'
/// 2 s attempt bound (a long poll on a busy emulator may take longer).
pub async fn client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)
}

pub fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn parse(body: &str) -> Option<(String, Received)> {
    let v: Value = serde_json::from_str(body).ok()?;
    let d = &v["detail"];
    let changed_ms = d["timestamp"]
        .as_str()
        .and_then(|t| shared::domain::Timestamp::parse(t).ok())
        .map(|t| t.unix_millis());
    Some((
        d["order_id"].as_str()?.to_owned(),
        Received {
            version: d["version"].as_u64()?,
            status: d["new_status"].as_str()?.to_owned(),
            changed_ms,
            received_ms: unix_ms_now(),
            received_at: Instant::now(),
        },
    ))
}

/// Empties the tap queue of events older than this run (an earlier run's, or any
/// other tool's on the stack), so the receivers read this run's as they come: the
/// emulator's SQS answers each receive in time growing with the queue's length, so
/// a backlog of thousands would slow every read (and the whole emulator) for the
/// whole run. The tap is the measuring side's own queue; nothing else reads it.
pub async fn clear_stale(sqs: &aws_sdk_sqs::Client, url: &str) {
    let waiting = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    if waiting == 0 {
        return;
    }
    match sqs.purge_queue().queue_url(url).send().await {
        Ok(_) => eprintln!("orders-load: purged {waiting} stale events from the tap queue before the run"),
        Err(e) => eprintln!("orders-load: {waiting} stale events on the tap queue, and purging it failed: {e}"),
    }
}

impl Tap {
    /// Starts `receivers` long-poll loops on `queue_url`.
    pub fn start(sqs: aws_sdk_sqs::Client, queue_url: String, receivers: usize) -> Self {
        let events: Events = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = (0..receivers.max(1))
            .map(|_| {
                let (sqs, url, events, stop) = (sqs.clone(), queue_url.clone(), events.clone(), stop.clone());
                tokio::spawn(async move { receive_loop(sqs, url, events, stop).await })
            })
            .collect();
        Self { events, stop, workers }
    }

    /// Stops the receivers; returns how many receive errors they met.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut errors = 0;
        for w in self.workers {
            errors += w.await.unwrap_or(1);
        }
        errors
    }
}

async fn receive_loop(
    sqs: aws_sdk_sqs::Client,
    url: String,
    events: Events,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    let mut errors = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let out = match sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                errors += 1;
                eprintln!("orders-load: tap receive failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut deletes = Vec::new();
        {
            let mut seen = events.lock().unwrap_or_else(|p| p.into_inner());
            for (i, m) in out.messages().iter().enumerate() {
                if let Some((order, r)) = m.body().and_then(parse) {
                    seen.entry(order).or_default().push(r);
                }
                if let Some(h) = m.receipt_handle() {
                    if let Ok(e) = DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                    {
                        deletes.push(e);
                    }
                }
            }
        }
        if !deletes.is_empty() {
            let result = sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(deletes))
                .send()
                .await;
            if let Err(e) = result {
                errors += 1;
                eprintln!("orders-load: tap delete failed: {e}");
            }
        }
    }
    errors
}

/// Versions 1..=`final_version` of an order that are not among `seen`.
pub fn missing_versions(seen: Option<&Vec<Received>>, final_version: u64) -> u64 {
    (1..=final_version)
        .filter(|v| !seen.is_some_and(|s| s.iter().any(|r| r.version == *v)))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_body_gives_its_order_version_status_and_change_time() {
        let body = r#"{"source":"orders","detail":{"order_id":"01ABC","version":3,"new_status":"FILLED",
            "timestamp":"2026-11-25T13:01:37.907Z"}}"#;
        let (order, r) = parse(body).unwrap();
        assert_eq!(order, "01ABC");
        assert_eq!((r.version, r.status.as_str()), (3, "FILLED"));
        assert_eq!(r.changed_ms, Some(1_795_611_697_907));
        assert!(parse("{}").is_none());
    }

    #[test]
    fn missing_versions_counts_the_gaps() {
        let r = |version| Received {
            version,
            status: "X".into(),
            changed_ms: None,
            received_ms: 0,
            received_at: Instant::now(),
        };
        assert_eq!(missing_versions(Some(&vec![r(1), r(3), r(3)]), 3), 1);
        assert_eq!(missing_versions(None, 2), 2);
    }
}
