//! The floor: the AWS calls of an order's life issued back to back by a bare SDK
//! client (aws-sdk-* only, no code of ours), at the same concurrency, against the
//! same emulator, with items of the same shape and size. It writes to tables, queues
//! and a bus rule of its own (`*-floor-*`, copies of the real tables' schema, stream
//! included) so the functions never see its items.
//!
//! Per order, as `shared` issues them (shared/src/app/*.rs, adapters/aws/*.rs):
//! - submit: GetItem (idempotency key), Query (account), UpdateItem (rate counter),
//!   TransactWriteItems (order, audit, idempotency record, account);
//! - submit's fast path: SendMessage (work) right after its transaction (whole lives
//!   only: our handlers in process run without it);
//! - publish of v1: PutEvents (the order is claimed by then: no backstop); execute: ReceiveMessage,
//!   GetItem, TransactWriteItems (claim: order, audit), PutItem (order locator),
//!   PutItem (working index entry), UpdateItem (the venue budget's request for the
//!   placement), GetItem (re-read after the venue), DeleteMessage; PutEvents v2;
//! - the venue intake books the fill of a marketable order: GetItem (venue alias,
//!   not there yet), UpdateItem (budget: the lookup of the venue order), GetItem
//!   (locator), PutItem (alias), GetItem (order), Query (account),
//!   TransactWriteItems (fill: order, audit, fill, account, position); PutEvents v3;
//!   its sweep: GetItem (order, filled), DeleteItem (working index entry);
//!   the consumer's ReceiveMessage and DeleteMessageBatch on a tap queue (shared
//!   with every worker, as ours).
//! - a resting order instead rests with no call of its own; on the worker's next
//!   turn the cancel: GetItem, Query, TransactWriteItems (order, audit, account),
//!   SendMessage (cancel, the fast path); PutEvents; execute: ReceiveMessage, GetItem, three
//!   UpdateItem (budget: look, cancel, look), PutItem (working entry), DeleteMessage;
//!   the intake's sweep: GetItem (order), UpdateItem (budget: look), TransactWriteItems
//!   (order, audit, account), DeleteItem (working entry); PutEvents v4.
//!
//! Limited to ours (`run`'s `instances`), each function's group of calls above runs
//! in one of that function's `instances` (`gate.rs`): submit, publish (PutEvents and
//! the work message), execute (the poller's receive and delete, claim, placement,
//! the venue cancel's calls), the intake (the fill's booking, its sweep, the cancel's
//! confirmation) and cancel; the tap's reads are the benchmark's, not a function's.
//!
//! Not in the floor (not AWS calls, or not per order): the HTTP hops (client →
//! gateway → cargo lambda watch → function), the venue's HTTP calls, the stream
//! polling of the event-source mappings (GetRecords/GetShardIterator), the intake's
//! calls of each pass (cursor, activities page and open-orders listing budget
//! requests, the working index's shard queries): a fixed cost per pass shared by
//! every order, not per order; and the publish invocations that the budget, locator
//! and working items' stream records cause.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue as Av, BillingMode, GlobalSecondaryIndex, StreamSpecification};
use aws_sdk_eventbridge::types::Target;
use serde_json::json;

pub mod gate;
mod ops;

use crate::mix::{Kind, Mix, Rng};
use crate::stats::Samples;
use crate::tap::{Events, Tap};
use gate::Gates;
use ops::Ops;

type Item = HashMap<String, Av>;

/// The floor's own resources, made once per process.
pub struct Floor {
    pub ddb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub orders: String,
    pub audit: String,
    pub bus: String,
    pub tap_url: String,
    suffix: String,
}

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

