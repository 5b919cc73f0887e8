//! `orders-bench calls`: the real use cases, in process, on the real AWS adapters
//! (counted by the SDK interceptor) and the Alpaca adapter pointed at the simulator,
//! wired as `functions/*/src/main.rs` wire them. Each order goes through its
//! lifecycle phase by phase, and the counters are taken after every phase.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::Body;
use lambda_runtime::LambdaEvent;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::adapters::aws::{DynamoStore, EventBridgePublisher, SqsQueue, sdk_config};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue};
use shared::domain::{OrderId, OrderStatus, TraderId};
use shared::ports::{OrderStore, SystemClock};

use crate::counter::Counter;
use crate::private::{Poller, Private, StreamReader};
use crate::report::{Phase, Run};

mod scenarios;
mod sizes;

pub use scenarios::{RESTING, STILL_RESTING};
use scenarios::{cancelled, marketable, resting};

const SUBMIT_EVENT: &str = include_str!("../../../events/submit-order.json");
const CANCEL_EVENT: &str = include_str!("../../../events/cancel-order.json");
/// How long a work message may take to show up (re-checks are delayed).
const RECEIVE_WITHIN: Duration = Duration::from_secs(30);

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} is not set (run against the stack env)"))
}

struct Bench {
    submit: submit::Submit,
    cancel: cancel::Cancel,
    publish: publish::Publish,
    /// Re-checks 1 s later (resting orders) and 3 s later (the cancel scenario, so
    /// its cancel message is handled before the re-check).
    execute_fast: execute::Execute,
    execute_slow: execute::Execute,
    counted: Counter,
    poller_counter: Counter,
    stream: StreamReader,
    poller: Poller,
    admin: DynamoStore,
    http: reqwest::Client,
    simulator: String,
    phases: Vec<Phase>,
    idle_receives: u64,
    /// Work messages handled, by scenario and kind.
    kinds: HashMap<(&'static str, String), usize>,
}

impl Bench {
    fn phase(&mut self, scenario: &'static str, name: &'static str) -> &mut Phase {
        let at = match self
            .phases
            .iter()
            .position(|p| p.scenario == scenario && p.name == name)
        {
            Some(i) => i,
            None => {
                self.phases.push(Phase::new(scenario, name));
                self.phases.len() - 1
            }
        };
        &mut self.phases[at]
    }

    /// Adds what the counters saw since the last take to `phase`.
    fn record(&mut self, scenario: &'static str, name: &'static str, function: &'static str, took: Duration) {
        let calls = self.counted.take();
        let mut poller = self.poller_counter.take();
        // Empty long polls are the poller's idle cost, not this order's.
        let idle = std::mem::take(&mut self.idle_receives);
        for map in [&mut poller.calls, &mut poller.attempts] {
            if let Some(n) = map.iter_mut().find(|(op, _)| op.1 == "ReceiveMessage").map(|(_, n)| n) {
                *n = n.saturating_sub(idle);
            }
        }
        let p = self.phase(scenario, name);
        p.calls.add(&calls);
        p.poller.add(&poller);
        p.idle_receives += idle;
        *p.invocations.entry(function).or_default() += 1;
        *p.millis.entry(function).or_default() += took.as_secs_f64() * 1000.0;
    }

    async fn trader(&self) -> anyhow::Result<TraderId> {
        let id = TraderId::parse(&format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase()))?;
        self.admin.fund_account(&id, Decimal::from(1_000_000), None).await?;
        Ok(id)
    }

    async fn set_price(&self, symbol: &str, price: &str) -> anyhow::Result<()> {
        let url = format!("{}/_sim/prices", self.simulator.trim_end_matches('/'));
        let mut body = serde_json::Map::new();
        body.insert(symbol.to_owned(), json!(price));
        let res = self.http.post(&url).json(&body).send().await?;
        ensure!(res.status().is_success(), "POST {url}: {}", res.status());
        Ok(())
    }

