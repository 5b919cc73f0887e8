//! `StatusEvents` on EventBridge. `PutEvents` can succeed as a call and still refuse
//! some entries (`FailedEntryCount` > 0, an `ErrorCode` per entry): every entry is
//! checked, only the retryable ones are sent again (with backoff), and whatever is
//! still unpublished is reported by index — never dropped silently.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::ports::{
    EVENT_DETAIL_TYPE, EVENT_SOURCE, PublishError, RECONCILIATION_DETAIL_TYPE, ReconciliationEvent, StatusEvent,
    StatusEvents, TRADING_STATE_DETAIL_TYPE, TradingStateEvent,
};

/// PutEvents takes at most 10 entries per call.
const MAX_ENTRIES: usize = 10;

/// Entry error codes worth retrying (AWS: "Handling failures when using PutEvents").
/// Anything else (InvalidArgument, MalformedDetail, AccessDeniedException, ...) will
/// fail again unchanged.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable"
    )
}

#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
    attempts: u32,
    base_backoff: Duration,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
            attempts: 4,
            base_backoff: Duration::from_millis(50),
        }
    }

    /// Retry budget for refused entries: `attempts` calls in all, backing off
    /// exponentially from `base`.
    pub fn with_retries(mut self, attempts: u32, base: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.base_backoff = base;
        self
    }

    fn entry(&self, event: &BusEntry) -> Result<PutEventsRequestEntry, String> {
        let detail = event.detail.clone()?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type)
            .detail(detail)
            .resources(event.resource.clone())
            .build())
    }

    /// Publishes one chunk (≤ 10 events); returns the chunk-relative indexes that
    /// could not be published, with the last error seen for them.
    async fn publish_chunk(&self, events: &[BusEntry]) -> Result<(), (Vec<usize>, String)> {
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut last_error = String::new();
        let mut permanent = Vec::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.base_backoff * 2u32.pow(attempt - 1)).await;
            }
            let mut entries = Vec::with_capacity(pending.len());
            for &i in &pending {
                entries.push(self.entry(&events[i]).map_err(|e| (vec![i], e))?);
            }
            let out = match self.client.put_events().set_entries(Some(entries)).send().await {
                Ok(out) => out,
                Err(e) => {
                    // The SDK already retried transport and throttling errors.
                    last_error = DisplayErrorContext(&e).to_string();
                    continue;
                }
            };
            if out.failed_entry_count() == 0 && out.entries().iter().all(|e| e.error_code().is_none()) {
                return if permanent.is_empty() {
                    Ok(())
                } else {
                    Err((permanent, last_error))
                };
            }
            let mut retry = Vec::new();
            for (pos, result) in out.entries().iter().enumerate() {
                let Some(&index) = pending.get(pos) else { continue };
                if let Some(code) = result.error_code() {
                    last_error = format!("{code}: {}", result.error_message().unwrap_or_default());
                    if retryable(code) {
                        retry.push(index)
                    } else {
                        permanent.push(index)
                    }
                }
            }
            // An answer with fewer entries than sent leaves the rest unconfirmed.
            retry.extend(pending.iter().skip(out.entries().len()).copied());
            pending = retry;
            if pending.is_empty() {
                break;
            }
        }
        permanent.extend(pending);
        permanent.sort_unstable();
        if permanent.is_empty() {
            Ok(())
        } else {
            Err((permanent, last_error))
        }
    }
}

/// An event ready for the bus: its detail-type, the resource it names, its detail
/// (or why it could not be encoded).
struct BusEntry {
    detail_type: &'static str,
    resource: String,
    detail: Result<String, String>,
}

fn encoded<T: serde::Serialize>(event: &T) -> Result<String, String> {
    serde_json::to_string(event).map_err(|e| e.to_string())
}

#[async_trait]
impl StatusEvents for EventBridgePublisher {
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError> {
        let entries: Vec<BusEntry> = events
            .iter()
            .map(|e| BusEntry {
                detail_type: EVENT_DETAIL_TYPE,
                resource: format!("order/{}", e.order_id),
                detail: encoded(e),
            })
            .collect();
        self.publish_all(&entries).await
    }

    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError> {
        let entries: Vec<BusEntry> = events
            .iter()
            .map(|e| BusEntry {
                detail_type: TRADING_STATE_DETAIL_TYPE,
                resource: e
                    .trader_id
                    .as_ref()
                    .map_or_else(|| "deployment".to_owned(), |t| format!("trader/{t}")),
                detail: encoded(e),
            })
            .collect();
        self.publish_all(&entries).await
    }

    async fn publish_reconciliations(&self, events: &[ReconciliationEvent]) -> Result<(), PublishError> {
        let entries: Vec<BusEntry> = events
            .iter()
            .map(|e| BusEntry {
                detail_type: RECONCILIATION_DETAIL_TYPE,
                resource: format!("order/{}", e.order_id),
                detail: encoded(e),
            })
            .collect();
        self.publish_all(&entries).await
    }
}

impl EventBridgePublisher {
    /// Every event in chunks of `MAX_ENTRIES`; the indexes of those not published.
    async fn publish_all(&self, events: &[BusEntry]) -> Result<(), PublishError> {
        let mut failed = Vec::new();
        let mut detail = String::new();
        for (c, chunk) in events.chunks(MAX_ENTRIES).enumerate() {
            if let Err((indexes, error)) = self.publish_chunk(chunk).await {
                failed.extend(indexes.into_iter().map(|i| c * MAX_ENTRIES + i));
                detail = error;
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(PublishError::Failed {
                failed,
                total: events.len(),
                detail,
            })
        }
    }
}
