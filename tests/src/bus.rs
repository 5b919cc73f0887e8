//! A tap on the event bus for end-to-end tests: a queue and a rule for one trader's
//! `orders` events of some detail-types. Every envelope received is appended to
//! `$STACK_LOG_DIR/bus-events.jsonl` (channel `bus`), which `tools/check_asyncapi.py`
//! checks against infra/asyncapi.yaml.

use std::io::Write;

use aws_sdk_eventbridge::types::Target;
use serde_json::{Value, json};
use shared::domain::TraderId;

use crate::Stack;

/// A queue with a rule on the bus for `trader`'s events of `detail_types`.
pub struct BusTap {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl BusTap {
    pub async fn new(s: &Stack, trader: &TraderId, detail_types: &[&str]) -> BusTap {
        let config = shared::adapters::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let name = format!("tap-{}", ulid::Ulid::new().to_string().to_lowercase());
        let url = sqs.create_queue().queue_name(&name).send().await.unwrap();
        let url = url.queue_url().unwrap().to_owned();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .unwrap();
        let pattern = json!({"source": ["orders"], "detail-type": detail_types,
            "detail": {"trader_id": [trader.as_str()]}});
        let bus = &s.resources.event_bus_name;
        events
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(Target::builder().id("tap").arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
        BusTap { sqs, url }
    }

    /// One receive (a 1 s long poll): the envelopes, recorded for the AsyncAPI check.
    pub async fn receive(&self, into: &mut Vec<Value>) {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let envelope: Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
            record(&envelope);
            into.push(envelope);
            if let Some(h) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(h)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn record(envelope: &Value) {
    let Ok(dir) = std::env::var("STACK_LOG_DIR") else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/bus-events.jsonl"))
    {
        let line = format!(
            "{}\n",
            json!({"channel": "bus", "direction": "receive", "message": envelope})
        );
        let _ = f.write_all(line.as_bytes());
    }
}
