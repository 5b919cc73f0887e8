// Long because: the wiring of every handler as the functions wire them plus the driver of each phase; the
// scenarios themselves live in calls/scenarios.rs.
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
use shared::adapters::aws::{
    DynamoIntakeStore, DynamoStore, DynamoVenueBudget, EventBridgePublisher, SqsQueue, sdk_config,
};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue, BudgetedVenue};
use shared::domain::audit::sha256_hex;
use shared::domain::{OrderId, OrderStatus, TraderId};
use shared::ports::{Clock, FeedPosition, IntakeStore, OrderStore, SystemClock};

use crate::counter::Counter;
use crate::private::{Poller, Private, StreamReader};
use crate::report::{Phase, Run};

mod scenarios;
mod sizes;

pub use scenarios::{INTAKE_FIXED, RESTING, STILL_RESTING};
use scenarios::{cancelled, intake_fixed, marketable, resting};

const SUBMIT_EVENT: &str = include_str!("../../../events/submit-order.json");
const CANCEL_EVENT: &str = include_str!("../../../events/cancel-order.json");
/// How long a work message may take to show up.
const RECEIVE_WITHIN: Duration = Duration::from_secs(30);
/// How long the venue may take to show what a scenario waits for (a fill, a cancel).
const VENUE_WITHIN: Duration = Duration::from_secs(30);

/// The budget's rate: the functions' `VENUE_RATE_LIMIT_PER_MIN` when set, else the
/// local stacks' figure (the simulator's limit there, `scripts/lib.sh`), not Alpaca's
/// 200: the bench counts AWS calls and must not wait on the venue's windows.
fn venue_rate() -> anyhow::Result<shared::ports::VenueRate> {
    if std::env::var_os("VENUE_RATE_LIMIT_PER_MIN").is_none() {
        return Ok(shared::ports::VenueRate {
            per_minute: 6000,
            window_secs: shared::ports::VenueRate::ALPACA.window_secs,
        });
    }
    Ok(shared::config::venue_rate_from_env()?)
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} is not set (run against the stack env)"))
}

struct Bench {
    submit: submit::Submit,
    cancel: cancel::Cancel,
    publish: publish::Publish,
    execute: execute::Execute,
    /// The venue intake's handler (`functions/intake`), one pass at a time.
    intake: intake::Intake,
    /// The working index as the sweep reads it, through an uncounted client: the
    /// bench's own look, to know when the sweep has ended every order.
    working: shared::adapters::aws::DynamoIntakeStore,
    counted: Counter,
    poller_counter: Counter,
    stream: StreamReader,
    poller: Poller,
    admin: DynamoStore,
    http: reqwest::Client,
    simulator: String,
    phases: Vec<Phase>,
    idle_receives: u64,
    /// The orders table's indexes (and its key attributes): what the writes the
    /// stream shows cost them is billed to [`INDEX_WRITES`].
    indexes: Vec<crate::units::Index>,
    table_keys: Vec<String>,
}