/// `#name` → `name` for every placeholder in the expressions (as the adapter names
/// every attribute: `status`, `count` and others are reserved words).
fn names_in(exprs: &[&str]) -> HashMap<String, String> {
    exprs
        .iter()
        .flat_map(|e| e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#')))
        .filter_map(|w| w.strip_prefix('#').map(|name| (w.to_owned(), name.to_owned())))
        .collect()
}

impl Floor {
    /// Copies the real tables' schema (keys, indexes, stream) and makes a tap queue
    /// with a rule on the real bus that matches only the floor's events.
    pub async fn create(real_orders: &str, real_audit: &str, bus: &str) -> anyhow::Result<Self> {
        let sdk = shared::adapters::aws::sdk_config().await;
        let (ddb, sqs) = (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sqs::Client::new(&sdk));
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let suffix = ulid::Ulid::new().to_string().to_lowercase()[20..].to_owned();
        let orders = copy_table(&ddb, real_orders, &format!("{real_orders}-floor-{suffix}")).await?;
        let audit = copy_table(&ddb, real_audit, &format!("{real_audit}-floor-{suffix}")).await?;
        let tap_url = queue(&sqs, &format!("floor-tap-{suffix}")).await?;
        let arn = format!(
            "arn:aws:sqs:{}:123456789012:floor-tap-{suffix}",
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())
        );
        let rule = format!("floor-tap-{suffix}");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(bus)
            .event_pattern(json!({"source": ["orders-floor"]}).to_string())
            .send()
            .await
            .context("floor: PutRule")?;
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus)
            .targets(Target::builder().id("floor-tap").arn(arn).build()?)
            .send()
            .await
            .context("floor: PutTargets")?;
        Ok(Self {
            ddb,
            sqs,
            events,
            orders,
            audit,
            bus: bus.to_owned(),
            tap_url,
            suffix,
        })
    }

    pub async fn work_queue(&self, worker: usize) -> anyhow::Result<String> {
        queue(&self.sqs, &format!("floor-work-{}-{worker}", self.suffix)).await
    }
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .context("floor: CreateQueue")?;
    out.queue_url()
        .map(str::to_owned)
        .context("floor: CreateQueue gave no url")
}

async fn copy_table(ddb: &aws_sdk_dynamodb::Client, from: &str, to: &str) -> anyhow::Result<String> {
    let desc = ddb
        .describe_table()
        .table_name(from)
        .send()
        .await
        .context("floor: DescribeTable")?;
    let t = desc.table().context("floor: DescribeTable gave no table")?;
    let gsis: Vec<GlobalSecondaryIndex> = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| {
            GlobalSecondaryIndex::builder()
                .set_index_name(g.index_name().map(str::to_owned))
                .set_key_schema(Some(g.key_schema().to_vec()))
                .set_projection(g.projection().cloned())
                .build()
                .ok()
        })
        .collect();
    ddb.create_table()
        .table_name(to)
        .set_key_schema(Some(t.key_schema().to_vec()))
        .set_attribute_definitions(Some(t.attribute_definitions().to_vec()))
        .set_global_secondary_indexes(Some(gsis).filter(|g| !g.is_empty()))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(
            t.stream_specification()
                .cloned()
                .or_else(|| StreamSpecification::builder().stream_enabled(false).build().ok()),
        )
        .send()
        .await
        .with_context(|| format!("floor: CreateTable {to}"))?;
    Ok(to.to_owned())
}

/// What one floor run measured.
#[derive(Debug, Default)]
pub struct FloorResult {
    pub submit: Samples,
    pub cancel: Samples,
    /// Submit start → FILLED event received; cancel start → CANCELLED event received.
    pub fill_event: Samples,
    pub cancel_event: Samples,
    pub lifecycles: usize,
    pub calls: usize,
    pub errors: usize,
    pub elapsed: Duration,
}

struct Started {
    id: String,
    kind: Kind,
    at: Instant,
    cancel_at: Option<Instant>,
}

