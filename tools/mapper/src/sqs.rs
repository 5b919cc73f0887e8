//! The SQS event source mapping: long-poll the queue, hand each batch to the
//! function as the exact Lambda `SqsEvent`, delete what it did not report failed.
//!
//! As Lambda does: a function error or an unreachable function deletes nothing (the
//! whole batch comes back after its visibility timeout); a partial batch response
//! deletes every message but the reported ones, which come back after theirs (the
//! function may have changed it) until the queue's redrive policy moves them to
//! the dead-letter queue after `maxReceiveCount` receives.

use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::invoke::{Invoker, batch_failures};

/// ReceiveMessage returns at most 10 messages; Lambda's SQS poller long-polls.
const BATCH: i32 = 10;
const WAIT_SECONDS: i32 = 5;

pub struct SqsMapping {
    pub client: Client,
    pub invoker: Invoker,
    pub queue_url: String,
    pub function: String,
    pub region: String,
}

/// What one batch came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchResult {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl SqsMapping {
    /// Polls forever; errors are logged and retried.
    pub async fn run(self) {
        let arn = loop {
            match self.queue_arn().await {
                Ok(arn) => break arn,
                Err(e) => {
                    tracing::warn!(queue = %self.queue_url, error = %e, "cannot read the queue ARN; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        tracing::info!(queue = %self.queue_url, function = %self.function, "polling the queue");
        loop {
            if let Err(e) = self.poll_once(&arn).await {
                tracing::warn!(queue = %self.queue_url, error = %e, "receive failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn queue_arn(&self) -> anyhow::Result<String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("GetQueueAttributes answered without QueueArn"))
    }

    /// One receive and, if it brought messages, one invocation.
    pub async fn poll_once(&self, arn: &str) -> anyhow::Result<BatchResult> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))?;
        let messages = out.messages();
        if messages.is_empty() {
            return Ok(BatchResult::default());
        }
        let started = Instant::now();
        let event = sqs_event(messages, arn, &self.region);
        let ids: Vec<&str> = messages.iter().filter_map(Message::message_id).collect();
        let failed = match self.invoker.invoke(&self.function, &event).await {
            Ok(reply) => batch_failures(&reply, &ids),
            Err(e) => Err(e.to_string()),
        };
        let mut result = BatchResult {
            received: messages.len(),
            ..BatchResult::default()
        };
        match failed {
            Ok(failed) => {
                let done: Vec<&Message> = messages
                    .iter()
                    .filter(|m| !m.message_id().is_some_and(|id| failed.iter().any(|f| f == id)))
                    .collect();
                result.failed = failed.len();
                result.deleted = self.delete(&done).await;
            }
            Err(e) => {
                tracing::warn!(function = %self.function, error = %e, "batch failed as a whole; its messages come back after their visibility timeout");
                result.failed = messages.len();
            }
        }
        tracing::info!(function = %self.function, count = result.received, failures = result.failed,
            deleted = result.deleted, ms = started.elapsed().as_millis() as u64, "sqs batch");
        Ok(result)
    }

    /// DeleteMessageBatch; returns how many were deleted (failures are logged: those
    /// messages come back and are handled again, which execute tolerates).
    async fn delete(&self, done: &[&Message]) -> usize {
        let entries: Vec<DeleteMessageBatchRequestEntry> = done
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            return 0;
        }
        let total = entries.len();
        match self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                for f in out.failed() {
                    tracing::warn!(
                        id = f.id(),
                        code = f.code(),
                        message = f.message(),
                        "message not deleted"
                    );
                }
                total - out.failed().len()
            }
            Err(e) => {
                tracing::warn!(error = %DisplayErrorContext(&e), "DeleteMessageBatch failed; the messages come back");
                0
            }
        }
    }
}

/// The Lambda `SqsEvent` for `messages` received from the queue `arn`.
pub fn sqs_event(messages: &[Message], arn: &str, region: &str) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let value = json!({
                        "stringValue": v.string_value(),
                        "binaryValue": v.binary_value().map(|b| b64(b.as_ref())),
                        "stringListValues": v.string_list_values(),
                        "binaryListValues": v.binary_list_values().iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>(),
                        "dataType": v.data_type(),
                    });
                    (k.clone(), value)
                })
                .collect();
            let mut record = json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            });
            if let Some(md5) = m.md5_of_message_attributes() {
                record["md5OfMessageAttributes"] = json!(md5);
            }
            record
        })
        .collect();
    json!({ "Records": records })
}
