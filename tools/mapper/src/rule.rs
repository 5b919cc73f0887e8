//! An EventBridge rule's Lambda target, locally (issue 18: `FanoutRule` → the fan-out).
//! The emulator cannot invoke a function, so the rule gets a local queue as its target
//! (scripts/lib.sh) and this polls it, invoking the function with each event as
//! EventBridge would (the event itself, one per invocation, asynchronously; in no
//! promised order, as EventBridge promises none), at most `concurrency` at once, each
//! event as soon as a slot is free (never waiting for the other events of its receive).
//! As Lambda's asynchronous invocation does, a failed invocation is retried twice (the
//! message comes back after a second), then the event goes to the on-failure
//! destination (`FanoutFailureQueue`), never dropped.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::invoke::Invoker;

/// Lambda's asynchronous invocation: the first try and two retries (EventInvokeConfig).
const ATTEMPTS: u32 = 3;

/// SQS's most messages per receive.
const RECEIVE_MAX: usize = 10;

pub struct RuleTarget {
    pub client: Client,
    pub invoker: Invoker,
    pub queue_url: String,
    pub function: String,
    pub on_failure_url: Option<String>,
    /// Invocations in flight at most: the function's instances under `cargo lambda
    /// watch` (more would queue inside it, and a large burst stalls its dispatcher).
    pub concurrency: usize,
}

impl RuleTarget {
    /// Invokes each event as soon as an invocation slot is free, so that a slow
    /// invocation holds up no event but its own (a receive's events are not waited for
    /// together). Up to `RECEIVE_MAX` received events wait for a slot in order, as in
    /// Lambda's own queue of asynchronous invocations: a freed slot never waits for a
    /// receive from the (busy) emulator.
    pub async fn run(self) {
        tracing::info!(queue = %self.queue_url, function = %self.function, concurrency = self.concurrency,
            "delivering the rule's events");
        let this = Arc::new(self);
        let (tx, mut rx) = mpsc::channel::<Message>(RECEIVE_MAX);
        let receiver = this.clone();
        tokio::spawn(async move {
            loop {
                // Room for one at least, then as many as there is room for.
                let Ok(first) = tx.reserve().await else { return };
                let room = tx.capacity() + 1;
                match receiver.receive(room).await {
                    Ok(messages) => {
                        let mut messages = messages.into_iter();
                        if let Some(m) = messages.next() {
                            first.send(m);
                        }
                        for m in messages {
                            // Never full: this is the only sender and there was room.
                            if tx.send(m).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        drop(first);
                        tracing::warn!(queue = %receiver.queue_url, error = %e, "receive failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let slots = Arc::new(Semaphore::new(this.concurrency.max(1)));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let Some(message) = rx.recv().await else {
                return;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.deliver(&message).await;
                drop(slot);
            });
        }
    }

    async fn receive(&self, at_most: usize) -> anyhow::Result<Vec<Message>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(at_most.clamp(1, RECEIVE_MAX)).unwrap_or(1))
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn deliver(&self, message: &Message) {
        let receipt = message.receipt_handle().unwrap_or_default();
        let receives: u32 = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let event: Value = match serde_json::from_str(message.body().unwrap_or_default()) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "not an event: to the on-failure destination");
                self.give_up(message, &json!(message.body()), &e.to_string()).await;
                return;
            }
        };
        let stages = crate::stages::global();
        let key = crate::stages::event_key(&event).map(|(o, v)| (o.to_owned(), v));
        if let Some((order, version)) = &key {
            let sent = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok());
            if let Some(sent) = sent {
                stages.record("bus_put", order, *version, sent);
            }
            stages.record("fanout_invoked", order, *version, crate::stages::unix_ms_now());
        }
        let outcome = self.invoker.invoke(&self.function, &event).await;
        if let Some((order, version)) = &key {
            stages.record("fanout_done", order, *version, crate::stages::unix_ms_now());
        }
        match outcome {
            Ok(_) => {
                let _ = self
                    .client
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await;
            }
            Err(e) if receives < ATTEMPTS => {
                tracing::warn!(function = %self.function, attempt = receives, error = %e, "invocation failed; retried");
                let _ = self
                    .client
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(1)
                    .send()
                    .await;
            }
            Err(e) => {
                tracing::error!(function = %self.function, error = %e, "invocation failed after its retries");
                self.give_up(message, &event, &e.to_string()).await;
            }
        }
    }

    /// The on-failure destination's record (Lambda's shape: the request and the error),
    /// then the message is deleted; without a destination the message stays (and is logged).
    async fn give_up(&self, message: &Message, event: &Value, error: &str) {
        let Some(url) = &self.on_failure_url else {
            tracing::error!("no on-failure destination: the event stays in the rule's queue");
            return;
        };
        let record = json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted",
            "approximateInvokeCount": ATTEMPTS, "functionArn": self.function}, "requestPayload": event,
            "responsePayload": {"errorMessage": error}});
        let sent = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(record.to_string())
            .send()
            .await;
        if sent.is_ok() {
            let _ = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await;
        }
    }
}
