//! The load part of `orders-bench coldstart`: one long-lived process per function
//! fed real invocations (HTTP events, stream batches, SQS batches) through its
//! runtime API, then its peak RSS.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::adapters::aws::{DynamoStore, sdk_config};
use shared::domain::{RiskLimits, TraderId};
use shared::ports::OrderStore;
use tokio::process::Child;

use super::{ANSWER_WITHIN, FUNCTIONS, function_env, peak_rss_mb, spawn, stop};
use crate::private::{Private, StreamReader};
use crate::runtime_api::RuntimeApi;

/// One long-lived process per function and what it served.
struct Served {
    api: RuntimeApi,
    child: Child,
    ok: usize,
    failed: usize,
}

impl Served {
    async fn invoke(&mut self, event: Value) -> anyhow::Result<Value> {
        let answer = self.api.invoke(event, ANSWER_WITHIN).await?;
        let ok = match &answer {
            Ok(v) => v["statusCode"].as_u64().is_none_or(|s| s < 500),
            Err(_) => false,
        };
        if ok {
            self.ok += 1
        } else {
            self.failed += 1
        }
        Ok(answer.unwrap_or(Value::Null))
    }
}

fn http_event(sample: &str, trader: &TraderId, edit: impl FnOnce(&mut Value)) -> anyhow::Result<Value> {
    let mut v: Value = serde_json::from_str(sample)?;
    v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(trader.to_string());
    v["requestContext"]["requestId"] = json!(ulid::Ulid::new().to_string());
    edit(&mut v);
    Ok(v)
}

fn with_id(v: &mut Value, id: &str, suffix: &str) {
    let path = format!("/api/v1/orders/{id}{suffix}");
    v["pathParameters"]["id"] = json!(id);
    v["rawPath"] = json!(path);
    v["requestContext"]["http"]["path"] = json!(path);
}

struct Load<'a> {
    procs: BTreeMap<&'static str, Served>,
    stream: StreamReader,
    sqs: aws_sdk_sqs::Client,
    private: &'a Private,
    region: String,
}

impl Load<'_> {
    fn proc(&mut self, f: &str) -> anyhow::Result<&mut Served> {
        self.procs.get_mut(f).with_context(|| format!("no {f} process"))
    }

    /// Every stream record so far, to publish in batches of 100 (the template's BatchSize).
    async fn publish_all(&mut self) -> anyhow::Result<()> {
        loop {
            let records = self.stream.drain().await?;
            if records.is_empty() {
                return Ok(());
            }
            for chunk in records.chunks(100) {
                self.proc("publish")?.invoke(json!({ "Records": chunk })).await?;
            }
        }
    }

    /// Work messages in batches of 10 (the template's BatchSize) until the queue is
    /// quiet for 2 s or `cap` invocations.
    async fn execute_all(&mut self, cap: usize) -> anyhow::Result<()> {
        let arn = format!("arn:aws:sqs:{}:123456789012:bench", self.region);
        for _ in 0..cap {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.private.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .context("ReceiveMessage")?
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return Ok(());
            }
            let event = local_mappings::sqs::sqs_event(&messages, &arn, &self.region);
            let reply = self.proc("execute")?.invoke(event).await?;
            let failed: Vec<&str> = reply["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect();
            for m in &messages {
                if failed.contains(&m.message_id().unwrap_or_default()) {
                    continue;
                }
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.private.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .context("DeleteMessage")?;
                }
            }
        }
        Ok(())
    }
}

/// Feeds every function `n` invocations (HTTP) or what the others produced (stream,
/// queue); returns served counts and peak RSS per function.
pub(super) async fn under_load(
    dir: &Path,
    private: &Private,
    n: usize,
) -> anyhow::Result<BTreeMap<&'static str, (usize, usize, f64)>> {
    let sdk = sdk_config().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let admin = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &private.orders_table,
        &private.audit_table,
    );
    let limits = RiskLimits {
        orders_per_minute: 1_000_000,
        max_open_orders: 1_000_000,
        ..RiskLimits::default()
    };
    let mut traders = Vec::new();
    for _ in 0..20 {
        let id = TraderId::parse(&format!("load-{}", ulid::Ulid::new().to_string().to_lowercase()))?;
        admin
            .fund_account(&id, Decimal::from(100_000_000), Some(limits.clone()))
            .await?;
        traders.push(id);
    }
    let mut procs = BTreeMap::new();
    for f in FUNCTIONS {
        let api = RuntimeApi::start(f).await?;
        let child = spawn(&dir.join(f).join("bootstrap"), function_env(f, &api, private))?;
        api.first_poll(Duration::from_secs(20))
            .await
            .with_context(|| f.to_owned())?;
        procs.insert(
            f,
            Served {
                api,
                child,
                ok: 0,
                failed: 0,
            },
        );
    }
    let mut load = Load {
        procs,
        stream: StreamReader::new(aws_sdk_dynamodbstreams::Client::new(&sdk), &private.stream_arn, &region),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        private,
        region,
    };
    let mut orders = Vec::new();
    for i in 0..n {
        let trader = &traders[i % traders.len()];
        let event = http_event(include_str!("../../../../events/submit-order.json"), trader, |v| {
            v["headers"]["idempotency-key"] = json!(ulid::Ulid::new().to_string());
        })?;
        let reply = load.proc("submit")?.invoke(event).await?;
        let body: Value = serde_json::from_str(reply["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        if let Some(id) = body["order_id"].as_str() {
            orders.push((trader.clone(), id.to_owned()));
        }
    }
    load.publish_all().await?;
    load.execute_all(n.div_ceil(10) * 2).await?;
    for i in 0..n {
        let Some((trader, id)) = orders.get(i % orders.len().max(1)) else {
            break;
        };
        let event = http_event(include_str!("../../../../events/cancel-order.json"), trader, |v| {
            with_id(v, id, "/cancel")
        })?;
        load.proc("cancel")?.invoke(event).await?;
    }
    load.publish_all().await?;
    load.execute_all(n.div_ceil(10) * 2).await?;
    load.publish_all().await?;
    for i in 0..n {
        let Some((trader, id)) = orders.get(i % orders.len().max(1)) else {
            break;
        };
        let event = match i % 3 {
            0 => http_event(include_str!("../../../../events/get-order.json"), trader, |v| {
                with_id(v, id, "")
            })?,
            1 => http_event(include_str!("../../../../events/list-orders.json"), trader, |_| {})?,
            _ => http_event(include_str!("../../../../events/get-account.json"), trader, |_| {})?,
        };
        load.proc("query")?.invoke(event).await?;
    }
    let mut out = BTreeMap::new();
    for (f, served) in load.procs {
        let rss = peak_rss_mb(&served.child)?;
        out.insert(f, (served.ok, served.failed, rss));
        stop(served.child).await;
    }
    Ok(out)
}
