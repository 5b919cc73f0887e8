//! The floor: the AWS calls of an order's life issued back to back by a bare SDK
//! client (aws-sdk-* only, no code of ours), at the same concurrency, against the
//! same emulator, with items of the same shape and size. It writes to tables, queues
//! and a bus rule of its own (`*-floor-*`, copies of the real tables' schema, stream
//! included) so the functions never see its items.
//!
//! Per order, as `shared` issues them (shared/src/app/*.rs, adapters/aws/dynamo.rs):
//! - submit: GetItem (idempotency key), Query (account), UpdateItem (rate counter),
//!   TransactWriteItems (order, audit, idempotency record, account);
//! - publish of v1: PutEvents + SendMessage (work); execute: ReceiveMessage,
//!   GetItem, TransactWriteItems (claim: order, audit), GetItem (re-read after the
//!   venue), Query (account), TransactWriteItems (fill: order, audit, fill, account,
//!   position), DeleteMessage; PutEvents for v2 and v3; the consumer's ReceiveMessage
//!   and DeleteMessageBatch on a tap queue (shared with every worker, as ours).
//! - a resting order instead: claim, then UpdateItem (re-check chain) + SendMessage
//!   (re-check); PutEvents v2; on the worker's next turn the cancel: GetItem, Query,
//!   TransactWriteItems (order, audit, account); PutEvents + SendMessage (cancel);
//!   execute: ReceiveMessage, GetItem, Query, TransactWriteItems (order, audit,
//!   account), DeleteMessage; PutEvents v4.
//!
//! Not in the floor (not AWS calls, or not per order): the HTTP hops (client →
//! gateway → cargo lambda watch → function), the venue's HTTP calls, the stream
//! polling of the event-source mappings (GetRecords/GetShardIterator), the re-checks
//! of a resting order after its first.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, BillingMode, GlobalSecondaryIndex, Put, StreamSpecification, TransactWriteItem, Update,
};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use serde_json::json;