/// The phase of the orders table's index writes: every write of the phases before it
/// that put, changed or removed an item of an index, as the stream's images show it.
pub const INDEX_WRITES: &str = "the orders table's index writes (for the writes above)";

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
        let index = crate::units::index_units(&self.indexes, &self.table_keys, &records);
        let p = self.phase(sc, INDEX_WRITES);
        for (name, (wru, writes)) in index {
            let e = p.index.entry(name).or_default();
            e.0 += wru;
            e.1 += writes;
        }
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
    async fn execute(&mut self, sc: &'static str, phase_of: impl Fn(&str) -> &'static str) -> anyhow::Result<String> {
        let (messages, empty) = self
            .poller
            .receive(1, RECEIVE_WITHIN)
            .await
            .with_context(|| format!("{sc}: waiting for the work of `{}`", phase_of("")))?;
        self.idle_receives += u64::from(empty);
        let body: Value = serde_json::from_str(messages[0].body().unwrap_or_default())?;
        let kind = body["kind"].as_str().unwrap_or_default().to_owned();
        let event: SqsEvent = serde_json::from_value(self.poller.event(&messages))?;
        let start = Instant::now();
        let res = self.execute.handle(event).await;
        let took = start.elapsed();
        ensure!(
            res.batch_item_failures.is_empty(),
            "execute failed {kind} message {body}"
        );
        self.poller.delete(&messages.iter().collect::<Vec<_>>()).await?;
        self.record(sc, phase_of(&kind), "execute", took);
        Ok(kind)
    }

    /// One pass of the venue intake (`statuses`: with the reconciliation sweep), its
    /// calls booked to `phase` as one intake invocation.
    async fn intake_pass(
        &mut self,
        sc: &'static str,
        phase: &'static str,
        statuses: bool,
    ) -> anyhow::Result<shared::app::PassReport> {
        let start = Instant::now();
        let report = self
            .intake
            .pass(statuses)
            .await
            .map_err(|e| anyhow::anyhow!("{sc}: intake pass: {e}"))?;
        self.record(sc, phase, "intake", start.elapsed());
        tracing::info!(scenario = sc, phase, ?report, "intake pass");
        Ok(report)
    }

    /// Intake passes with the sweep (booked to `phase`) until every order of `orders` is
    /// `want` and the working index is empty (the sweep took them out), each pass's
    /// stream records published (booked to `publish_phase`). At least one pass.
    async fn intake_until(
        &mut self,
        sc: &'static str,
        phase: &'static str,
        orders: &[(TraderId, OrderId)],
        want: OrderStatus,
    ) -> anyhow::Result<u32> {
        let deadline = Instant::now() + VENUE_WITHIN;
        let mut passes = 0;
        loop {
            self.intake_pass(sc, phase, true).await?;
            passes += 1;
            self.publish(sc, scenarios::PUBLISH).await?;
            let mut done = self.working.working_orders().await?.is_empty();
            for (trader, id) in orders {
                if !done {
                    break;
                }
                done = self.status(trader, id).await? == want;
            }
            if done {
                return Ok(passes);
            }
            ensure!(
                Instant::now() < deadline,
                "{sc}: after {passes} intake passes in {VENUE_WITHIN:?}, not every order is {want} and out of the working index"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
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
    let intake = Arc::new(DynamoIntakeStore::new(ddb.clone(), &private.orders_table));
    let store: Arc<DynamoStore> = Arc::new(DynamoStore::new(
        ddb.clone(),
        &private.orders_table,
        &private.audit_table,
    ));
    // As the functions wire it: every venue call first takes a request from the
    // deployment's budget (one counted UpdateItem on the orders table).
    let alpaca = AlpacaVenue::new(&venue_config)?;
    let key_id = alpaca.key_id();
    let venue = Arc::new(BudgetedVenue::new(
        alpaca,
        Arc::new(DynamoVenueBudget::new(ddb.clone(), &private.orders_table)),
        key_id.clone(),
        venue_rate()?,
        Arc::new(SystemClock),
    ));
    let queue = Arc::new(SqsQueue::new(sqs, &private.queue_url));
    let feed_key = sha256_hex(key_id.as_bytes())[..16].to_owned();
    // The intake reads the venue's executions from now on (the cursor written here,
    // uncounted): the simulator's earlier executions are no order of this run's.
    let working = DynamoIntakeStore::new(aws_sdk_dynamodb::Client::new(sdk), &private.orders_table);
    working
        .advance_feed_cursor(&feed_key, 0, &FeedPosition::Since { at: SystemClock.now() })
        .await?;
    let mut b = Bench {
        submit: submit::Submit {
            store: store.clone(),
            clock: Arc::new(SystemClock),
            pricing: shared::config::pricing_from_env()?,
            market_data: None,
            queue: Some(queue.clone()),
        },
        cancel: cancel::Cancel {
            store: store.clone(),
            clock: Arc::new(SystemClock),
            queue: Some(queue.clone()),
        },
        publish: publish::Publish {
            events: Arc::new(EventBridgePublisher::new(events, private.event_bus.clone())),
            queue: queue.clone(),
            orders: store.clone(),
            intake: intake.clone(),
        },
        execute: execute::Execute {
            intake: intake.clone(),
            store: store.clone(),
            venue: venue.clone(),
            queue: queue.clone(),
            clock: Arc::new(SystemClock),
            max_receives: 8,
            backoff_base_ms: execute::BACKOFF_BASE_MS,
            policy: Default::default(),
        },
        // The template's settings (page size, alarm time); `poll` and `status_every`
        // are the bench's to drive, pass by pass.
        intake: intake::Intake {
            store: store.clone(),
            attention: store.clone(),
            intake: intake.clone(),
            feed: venue.clone(),
            venue: venue.clone(),
            clock: Arc::new(SystemClock),
            feed_key,
            poll: Duration::from_secs(2),
            lookback: Duration::from_secs(3600),
            page_size: 100,
            unknown_status_alarm_secs: 600,
            status_every: 5,
        },
        working,
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
        indexes: private.indexes.clone(),
        table_keys: private.table_keys.clone(),
    };
    // Funding accounts writes to the stream too: those records are not an order's.
    marketable(&mut b, orders).await?;
    resting(&mut b, orders).await?;
    cancelled(&mut b, orders).await?;
    intake_fixed(&mut b).await?;
    Ok(b.phases)
}