    async fn submit(&mut self, sc: &'static str, trader: &TraderId, order: Value) -> anyhow::Result<OrderId> {
        let mut v: Value = serde_json::from_str(SUBMIT_EVENT)?;
        v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(trader.to_string());
        v["requestContext"]["requestId"] = json!(ulid::Ulid::new().to_string());
        v["headers"]["idempotency-key"] = json!(ulid::Ulid::new().to_string());
        v["body"] = json!(order.to_string());
        let req = lambda_http::request::from_str(&v.to_string())?;
        let start = Instant::now();
        let res = self.submit.handle(req).await;
        self.record(sc, "submit (HTTP API → submit)", "submit", start.elapsed());
        let body = match res.body() {
            Body::Text(t) => t.clone(),
            other => bail!("submit answered a non-text body {other:?}"),
        };
        ensure!(res.status() == 201, "submit answered {}: {body}", res.status());
        let reply: Value = serde_json::from_str(&body)?;
        Ok(OrderId::parse(reply["order_id"].as_str().unwrap_or_default())?)
    }

    async fn cancel(&mut self, sc: &'static str, trader: &TraderId, id: &OrderId) -> anyhow::Result<()> {
        let mut v: Value = serde_json::from_str(CANCEL_EVENT)?;
        v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(trader.to_string());
        v["pathParameters"]["id"] = json!(id.to_string());
        let path = format!("/api/v1/orders/{id}/cancel");
        v["rawPath"] = json!(path);
        v["requestContext"]["http"]["path"] = json!(path);
        let req = lambda_http::request::from_str(&v.to_string())?;
        let start = Instant::now();
        let res = self.cancel.handle(req).await;
        self.record(sc, "cancel (HTTP API → cancel)", "cancel", start.elapsed());
        ensure!(
            res.status() == 200,
            "cancel answered {}: {:?}",
            res.status(),
            res.body()
        );
        Ok(())
    }

    /// One publish invocation with every stream record committed since the last one.
    async fn publish(&mut self, sc: &'static str, phase: &'static str) -> anyhow::Result<usize> {
        let records = self.stream.drain().await?;
        if records.is_empty() {
            return Ok(0);
        }
        let n = records.len();
        let sample = records.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n");
        let event = LambdaEvent::new(
            serde_json::from_value(json!({ "Records": records }))?,
            lambda_runtime::Context::default(),
        );
        let start = Instant::now();
        let res = self
            .publish
            .handle(event)
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        self.record(sc, phase, "publish", start.elapsed());
        ensure!(
            res.batch_item_failures.is_empty(),
            "publish failed a record: {res:?} (records: {sample})"
        );
        Ok(n)
    }

    /// Receives one work message (batch 1), runs execute on it as Lambda's SQS event,
    /// deletes it, and books the calls to the phase its kind names. Returns the kind.
    async fn execute(
        &mut self,
        sc: &'static str,
        slow: bool,
        phase_of: impl Fn(&str) -> &'static str,
    ) -> anyhow::Result<String> {
        let (messages, empty) = self
            .poller
            .receive(1, RECEIVE_WITHIN)
            .await
            .with_context(|| format!("{sc}: waiting for the work of `{}`", phase_of("")))?;
        self.idle_receives += u64::from(empty);
        let body: Value = serde_json::from_str(messages[0].body().unwrap_or_default())?;
        let kind = body["kind"].as_str().unwrap_or_default().to_owned();
        let event: SqsEvent = serde_json::from_value(self.poller.event(&messages))?;
        let handler = if slow { &self.execute_slow } else { &self.execute_fast };
        let start = Instant::now();
        let res = handler.handle(event).await;
        let took = start.elapsed();
        ensure!(
            res.batch_item_failures.is_empty(),
            "execute failed {kind} message {body}"
        );
        self.poller.delete(&messages.iter().collect::<Vec<_>>()).await?;
        self.record(sc, phase_of(&kind), "execute", took);
        *self.kinds.entry((sc, kind.clone())).or_default() += 1;
        Ok(kind)
    }

    fn seen(&self, scenario: &'static str, kind: &str) -> usize {
        self.kinds.get(&(scenario, kind.to_owned())).copied().unwrap_or(0)
    }

