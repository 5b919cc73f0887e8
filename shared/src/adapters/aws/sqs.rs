//! `WorkQueue` on SQS (standard queue: duplicates are harmless because the executor
//! claims each order with a conditional write before it calls the venue).

use std::time::Duration;

use async_trait::async_trait;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Builder as ConfigBuilder;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};

use crate::ports::{QueueError, ReceivedMessage, WorkMessage, WorkQueue};

/// SQS caps `DelaySeconds` at 15 minutes.
const MAX_DELAY_SECONDS: u32 = 900;
/// SQS returns at most 10 messages per receive, and long-polls at most 20 s.
const MAX_BATCH: u32 = 10;
const MAX_WAIT_SECONDS: u32 = 20;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// The client's timeouts stretched by a long poll's wait: the queue answers only
/// after `wait_seconds` when it has nothing, which is not a timeout.
pub(super) fn long_poll_timeouts(sdk: &Client, wait_seconds: u32) -> TimeoutConfig {
    let wait = Duration::from_secs(u64::from(wait_seconds));
    let mut builder = TimeoutConfig::builder();
    if let Some(t) = sdk.config().timeout_config() {
        builder
            .set_connect_timeout(t.connect_timeout())
            .set_operation_attempt_timeout(t.operation_attempt_timeout().map(|d| d + wait))
            .set_operation_timeout(t.operation_timeout().map(|d| d + wait));
    }
    builder.build()
}

pub(super) fn unavailable(e: impl std::error::Error + 'static) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(&e).to_string())
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, message: &WorkMessage, delay_seconds: u32) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError::Encode(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds.min(MAX_DELAY_SECONDS) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn send_all(&self, messages: &[WorkMessage], delay_seconds: u32) -> Result<(), (usize, QueueError)> {
        for (n, chunk) in messages.chunks(MAX_BATCH as usize).enumerate() {
            let start = n * MAX_BATCH as usize;
            let mut entries = Vec::with_capacity(chunk.len());
            for (j, message) in chunk.iter().enumerate() {
                let encode = |e: String| (start + j, QueueError::Encode(e));
                let body = serde_json::to_string(message).map_err(|e| encode(e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(j.to_string())
                    .message_body(body)
                    .delay_seconds(delay_seconds.min(MAX_DELAY_SECONDS) as i32)
                    .build()
                    .map_err(|e| encode(e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| (start, unavailable(e)))?;
            let first_failed = out
                .failed()
                .iter()
                .filter_map(|f| f.id().parse::<usize>().ok().map(|j| (j, f)))
                .min_by_key(|(j, _)| *j);
            if let Some((j, f)) = first_failed {
                let why = format!("{} {}", f.code(), f.message().unwrap_or_default());
                return Err((start + j, QueueError::Unavailable(why.trim_end().to_owned())));
            }
        }
        Ok(())
    }

    async fn receive(&self, max: u32, wait_seconds: u32) -> Result<Vec<ReceivedMessage>, QueueError> {
        let wait_seconds = wait_seconds.min(MAX_WAIT_SECONDS);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(wait_seconds as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(ConfigBuilder::default().timeout_config(long_poll_timeouts(&self.client, wait_seconds)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages()
            .iter()
            .map(|m| ReceivedMessage {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    async fn change_visibility(&self, receipt_handle: &str, seconds: u32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            // SQS caps a message's visibility timeout at 12 hours.
            .visibility_timeout(seconds.min(43_200) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