use crate::mix::{Kind, Mix, Rng};
use crate::stats::Samples;
use crate::tap::{Events, Tap};

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
/// and cancel functions make, as the in-process run does).
pub async fn run(
    floor: &Arc<Floor>,
    workers: usize,
    lifecycles: usize,
    lifecycle: bool,
    mix: Mix,
    seed: u64,
) -> anyhow::Result<FloorResult> {
    let tap = Tap::start(crate::tap::client().await, floor.tap_url.clone(), 4);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let (floor, counter) = (floor.clone(), counter.clone());
        let queue = floor.work_queue(w).await?;
        tasks.push(tokio::spawn(async move {
            worker(&floor, &queue, w, lifecycles, lifecycle, &counter, mix, seed).await
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

#[allow(clippy::too_many_arguments)]
async fn worker(
    floor: &Floor,
    queue: &str,
    w: usize,
    lifecycles: usize,
    lifecycle: bool,
    counter: &AtomicUsize,
    mix: Mix,
    seed: u64,
) -> WorkerOut {
    let mut rng = Rng::new(seed ^ 0xF1002 ^ (w as u64).wrapping_mul(0x9E37_79B9));
    let trader = format!("floor-{w}-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut o = Ops {
        f: floor,
        queue,
        trader: &trader,
        calls: 0,
        errors: 0,
    };
    let (mut submit, mut cancel, mut started) = (Samples::default(), Samples::default(), Vec::new());
    o.seed_account().await;
    let mut resting: Option<usize> = None;
    loop {
        let more = counter.fetch_add(1, Ordering::Relaxed) < lifecycles;
        if let Some(i) = resting.take() {
            let st: &mut Started = &mut started[i];
            let t0 = Instant::now();
            st.cancel_at = Some(t0);
            // Claimed (version 2) in a whole life; still PENDING (1) otherwise.
            o.cancel(&st.id, if lifecycle { 2 } else { 1 }).await;
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
        let t0 = Instant::now();
        o.submit(&id).await;
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

/// The calls, for one worker's trader.
struct Ops<'a> {
    f: &'a Floor,
    queue: &'a str,
    trader: &'a str,
    calls: usize,
    errors: usize,
}

const SNAPSHOT: &str = r#"{"order_id":"01M89CR8R9WRJ3P3W4H1SDS5EG","client_order_id":null,"trader_id":"e2e-01m89cr8r9wrj3p3w4h1sds5eg","symbol":"AAPL","side":"buy","type":"limit","quantity":"10","limit_price":"150.25","stop_price":null,"time_in_force":"day","status":"PENDING","filled_quantity":"0","average_fill_price":null,"reserved_amount":"1502.50","version":1,"created_at":"2026-11-25T13:01:37.907Z","updated_at":"2026-11-25T13:01:37.907Z","reason":null}"#;

impl Ops<'_> {
    fn pk(&self) -> String {
        format!("TRADER#{}", self.trader)
    }

    fn check<T, E: std::fmt::Display>(&mut self, what: &str, r: Result<T, E>) {
        self.calls += 1;
        if let Err(e) = r {
            self.errors += 1;
            eprintln!("orders-load floor: {what}: {e}");
        }
    }

    fn order_item(&self, id: &str, status: &str, version: u64) -> Item {
        let pk = self.pk();
        let mut i: Item = [
            ("PK", s(pk.clone())),
            ("SK", s(format!("ORDER#{id}"))),
            ("GSI1PK", s(format!("{pk}#{status}"))),
            ("GSI1SK", s(format!("ORDER#{id}"))),
            ("order_id", s(id)),
            ("trader_id", s(self.trader)),
            ("symbol", s("AAPL")),
            ("side", s("buy")),
            ("type", s("limit")),
            ("quantity", n(3)),
            ("limit_price", n("209.13")),
            ("time_in_force", s("day")),
            ("status", s(status)),
            ("filled_quantity", n(0)),
            ("reserved_amount", n("627.39")),
            ("version", n(version)),
            ("updated_at", s("2026-11-25T13:01:37.907Z")),
            ("created_at", s("2026-11-25T13:01:37.907Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        i.insert("average_fill_price".into(), n("190.06"));
        i
    }

    fn audit_item(&self, id: &str, seq: u64) -> Item {
        [
            ("PK", s(format!("AUDIT#{id}"))),
            ("SK", s(format!("{seq:08}"))),
            ("order_id", s(id)),
            ("sequence", n(seq)),
            ("trader_id", s(self.trader)),
            ("actor", s(self.trader)),
            ("action", s("SUBMIT")),
            ("at", s("2026-11-25T13:01:37.907Z")),
            ("before", s(SNAPSHOT)),
            ("after", s(SNAPSHOT)),
            ("request_id", s("4b4e2a3c-1c1f-4b8e-9f1a-0d3c2b1a0f9e")),
            ("prev_hash", s("0".repeat(64))),
            ("hash", s("f".repeat(64))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn put(table: &str, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "PK")
            .build();
        TransactWriteItem::builder().set_put(put.ok()).build()
    }

    fn update(&self, sk: String, set: &str, condition: &str, values: &[(&str, Av)]) -> TransactWriteItem {
        let mut u = Update::builder()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(sk))
            .update_expression(set)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[set, condition])));
        for (k, v) in values {
            u = u.expression_attribute_values(*k, v.clone());
        }
        TransactWriteItem::builder().set_update(u.build().ok()).build()
    }

    fn account_update(&self) -> TransactWriteItem {
        self.update(
            "ACCOUNT".into(),
            "SET #reserved = #reserved + :a, #available = #available - :a, #open_orders = #open_orders + :one",
            "attribute_exists(#PK) AND #available >= :a AND #open_orders < :max",
            &[(":a", n("0.01")), (":one", n(1)), (":max", n(1_000_000))],
        )
    }

    fn order_update(&self, id: &str, status: &str, from: u64) -> TransactWriteItem {
        self.update(
            format!("ORDER#{id}"),
            "SET #status = :st, #version = :to, #filled_quantity = :fq, #updated_at = :at, #GSI1PK = :g",
            "#status <> :never AND #version = :from",
            &[
                (":st", s(status)),
                (":to", n(from + 1)),
                (":from", n(from)),
                (":fq", n(3)),
                (":at", s("2026-11-25T13:01:38.101Z")),
                (":g", s(format!("{}#{status}", self.pk()))),
                (":never", s("NONE")),
            ],
        )
    }

    async fn transact(&mut self, items: Vec<TransactWriteItem>) {
        let r = self
            .f
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        self.check("TransactWriteItems", r);
    }

    async fn seed_account(&mut self) {
        let r = self
            .f
            .ddb
            .put_item()
            .table_name(&self.f.orders)
            .item("PK", s(self.pk()))
            .item("SK", s("ACCOUNT"))
            .item("trader_id", s(self.trader))
            .item("cash", n(10_000_000))
            .item("available", n(10_000_000))
            .item("reserved", n(0))
            .item("open_orders", n(0))
            .item("realized_pnl", n(0))
            .item("orders_per_minute", n(1_000_000))
            .send()
            .await;
        self.check("PutItem account", r);
    }

    async fn get_order(&mut self, id: &str) {
        let r = self
            .f
            .ddb
            .get_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("ORDER#{id}")))
            .consistent_read(true)
            .send()
            .await;
        self.check("GetItem order", r);
    }

    async fn query_account(&mut self) {
        let r = self
            .f
            .ddb
            .query()
            .table_name(&self.f.orders)
            .consistent_read(true)
            .key_condition_expression("#PK = :pk AND begins_with(#SK, :p)")
            .expression_attribute_names("#PK", "PK")
            .expression_attribute_names("#SK", "SK")
            .expression_attribute_values(":pk", s(self.pk()))
            .expression_attribute_values(":p", s("ACCOUNT"))
            .send()
            .await;
        self.check("Query account", r);
    }

    async fn submit(&mut self, id: &str) {
        let key = ulid::Ulid::new().to_string();
        let r = self
            .f
            .ddb
            .get_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("IDEMPOTENCY#{key}")))
            .consistent_read(true)
            .send()
            .await;
        self.check("GetItem idempotency", r);
        self.query_account().await;
        let r = self
            .f
            .ddb
            .update_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("RATE#{}", crate::tap::unix_ms_now() / 60_000)))
            .update_expression("SET #c = if_not_exists(#c, :zero) + :one, #exp = :exp")
            .expression_attribute_names("#exp", "expires_at")
            .condition_expression("attribute_not_exists(#c) OR #c < :limit")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(1_000_000))
            .expression_attribute_values(":exp", n(crate::tap::unix_ms_now() / 1000 + 180))
            .send()
            .await;
        self.check("UpdateItem rate", r);
        let mut idem = self.order_item(id, "PENDING", 1);
        idem.insert("SK".into(), s(format!("IDEMPOTENCY#{key}")));
        idem.insert("body".into(), s(SNAPSHOT));
        let items = vec![
            Self::put(&self.f.orders, self.order_item(id, "PENDING", 1)),
            Self::put(&self.f.audit, self.audit_item(id, 1)),
            Self::put(&self.f.orders, idem),
            self.account_update(),
        ];
        self.transact(items).await;
    }

    async fn put_event(&mut self, id: &str, previous: Option<&str>, status: &str, version: u64) {
        let detail = json!({"order_id": id, "trader_id": self.trader, "client_order_id": null, "symbol": "AAPL",
            "side": "buy", "previous_status": previous, "new_status": status, "filled_quantity": "3",
            "average_price": "190.06", "version": version, "timestamp": shared::domain::Timestamp::now().to_string()});
        let entry = PutEventsRequestEntry::builder()
            .source("orders-floor")
            .detail_type("Order Status Changed")
            .detail(detail.to_string())
            .event_bus_name(&self.f.bus)
            .build();
        let r = self.f.events.put_events().entries(entry).send().await;
        self.check("PutEvents", r);
    }

    async fn send(&mut self, id: &str) {
        let body = json!({"type": "execute", "trader_id": self.trader, "order_id": id}).to_string();
        let r = self
            .f
            .sqs
            .send_message()
            .queue_url(self.queue)
            .message_body(body)
            .send()
            .await;
        self.check("SendMessage", r);
    }

    /// ReceiveMessage … DeleteMessage around `work`, as the event-source mapping does.
    async fn receive_and_delete(&mut self) {
        let r = self
            .f
            .sqs
            .receive_message()
            .queue_url(self.queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let handles: Vec<String> = r
            .as_ref()
            .map(|o| {
                o.messages()
                    .iter()
                    .filter_map(|m| m.receipt_handle().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.check("ReceiveMessage", r);
        for h in handles {
            let r = self
                .f
                .sqs
                .delete_message()
                .queue_url(self.queue)
                .receipt_handle(h)
                .send()
                .await;
            self.check("DeleteMessage", r);
        }
    }

    async fn execute(&mut self, id: &str, kind: Kind) {
        self.put_event(id, None, "PENDING", 1).await;
        self.send(id).await;
        self.receive_and_delete().await;
        self.get_order(id).await;
        let claim = vec![
            self.order_update(id, "SUBMITTED", 1),
            Self::put(&self.f.audit, self.audit_item(id, 2)),
        ];
        self.transact(claim).await;
        self.get_order(id).await;
        self.put_event(id, Some("PENDING"), "SUBMITTED", 2).await;
        if kind == Kind::RestingLimit {
            let r = self
                .f
                .ddb
                .update_item()
                .table_name(&self.f.orders)
                .key("PK", s(self.pk()))
                .key("SK", s(format!("RECHECK#{id}")))
                .update_expression("SET #seq = :to, #exp = :exp")
                .condition_expression("attribute_not_exists(#seq) OR #seq = :from")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_names("#exp", "expires_at")
                .expression_attribute_values(":from", n(0))
                .expression_attribute_values(":to", n(1))
                .expression_attribute_values(":exp", n(crate::tap::unix_ms_now() / 1000 + 604_800))
                .send()
                .await;
            self.check("UpdateItem recheck", r);
            self.send(id).await;
            return;
        }
        self.query_account().await;
        let mut fill = self.order_item(id, "FILL", 1);
        fill.insert("SK".into(), s(format!("FILL#{id}#venue-order-id:3")));
        let items = vec![
            self.order_update(id, "FILLED", 2),
            Self::put(&self.f.audit, self.audit_item(id, 3)),
            Self::put(&self.f.orders, fill),
            self.account_update(),
            self.update(
                "POSITION#AAPL".into(),
                "SET #quantity = :q, #average_cost = :c, #version = :v, #symbol = :s",
                "attribute_not_exists(#version) OR #version < :v",
                &[
                    (":q", n(3)),
                    (":c", n("190.06")),
                    (":v", n(crate::tap::unix_ms_now())),
                    (":s", s("AAPL")),
                ],
            ),
        ];
        self.transact(items).await;
        self.put_event(id, Some("SUBMITTED"), "FILLED", 3).await;
    }

    async fn cancel(&mut self, id: &str, version: u64) {
        self.get_order(id).await;
        self.query_account().await;
        let items = vec![
            self.order_update(id, "CANCEL_REQUESTED", version),
            Self::put(&self.f.audit, self.audit_item(id, 3)),
            self.account_update(),
        ];
        self.transact(items).await;
    }

    /// What follows an accepted cancel of a resting order: its publish, the venue
    /// cancel's execute, and the publish of CANCELLED.
    async fn cancel_rest(&mut self, id: &str) {
        self.put_event(id, Some("SUBMITTED"), "CANCEL_REQUESTED", 3).await;
        self.send(id).await;
        // The re-check message of the claim and this cancel message.
        self.receive_and_delete().await;
        self.get_order(id).await;
        self.query_account().await;
        let items = vec![
            self.order_update(id, "CANCELLED", 3),
            Self::put(&self.f.audit, self.audit_item(id, 4)),
            self.account_update(),
        ];
        self.transact(items).await;
        self.put_event(id, Some("CANCEL_REQUESTED"), "CANCELLED", 4).await;
    }
}