    async fn status(&self, trader: &TraderId, id: &OrderId) -> anyhow::Result<OrderStatus> {
        let order = self
            .admin
            .get_order(trader, id)
            .await?
            .with_context(|| format!("order {id} is gone"))?;
        Ok(order.status)
    }
}

pub async fn run(orders: usize) -> anyhow::Result<Run> {
    let sdk = sdk_config().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let plain_ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let plain_sqs = aws_sdk_sqs::Client::new(&sdk);
    let plain_events = aws_sdk_eventbridge::Client::new(&sdk);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let private = Private::create(
        &plain_ddb,
        &plain_sqs,
        &plain_events,
        &env("ORDERS_TABLE")?,
        &env("AUDIT_TABLE")?,
        &suffix,
    )
    .await?;
    let result = run_on(&sdk, &region, &private, orders).await;
    let sizes = match &result {
        Ok(phases) => sizes::item_sizes(&plain_ddb, phases).await,
        Err(_) => Ok(HashMap::new()),
    };
    private.delete(&plain_ddb, &plain_sqs, &plain_events).await;
    Ok(Run {
        orders,
        phases: result?,
        sizes: sizes?,
    })
}

async fn run_on(
    sdk: &aws_config::SdkConfig,
    region: &str,
    private: &Private,
    orders: usize,
) -> anyhow::Result<Vec<Phase>> {
    let counted = Counter::default();
    let poller_counter = Counter::default();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(counted.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(counted.clone())
            .build(),
    );
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(sdk)
            .interceptor(counted.clone())
            .build(),
    );
    let poller_sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(poller_counter.clone())
            .build(),
    );
    let simulator = env("SIMULATOR_URL")?;
    let venue_config = AlpacaConfig::from_lookup(|name| match name {
        "VENUE_BASE_URL" => Some(simulator.clone()),
        "VENUE_API_KEY_ID" | "VENUE_API_SECRET_KEY" => std::env::var(name).ok().or(Some("local".into())),
        _ => std::env::var(name).ok(),
    })?;
    let intake = Arc::new(shared::adapters::aws::DynamoIntakeStore::new(
        ddb.clone(),
        &private.orders_table,
    ));
    let store: Arc<DynamoStore> = Arc::new(DynamoStore::new(ddb, &private.orders_table, &private.audit_table));
    let venue = Arc::new(AlpacaVenue::new(&venue_config)?);
    let queue = Arc::new(SqsQueue::new(sqs, &private.queue_url));
    // The argument was the re-check delay; execute no longer schedules re-checks.
    let execute = |_: u32| execute::Execute {
        intake: intake.clone(),
        store: store.clone(),
        venue: venue.clone(),
        queue: queue.clone(),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        backoff_base_ms: execute::BACKOFF_BASE_MS,
        policy: Default::default(),
    };
    let mut b = Bench {
        submit: submit::Submit {
            store: store.clone(),
            clock: Arc::new(SystemClock),
            pricing: shared::config::pricing_from_env()?,
        },
        cancel: cancel::Cancel {
            store: store.clone(),
            clock: Arc::new(SystemClock),
        },
        publish: publish::Publish {
            events: Arc::new(EventBridgePublisher::new(events, private.event_bus.clone())),
            queue: queue.clone(),
        },
        execute_fast: execute(1),
        execute_slow: execute(3),
        counted,
        poller_counter,
        stream: StreamReader::new(aws_sdk_dynamodbstreams::Client::new(sdk), &private.stream_arn, region),
        poller: Poller {
            client: poller_sqs,
            queue_url: private.queue_url.clone(),
            queue_arn: private.queue_arn.clone(),
            region: region.to_owned(),
        },
        admin: DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &private.orders_table,
            &private.audit_table,
        ),
        http: reqwest::Client::new(),
        simulator: simulator.clone(),
        phases: Vec::new(),
        idle_receives: 0,
        kinds: HashMap::new(),
    };
    // Funding accounts writes to the stream too: those records are not an order's.
    marketable(&mut b, orders).await?;
    resting(&mut b, orders).await?;
    cancelled(&mut b, orders).await?;
    Ok(b.phases)
}
