//! `orders-admin redrive`: moves every message of the work queue's dead-letter queue
//! back to the work queue, once the cause that made execute give up (the venue down
//! past the retry budget) is fixed. What SQS `StartMessageMoveTask` does in AWS
//! (`aws sqs start-message-move-task --source-arn DLQ_ARN`), done message by message
//! so that it also runs against the local emulator and prints what it moved.
//!
//! Each message is sent to the work queue first and deleted from the DLQ after: a
//! crash in between leaves it in both, and execute handles a work message twice
//! harmlessly (it claims the order with a conditional write and reconciles with the
//! venue by client order id). A redriven message is a new message, so it gets the
//! whole retry budget again.

use std::collections::HashSet;

use anyhow::{Context, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// ReceiveMessage returns at most 10 messages.
const BATCH: i32 = 10;
/// Hidden while being moved; a message not moved in that time comes back to the DLQ.
const VISIBILITY_SECS: i32 = 60;

/// One message moved back.
#[derive(Debug)]
pub struct Moved {
    pub message_id: String,
    /// `kind order_id` of a work message, or the raw body when it is not one.
    pub summary: String,
}

/// The dead-letter queue of `work_queue_url`: `WORK_DEAD_LETTER_QUEUE_URL` when set,
/// else the queue named by the work queue's redrive policy.
pub async fn dead_letter_queue(sqs: &Client, work_queue_url: &str) -> anyhow::Result<String> {
    if let Some(url) = std::env::var("WORK_DEAD_LETTER_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Ok(url);
    }
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(work_queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetQueueAttributes {work_queue_url}: {}", DisplayErrorContext(&e)))?;
    let policy = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
        .with_context(|| format!("the work queue {work_queue_url} has no redrive policy (no dead-letter queue)"))?;
    let policy: Value = serde_json::from_str(policy).context("the work queue's RedrivePolicy is not JSON")?;
    let arn = policy["deadLetterTargetArn"]
        .as_str()
        .context("the work queue's RedrivePolicy names no deadLetterTargetArn")?;
    let name = arn.rsplit(':').next().unwrap_or(arn);
    let out = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetQueueUrl {name}: {}", DisplayErrorContext(&e)))?;
    out.queue_url()
        .map(str::to_owned)
        .with_context(|| format!("GetQueueUrl {name} answered without a URL"))
}

fn summary(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v["order_id"].is_string() => format!(
            "{} order {} of {}",
            v["kind"].as_str().unwrap_or("?"),
            v["order_id"].as_str().unwrap_or_default(),
            v["trader_id"].as_str().unwrap_or("?")
        ),
        _ => format!("unreadable body {body:?}"),
    }
}

/// Moves every message of `dlq_url` to `work_queue_url`; stops when the DLQ answers
/// empty (or gives back a message already moved: a live queue refilling it).
pub async fn redrive(sqs: &Client, dlq_url: &str, work_queue_url: &str) -> anyhow::Result<Vec<Moved>> {
    let mut moved = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(VISIBILITY_SECS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ReceiveMessage {dlq_url}: {}", DisplayErrorContext(&e)))?;
        if out.messages().is_empty() {
            return Ok(moved);
        }
        for m in out.messages() {
            let id = m.message_id().unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) {
                return Ok(moved);
            }
            let (Some(body), Some(handle)) = (m.body(), m.receipt_handle()) else {
                bail!("message {id} of {dlq_url} came without a body or receipt handle");
            };
            sqs.send_message()
                .queue_url(work_queue_url)
                .message_body(body)
                .set_message_attributes(m.message_attributes().cloned())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "SendMessage to {work_queue_url} (message {id}): {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            sqs.delete_message()
                .queue_url(dlq_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "message {id} was sent to the work queue but not deleted from the DLQ (it will be moved again, harmlessly): {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            moved.push(Moved {
                message_id: id,
                summary: summary(body),
            });
        }
    }
}
