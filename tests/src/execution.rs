//! What the execution tests need besides HTTP: the exchange simulator's `/_sim`
//! knobs, the emulator's `/_faults`, raw work messages on the queue, and a tap of
//! the status events for one trader (a queue of the test's own, fed by a rule on
//! the bus that matches only that trader, so parallel tests never see each
//! other's events).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_eventbridge::types::Target;
use serde_json::Value;
use shared::domain::TraderId;
use shared::ports::WorkMessage;

use crate::Stack;

/// One `Order Status Changed` event as the bus delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub order_id: String,
    pub version: u64,
    pub previous: Option<String>,
    pub status: String,
}

pub struct Tap {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Tap {
    /// One receive (up to 10, a 1 s long poll): each event is appended to `seen` in
    /// arrival order and deleted from the queue.
    pub async fn receive(&self, seen: &mut Vec<Seen>) -> anyhow::Result<()> {
        let (sqs, url) = (&self.sqs, &self.url);
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for m in out.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap_or_default())?;
            let d = &body["detail"];
            seen.push(Seen {
                order_id: d["order_id"].as_str().unwrap_or_default().to_owned(),
                version: d["version"].as_u64().unwrap_or_default(),
                previous: d["previous_status"].as_str().map(str::to_owned),
                status: d["new_status"].as_str().unwrap_or_default().to_owned(),
            });
            if let Some(h) = m.receipt_handle() {
                sqs.delete_message().queue_url(url).receipt_handle(h).send().await?;
            }
        }
        Ok(())
    }
}

impl Stack {
    fn simulator(&self) -> anyhow::Result<String> {
        std::env::var("SIMULATOR_URL").context("SIMULATOR_URL is not set: make test starts the simulator")
    }

    /// POSTs `body` to a knob endpoint; a refusal is an error with its answer.
    async fn post_knobs(&self, url: String, body: &Value) -> anyhow::Result<()> {
        let r = self.http.post(&url).json(body).send().await?;
        if !r.status().is_success() {
            bail!("POST {url} {body}: {}", r.text().await?);
        }
        Ok(())
    }

    /// `POST /_sim/config` with some knobs (`{"error_rate": 0.2}`).
    pub async fn sim_config(&self, knobs: Value) -> anyhow::Result<()> {
        self.post_knobs(format!("{}/_sim/config", self.simulator()?), &knobs)
            .await
    }

    /// `POST /_sim/prices` (`{"RESTX": "89"}`): moves symbols now, crossing resting orders.
    pub async fn sim_prices(&self, prices: Value) -> anyhow::Result<()> {
        self.post_knobs(format!("{}/_sim/prices", self.simulator()?), &prices)
            .await
    }

    /// The simulator's orders for one client order id (= our order id).
    pub async fn sim_orders(&self, order_id: &str) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/_sim/orders?client_order_id={order_id}", self.simulator()?);
        let body: Value = self.http.get(url).send().await?.json().await?;
        Ok(body["orders"].as_array().cloned().unwrap_or_default())
    }

    /// How many times a function looked `order_id` up at the venue by client order id
    /// (`GET /v2/orders:by_client_order_id`), from the simulator's recording of every
    /// exchange (`$STACK_LOG_DIR/venue-exchanges.jsonl`).
    pub fn venue_lookups(&self, order_id: &str) -> anyhow::Result<usize> {
        let dir = std::env::var("STACK_LOG_DIR").context("STACK_LOG_DIR is not set: make test starts the stack")?;
        let path = std::path::Path::new(&dir).join("venue-exchanges.jsonl");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let wanted = format!("client_order_id={order_id}");
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|x| x["route"] == "GET /v2/orders:by_client_order_id")
            .filter(|x| x["query"].as_str().is_some_and(|q| q.contains(&wanted)))
            .count())
    }

    /// The venue's orders for `order_id` once it has at least one, polling until
    /// `timeout`: a claimed order reaches the venue a moment later, or later still
    /// when the venue budget holds it for the next window.
    pub async fn wait_at_venue(&self, order_id: &str, timeout: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let orders = self.sim_orders(order_id).await?;
            if !orders.is_empty() {
                return Ok(orders);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("order {order_id} did not reach the venue within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /_faults` on the emulator (`{"put_events": "error"}`).
    pub async fn emulator_faults(&self, faults: Value) -> anyhow::Result<()> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL")?;
        self.post_knobs(format!("{endpoint}/_faults"), &faults).await
    }

    /// Sends a work message straight to the work queue (a redelivery, as SQS may make).
    pub async fn send_work(&self, message: &WorkMessage) -> anyhow::Result<()> {
        let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::sdk_config().await);
        sqs.send_message()
            .queue_url(&self.resources.work_queue_url)
            .message_body(serde_json::to_string(message)?)
            .send()
            .await?;
        Ok(())
    }

    /// Polls `GET /orders/{id}` until its status is one of `statuses`.
    pub async fn wait_for_status(
        &self,
        trader: &TraderId,
        order_id: &str,
        statuses: &[&str],
        within: Duration,
    ) -> anyhow::Result<Value> {
        let token = self.token(trader);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let r = self.get(&format!("/orders/{order_id}"), &token).await?;
            if r.status == 200 && statuses.iter().any(|s| r.body["status"] == *s) {
                return Ok(r.body);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("order {order_id} not in {statuses:?} after {within:?}: {}", r.body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A tap of `trader`'s status events.
    pub async fn tap(&self, trader: &TraderId) -> anyhow::Result<Tap> {
        let config = shared::adapters::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let name = format!("tap-{}", ulid::Ulid::new().to_string().to_lowercase());
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await?
            .queue_url()
            .context("queue url")?
            .to_owned();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .context("queue arn")?;
        let pattern = serde_json::json!({
            "source": ["orders"],
            "detail-type": ["Order Status Changed"],
            "detail": {"trader_id": [trader.as_str()]},
        });
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&self.resources.event_bus_name)
            .event_pattern(pattern.to_string())
            .send()
            .await?;
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&self.resources.event_bus_name)
            .targets(Target::builder().id("tap").arn(arn).build()?)
            .send()
            .await?;
        Ok(Tap { sqs, url })
    }
}

impl Tap {
    /// Reads events until every order of `expected` (order id → highest version)
    /// has reached its version, or `within` passes. Duplicates are kept (at least
    /// once); the result is in arrival order.
    pub async fn collect(&self, expected: &BTreeMap<String, u64>, within: Duration) -> anyhow::Result<Vec<Seen>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen: Vec<Seen> = Vec::new();
        loop {
            let done = expected
                .iter()
                .all(|(order, v)| seen.iter().any(|s| &s.order_id == order && s.version >= *v));
            if done {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("events after {within:?}: {seen:?}; expected up to {expected:?}");
            }
            self.receive(&mut seen).await?;
        }
    }

    /// As [`Tap::collect`], but waits for every version 1..=v of each order, not only
    /// its last: a re-announcement of earlier versions (`orders-admin redrive-stream`)
    /// can arrive after the last version's own event.
    pub async fn collect_every_version(
        &self,
        expected: &BTreeMap<String, u64>,
        within: Duration,
    ) -> anyhow::Result<Vec<Seen>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen: Vec<Seen> = Vec::new();
        loop {
            let done = expected
                .iter()
                .all(|(order, last)| (1..=*last).all(|v| seen.iter().any(|s| &s.order_id == order && s.version == v)));
            if done {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("events after {within:?}: {seen:?}; expected every version up to {expected:?}");
            }
            self.receive(&mut seen).await?;
        }
    }
}
