//! `orders-admin redrive-stream`: rebuilds what a discarded stream batch lost.
//!
//! publish's stream mapping gives a batch up after its retry or record-age bound and
//! sends an invocation record to its on-failure destination (`PUBLISH_FAILURE_QUEUE_URL`,
//! the stack output): the shard, the sequence number range and the records' approximate
//! arrival times, not the records. The records themselves are gone (DynamoDB Streams
//! cannot be read by sequence number range once the mapping moved on, and keep
//! nothing past 24 hours), so this rebuilds from the orders table, which is the truth:
//!
//! 1. the failure records are read (not deleted yet), and their arrival windows taken,
//!    widened by `--slack-secs` (default 120) for the clocks of the stream and the
//!    functions;
//! 2. every order item whose `updated_at` or `created_at` falls in a window is read (a
//!    Scan of the orders table filtered to `ORDER#` items: it reads, and is billed
//!    for, the whole table once per run, which is what an operator action after an
//!    incident can afford; a per-trader query would need the list of traders, which is
//!    itself a scan). An order whose latest change was in the lost batch has its
//!    `updated_at` there; one created there has its `created_at` there, however far it
//!    moved since (the fast path executes an order whatever became of its insert);
//! 3. each such order gets every version its audit trail records re-published as an
//!    `Order Status Changed` event, from the record's before and after snapshots
//!    (consumers dedupe by order id and version, so the versions that did go out cost
//!    only a duplicate; an order whose trail cannot be read gets its current state,
//!    previous status `null`), and, unless it is terminal, its work re-sent: `execute`
//!    for PENDING / SUBMITTED / PARTIALLY_FILLED (execute claims idempotently and
//!    reconciles with the venue by client order id), `cancel` for CANCEL_REQUESTED;
//! 4. the failure records are deleted once everything was sent.
//!
//! An order item that cannot be read (the likely poison record) is named and left for
//! an operator to repair; the command then exits non-zero after doing the rest.

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shared::adapters::aws::items::order_from_item;
use shared::domain::{Order, OrderStatus, Timestamp};
use shared::ports::{AuditLog, StatusEvent, StatusEvents, WorkMessage, WorkQueue};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// ReceiveMessage returns at most 10 messages.
const BATCH: i32 = 10;
/// Failure records stay hidden this long while being handled; on a crash they come back.
const VISIBILITY_SECS: i32 = 300;

/// One discarded stream batch, as its failure record describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostBatch {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub batch_size: u64,
    pub first: OffsetDateTime,
    pub last: OffsetDateTime,
}

impl LostBatch {
    /// Reads an on-failure invocation record of a DynamoDB stream mapping.
    pub fn parse(body: &str) -> anyhow::Result<Self> {
        let v: Value = serde_json::from_str(body).context("the failure record is not JSON")?;
        let info = v
            .get("DDBStreamBatchInfo")
            .context("the failure record has no DDBStreamBatchInfo (not a DynamoDB stream mapping's)")?;
        let text = |name: &str| -> anyhow::Result<String> {
            info.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("DDBStreamBatchInfo.{name} is missing"))
        };
        let time = |name: &str| -> anyhow::Result<OffsetDateTime> {
            let t = text(name)?;
            OffsetDateTime::parse(&t, &Rfc3339)
                .with_context(|| format!("DDBStreamBatchInfo.{name} {t:?} is not RFC 3339"))
        };
        Ok(Self {
            shard_id: text("shardId")?,
            start_sequence_number: text("startSequenceNumber")?,
            end_sequence_number: text("endSequenceNumber")?,
            batch_size: info.get("batchSize").and_then(Value::as_u64).unwrap_or(0),
            first: time("approximateArrivalOfFirstRecord")?,
            last: time("approximateArrivalOfLastRecord")?,
        })
    }

    fn window(&self, slack: Duration) -> (OffsetDateTime, OffsetDateTime) {
        (self.first - slack, self.last + slack)
    }
}

/// The work an order in `status` still needs, if any.
pub fn work_for(order: &Order) -> Option<WorkMessage> {
    let (trader_id, order_id) = (order.trader_id.clone(), order.order_id);
    match order.status {
        OrderStatus::Pending | OrderStatus::Submitted | OrderStatus::PartiallyFilled => {
            Some(WorkMessage::Execute { trader_id, order_id })
        }
        OrderStatus::CancelRequested => Some(WorkMessage::Cancel { trader_id, order_id }),
        OrderStatus::ReplaceRequested => Some(WorkMessage::Replace { trader_id, order_id }),
        _ => None,
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub batches: Vec<LostBatch>,
    pub announced: Vec<(String, OrderStatus, u64)>,
    pub queued: Vec<String>,
    /// `PK SK: why` of order items in a window that could not be read.
    pub unreadable: Vec<String>,
}

pub struct Redrive<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub dynamodb: &'a aws_sdk_dynamodb::Client,
    pub orders_table: &'a str,
    pub failure_queue_url: &'a str,
    pub events: &'a dyn StatusEvents,
    pub queue: &'a dyn WorkQueue,
    /// Where each order's versions are read back from.
    pub audit: &'a dyn AuditLog,
    pub slack: Duration,
}