/// `lifecycles` orders over `workers` concurrent workers, in the mix `mix`: whole
/// lives when `lifecycle`, else only the submit and cancel calls (what the submit
/// and cancel functions make, as the in-process run does). With `instances`, the
/// floor limited to ours: each function's calls in one of that many instances, a
/// worker's wait for a free one in its latencies.
pub async fn run(
    floor: &Arc<Floor>,
    workers: usize,
    lifecycles: usize,
    lifecycle: bool,
    instances: Option<usize>,
    mix: Mix,
    seed: u64,
) -> anyhow::Result<FloorResult> {
    let gates = instances.map(|n| Arc::new(Gates::new(n)));
    let tap = Tap::start(crate::tap::client().await, floor.tap_url.clone(), 4);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let (floor, counter, gates) = (floor.clone(), counter.clone(), gates.clone());
        let queue = floor.work_queue(w).await?;
        tasks.push(tokio::spawn(async move {
            let run = WorkerRun {
                lifecycles,
                lifecycle,
                gates: gates.as_deref(),
                mix,
                seed,
            };
            worker(&floor, &queue, w, &counter, &run).await
        }));
    }
    let mut out = FloorResult::default();
    let mut all = Vec::new();
    for t in tasks {
        let (submit, cancel, started, calls, errors) = t.await.context("a floor worker panicked")?;
        out.submit.extend(&submit);
        out.cancel.extend(&cancel);
        out.calls += calls;
        out.errors += errors;
        all.extend(started);
    }
    out.lifecycles = all.len();
    // Every event was put before the worker went on; give the tap a moment to read them.
    let deadline = Instant::now() + Duration::from_secs(if lifecycle { 30 } else { 0 });
    loop {
        let done = {
            let seen = tap.events.lock().unwrap_or_else(|p| p.into_inner());
            all.iter().all(|o| terminal_at(&seen, &o.id).is_some())
        };
        if done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out.elapsed = started.elapsed();
    let events: Events = tap.events.clone();
    out.errors += tap.stop().await as usize;
    let seen = events.lock().unwrap_or_else(|p| p.into_inner());
    for o in &all {
        let Some(end) = terminal_at(&seen, &o.id) else { continue };
        match (o.kind, o.cancel_at) {
            (Kind::RestingLimit, Some(c)) => out.cancel_event.push(end.saturating_duration_since(c)),
            (Kind::RestingLimit, None) => {}
            _ => out.fill_event.push(end.saturating_duration_since(o.at)),
        }
    }
    Ok(out)
}

fn terminal_at(seen: &HashMap<String, Vec<crate::tap::Received>>, id: &str) -> Option<Instant> {
    seen.get(id)?
        .iter()
        .filter(|r| r.status == "FILLED" || r.status == "CANCELLED")
        .map(|r| r.received_at)
        .min()
}

type WorkerOut = (Samples, Samples, Vec<Started>, usize, usize);

/// What every worker of one run shares.
#[derive(Clone, Copy)]
struct WorkerRun<'a> {
    lifecycles: usize,
    lifecycle: bool,
    gates: Option<&'a Gates>,
    mix: Mix,
    seed: u64,
}

async fn worker(floor: &Floor, queue: &str, w: usize, counter: &AtomicUsize, run: &WorkerRun<'_>) -> WorkerOut {
    let WorkerRun {
        lifecycles,
        lifecycle,
        gates,
        mix,
        seed,
    } = *run;
    let mut rng = Rng::new(seed ^ 0xF1002 ^ (w as u64).wrapping_mul(0x9E37_79B9));
    let trader = format!("floor-{w}-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut o = Ops {
        f: floor,
        queue,
        trader: &trader,
        calls: 0,
        errors: 0,
        gates,
    };
    let (mut submit, mut cancel, mut started) = (Samples::default(), Samples::default(), Vec::new());
    o.seed_account().await;
    let mut resting: Option<usize> = None;
    loop {
        let more = counter.fetch_add(1, Ordering::Relaxed) < lifecycles;
        if let Some(i) = resting.take() {
            let st: &mut Started = &mut started[i];
            // Timed from before cancel's gate: the wait for a free instance counts.
            let t0 = Instant::now();
            st.cancel_at = Some(t0);
            // Claimed (version 2) in a whole life; still PENDING (1) otherwise.
            o.cancel(&st.id, if lifecycle { 2 } else { 1 }, lifecycle).await;
            cancel.push(t0.elapsed());
            if lifecycle {
                o.cancel_rest(&st.id).await;
            }
        }
        if !more {
            return (submit, cancel, started, o.calls, o.errors);
        }
        let kind = mix.draw(&mut rng);
        let id = ulid::Ulid::new().to_string();
        // Timed from before submit's gate: the wait for a free instance counts.
        let t0 = Instant::now();
        o.submit(&id, lifecycle).await;
        submit.push(t0.elapsed());
        if lifecycle {
            o.execute(&id, kind).await;
        }
        started.push(Started {
            id,
            kind,
            at: t0,
            cancel_at: None,
        });
        if kind == Kind::RestingLimit {
            resting = Some(started.len() - 1);
        }
    }
}
