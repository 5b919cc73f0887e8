//! `DeadLetters` on SQS: the work queue's dead-letter queue. The depth is read from
//! the queue's attributes (no message is received to count them). The redrive is the
//! receive / send / delete loop `orders-admin redrive` runs, bounded per call: SQS
//! `StartMessageMoveTask` would do it server-side, but the local emulator does not
//! implement it. A moved message is a new message of the work queue, so it gets the
//! whole retry budget again.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Builder as ConfigBuilder;
use aws_sdk_sqs::types::QueueAttributeName;

use super::sqs::{long_poll_timeouts, unavailable};
use crate::ports::{DeadLetterDepth, DeadLetters, QueueError, Redriven};

/// ReceiveMessage returns at most 10 messages.
const BATCH: u32 = 10;
/// Hidden while being moved; a message not moved in that time is visible again.
const VISIBILITY_SECS: i32 = 60;
/// A short long poll: SQS's short poll samples servers and may answer empty while
/// messages wait.
const WAIT_SECS: u32 = 1;

#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    dead_letter_queue_url: String,
    work_queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, dead_letter_queue_url: impl Into<String>, work_queue_url: impl Into<String>) -> Self {
        Self {
            client,
            dead_letter_queue_url: dead_letter_queue_url.into(),
            work_queue_url: work_queue_url.into(),
        }
    }
}

fn count(attrs: Option<&std::collections::HashMap<QueueAttributeName, String>>, name: &QueueAttributeName) -> u64 {
    attrs
        .and_then(|a| a.get(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letter_depth(&self) -> Result<DeadLetterDepth, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dead_letter_queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(DeadLetterDepth {
            messages: count(out.attributes(), &QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(
                out.attributes(),
                &QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
        })
    }

    async fn redrive_dead_letters(&self, max: u32) -> Result<Redriven, QueueError> {
        let mut moved = 0;
        let mut seen = HashSet::new();
        while moved < max {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dead_letter_queue_url)
                .max_number_of_messages((max - moved).min(BATCH) as i32)
                .visibility_timeout(VISIBILITY_SECS)
                .wait_time_seconds(WAIT_SECS as i32)
                .message_attribute_names("All")
                .customize()
                .config_override(ConfigBuilder::default().timeout_config(long_poll_timeouts(&self.client, WAIT_SECS)))
                .send()
                .await
                .map_err(unavailable)?;
            if out.messages().is_empty() {
                return Ok(Redriven { moved, more: false });
            }
            for m in out.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                // The same message again: something refills the queue as fast as this
                // empties it; stop and let the caller look.
                if !seen.insert(id.clone()) {
                    return Ok(Redriven { moved, more: true });
                }
                let (Some(body), Some(handle)) = (m.body(), m.receipt_handle()) else {
                    return Err(QueueError::Unavailable(format!(
                        "dead-lettered message {id} came without a body or receipt handle"
                    )));
                };
                self.client
                    .send_message()
                    .queue_url(&self.work_queue_url)
                    .message_body(body)
                    .set_message_attributes(m.message_attributes().cloned())
                    .send()
                    .await
                    .map_err(unavailable)?;
                self.client
                    .delete_message()
                    .queue_url(&self.dead_letter_queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(unavailable)?;
                moved += 1;
            }
        }
        Ok(Redriven { moved, more: true })
    }
}