/// The status event of every version of an order its audit records hold (a record
/// whose snapshots do not read as orders is skipped).
pub fn version_events(records: &[shared::domain::AuditRecord]) -> Vec<StatusEvent> {
    let status = |v: &Option<Value>| {
        v.as_ref()
            .and_then(|v| serde_json::from_value::<Order>(v.clone()).ok())
            .map(|o| o.status)
    };
    records
        .iter()
        .filter_map(|r| {
            let after: Order = serde_json::from_value(r.after.clone()?).ok()?;
            Some(StatusEvent::of(status(&r.before), &after))
        })
        .collect()
}

impl Redrive<'_> {
    pub async fn run(&self) -> anyhow::Result<Report> {
        let mut report = Report::default();
        let mut handles = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(self.failure_queue_url)
                .max_number_of_messages(BATCH)
                .visibility_timeout(VISIBILITY_SECS)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("ReceiveMessage {}: {}", self.failure_queue_url, e))?;
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                if !seen.insert(id.clone()) {
                    continue;
                }
                let body = m.body().unwrap_or_default();
                let batch = LostBatch::parse(body).with_context(|| format!("failure record {id}: {body}"))?;
                report.batches.push(batch);
                if let Some(h) = m.receipt_handle() {
                    handles.push(h.to_owned());
                }
            }
        }
        if report.batches.is_empty() {
            return Ok(report);
        }
        let windows: Vec<_> = report.batches.iter().map(|b| b.window(self.slack)).collect();
        let (orders, unreadable) = self.orders_changed_in(&windows).await?;
        report.unreadable = unreadable;

        let mut events = Vec::new();
        for o in &orders {
            let versions = match self.audit.records(&o.order_id).await {
                Ok(records) => version_events(&records),
                Err(e) => {
                    eprintln!("audit trail of {} not read ({e}): its current state only", o.order_id);
                    Vec::new()
                }
            };
            let has_current = versions.iter().any(|e| e.version == o.version);
            events.extend(versions);
            if !has_current {
                events.push(StatusEvent::of(None, o));
            }
        }
        if !events.is_empty() {
            self.events
                .publish(&events)
                .await
                .map_err(|e| anyhow::anyhow!("re-publishing the status events: {e}"))?;
        }
        report.announced = orders
            .iter()
            .map(|o| (o.order_id.to_string(), o.status, o.version))
            .collect();
        let work: Vec<WorkMessage> = orders.iter().filter_map(work_for).collect();
        if !work.is_empty() {
            self.queue
                .send_all(&work, 0)
                .await
                .map_err(|(k, e)| anyhow::anyhow!("re-queuing work message {k}: {e}"))?;
        }
        report.queued = work
            .iter()
            .map(|w| {
                let kind = match w {
                    WorkMessage::Execute { .. } => "execute",
                    WorkMessage::Cancel { .. } => "cancel",
                    WorkMessage::Replace { .. } => "replace",
                    WorkMessage::Recheck { .. } => "recheck",
                    WorkMessage::Backstop { .. } => "backstop",
                };
                format!("{kind} {}", w.ids().1)
            })
            .collect();
        for h in handles {
            self.sqs
                .delete_message()
                .queue_url(self.failure_queue_url)
                .receipt_handle(h)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("failure record handled but not deleted (a rerun repeats it harmlessly): {e}")
                })?;
        }
        Ok(report)
    }

    /// Every order item whose `updated_at` or `created_at` is in one of `windows` (a
    /// filtered Scan).
    async fn orders_changed_in(
        &self,
        windows: &[(OffsetDateTime, OffsetDateTime)],
    ) -> anyhow::Result<(Vec<Order>, Vec<String>)> {
        let (mut orders, mut unreadable) = (Vec::new(), Vec::new());
        let mut start = None;
        loop {
            let out = self
                .dynamodb
                .scan()
                .table_name(self.orders_table)
                .filter_expression("begins_with(SK, :order)")
                .expression_attribute_values(":order", AttributeValue::S("ORDER#".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("Scan {}: {e}", self.orders_table))?;
            for item in out.items() {
                let in_window = |t: OffsetDateTime| windows.iter().any(|(a, b)| *a <= t && t <= *b);
                let updated = item
                    .get("updated_at")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| Timestamp::parse(s).ok());
                let key = format!(
                    "{} {}",
                    item.get("PK").and_then(|v| v.as_s().ok()).map_or("?", String::as_str),
                    item.get("SK").and_then(|v| v.as_s().ok()).map_or("?", String::as_str)
                );
                match (updated, order_from_item(item)) {
                    (Some(t), Ok(order)) if in_window(t.datetime()) || in_window(order.created_at.datetime()) => {
                        orders.push(order)
                    }
                    (Some(_), Ok(_)) => {}
                    (_, Err(e)) => unreadable.push(format!("{key}: {e}")),
                    (None, Ok(_)) => unreadable.push(format!("{key}: updated_at is missing or unreadable")),
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        orders.sort_by_key(|o| o.order_id);
        Ok((orders, unreadable))
    }
}

pub fn print(report: &Report) -> anyhow::Result<()> {
    for b in &report.batches {
        println!(
            "lost batch: shard {} sequence {}..{} ({} records) arrived {} .. {}",
            b.shard_id,
            b.start_sequence_number,
            b.end_sequence_number,
            b.batch_size,
            b.first.format(&Rfc3339).unwrap_or_default(),
            b.last.format(&Rfc3339).unwrap_or_default()
        );
    }
    for (id, status, version) in &report.announced {
        println!("announced order {id} {status} v{version}");
    }
    for q in &report.queued {
        println!("queued {q}");
    }
    for u in &report.unreadable {
        println!("UNREADABLE {u}");
    }
    println!(
        "{} lost batch(es): {} order(s) re-announced, {} work message(s) re-queued, {} unreadable order item(s)",
        report.batches.len(),
        report.announced.len(),
        report.queued.len(),
        report.unreadable.len()
    );
    if !report.unreadable.is_empty() {
        bail!(
            "{} order item(s) could not be read (listed above): repair them, then publish their state by hand",
            report.unreadable.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_of_an_audit_trail_becomes_its_event() {
        use shared::app::{AuditContext, plan_submit, plan_transition};
        use shared::domain::{Account, OrderEvent, OrderId, Pricing, TraderId, validate_order};
        let now = Timestamp::now();
        let account = Account::new(TraderId::parse("alice").unwrap(), rust_decimal::Decimal::from(100_000));
        let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1",
            "limit_price": "10"});
        let ctx = AuditContext::system("t");
        let new = plan_submit(
            OrderId::new(),
            validate_order(&body).unwrap(),
            &account,
            &Pricing::default(),
            &ctx,
            now,
        )
        .unwrap();
        let claim = plan_transition(&new.order, &OrderEvent::Claim, None, &ctx, now).unwrap();
        let events = version_events(&[new.audit, claim.audit]);
        let moves: Vec<_> = events
            .iter()
            .map(|e| (e.previous_status, e.new_status, e.version))
            .collect();
        assert_eq!(
            moves,
            [
                (None, OrderStatus::Pending, 1),
                (Some(OrderStatus::Pending), OrderStatus::Submitted, 2)
            ]
        );
    }

    #[test]
    fn a_lambda_failure_record_is_read() {
        let body = r#"{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:1:function:p",
            "condition":"RetryAttemptsExhausted","approximateInvokeCount":101},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "version":"1.0","timestamp":"2026-11-14T00:13:49.717Z",
            "DDBStreamBatchInfo":{"shardId":"shardId-00000001573689847184-864758bb",
            "startSequenceNumber":"800000000003126276362","endSequenceNumber":"800000000003126276365",
            "approximateArrivalOfFirstRecord":"2026-11-14T00:13:19Z","approximateArrivalOfLastRecord":"2026-11-14T00:13:21Z",
            "batchSize":4,"streamArn":"arn:aws:dynamodb:us-east-1:1:table/t/stream/2026"}}"#;
        let b = LostBatch::parse(body).unwrap();
        assert_eq!(b.batch_size, 4);
        assert_eq!(b.start_sequence_number, "800000000003126276362");
        let (a, z) = b.window(Duration::from_secs(60));
        assert_eq!(
            (a.unix_timestamp(), z.unix_timestamp()),
            (b.first.unix_timestamp() - 60, b.last.unix_timestamp() + 60)
        );
        assert!(LostBatch::parse(r#"{"SQSBatchInfo": {}}"#).is_err());
        assert!(LostBatch::parse("not json").is_err());
    }
}
