// Long because: one event source mapping (shard order, batching, partial-failure retries) whose parts share the shard
// state.
//! The DynamoDB Streams event source mapping: read every shard of the stream in
//! order (a child shard only after its parent is finished), hand records to the
//! function in batches of up to 100 as the exact Lambda DynamoDB stream event,
//! and never move past a record the function did not handle.
//!
//! Where to start: TRIM_HORIZON for every shard, those seen at start included. A
//! stream is an outbox here, and LATEST would lose whatever committed while the
//! mapper was not running (in `make dev`/`make test` it starts with a fresh
//! emulator, so the horizon is the stack's first write). Restarting the mapper
//! against a long-lived emulator replays the stream; that is at-least-once, which
//! the consumers tolerate (events dedupe by order id and version; execute is
//! idempotent).
//!
//! Retries, as Lambda does with `ReportBatchItemFailures`: a partial failure retries
//! from the first reported record, a function or transport error retries the whole
//! batch (halved first with `BisectBatchOnFunctionError`), with exponential backoff
//! (capped). With the template's bounds (`settings::StreamSettings`, `--template`): a
//! batch that failed `MaximumRetryAttempts` retries, and records older than
//! `MaximumRecordAgeInSeconds`, are discarded: an invocation record naming the
//! shard and the sequence number range (not the records) goes to the on-failure
//! destination queue, and the mapping moves on past them, as Lambda does. Without
//! bounds it retries forever.
//! A retry re-reads the shard from that record, as Lambda's poller re-reads from its
//! checkpoint, so the retried batch also carries the records written since (up to
//! 100): while one record keeps failing (EventBridge down), the work of the orders
//! committed after it is still queued, and their events follow once it passes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::invoke::{Invoker, batch_failures};
use crate::settings::StreamSettings;

/// GetRecords returns at most 1000 records.
const GET_RECORDS_MAX: i32 = 1000;
const IDLE_POLL: Duration = Duration::from_millis(200);
const RESCAN: Duration = Duration::from_secs(5);
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

pub struct StreamMapping {
    pub client: Client,
    pub invoker: Invoker,
    pub stream_arn: String,
    pub function: String,
    pub region: String,
    /// `--from-latest`: shards that exist at start are read from LATEST, not from
    /// their horizon (make test's execution phase starts on a table the API phase
    /// filled, whose orders must not execute). Shards found later start at the horizon.
    pub from_latest: bool,
    /// Batch size and the retry bounds of the template's mapping.
    pub settings: StreamSettings,
    /// The on-failure destination (an SQS queue) of discarded batches.
    pub on_failure: Option<FailureDestination>,
    /// Writes the live stages of its records (`stages`): the fan-out's mapping.
    pub stages: bool,
}

/// Where discarded batches are reported: Lambda's on-failure destination, an SQS queue.
#[derive(Clone, Debug)]
pub struct FailureDestination {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// Where to (re)start reading a shard when it has no live iterator.
#[derive(Clone, Debug)]
enum Resume {
    /// After the last record handled.
    After(String),
    /// At the first record not handled (a retry).
    At(String),
}

#[derive(Debug)]
struct Shard {
    parent: Option<String>,
    iterator: Option<String>,
    /// `None`: the shard's TRIM_HORIZON (or LATEST, see `StreamMapping::from_latest`).
    resume: Option<Resume>,
    latest: bool,
    backoff: Duration,
    finished: bool,
    /// The record the last invocations failed at, and how many times in a row.
    failing: Option<String>,
    attempts: u32,
    /// Records per invocation now (less than the batch size while bisecting).
    limit: Option<i32>,
}

impl Shard {
    fn new(parent: Option<String>) -> Self {
        Self {
            parent,
            iterator: None,
            resume: None,
            latest: false,
            backoff: BACKOFF_START,
            finished: false,
            failing: None,
            attempts: 0,
            limit: None,
        }
    }
}

impl StreamMapping {
    /// Reads the stream forever; errors are logged and retried.
    pub async fn run(self) {
        tracing::info!(stream = %self.stream_arn, function = %self.function, "reading the stream");
        let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
        let mut last_scan: Option<Instant> = None;
        loop {
            if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
                match self.shard_parents().await {
                    Ok(found) => {
                        let first = last_scan.is_none();
                        for (id, parent) in found {
                            shards.entry(id.clone()).or_insert_with(|| {
                                tracing::info!(shard = %id, parent = ?parent, "new shard");
                                let mut shard = Shard::new(parent);
                                shard.latest = first && self.from_latest;
                                shard
                            });
                        }
                        last_scan = Some(Instant::now());
                    }
                    Err(e) => tracing::warn!(error = %e, "DescribeStream failed; retrying"),
                }
            }
            let mut busy = false;
            let ids: Vec<String> = shards.keys().cloned().collect();
            for id in ids {
                let parent_done = match shards.get(&id).and_then(|s| s.parent.clone()) {
                    Some(p) => shards.get(&p).is_none_or(|s| s.finished),
                    None => true,
                };
                if let Some(shard) = shards.get_mut(&id).filter(|s| !s.finished && parent_done) {
                    busy |= self.read_shard(&id, shard).await;
                }
            }
            if !busy {
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }

    /// Every shard of the stream with its parent (DescribeStream pages by shard).
    async fn shard_parents(&self) -> anyhow::Result<HashMap<String, Option<String>>> {
        let mut out = HashMap::new();
        let mut start: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))?;
            let Some(desc) = resp.stream_description() else { break };
            for s in desc.shards() {
                if let Some(id) = s.shard_id() {
                    out.insert(id.to_owned(), s.parent_shard_id().map(str::to_owned));
                }
            }
            start = desc.last_evaluated_shard_id().map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// One GetRecords on `shard` and, if it brought records, one invocation. True if
    /// records were read.
    async fn read_shard(&self, id: &str, shard: &mut Shard) -> bool {
        let iterator = match shard.iterator.clone() {
            Some(it) => it,
            None => match self.iterator(id, shard.resume.as_ref(), shard.latest).await {
                Ok(it) => {
                    if shard.latest {
                        tracing::info!(shard = id, "reading from LATEST");
                    }
                    it
                }
                Err(e) => {
                    tracing::warn!(shard = id, error = %e, "GetShardIterator failed; retrying");
                    return false;
                }
            },
        };
        let out = match self
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(shard.limit.unwrap_or(self.settings.batch_size).min(GET_RECORDS_MAX))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // Expired or broken iterator: a new one from the resume point.
                tracing::warn!(shard = id, error = %DisplayErrorContext(&e), "GetRecords failed; new iterator");
                shard.iterator = None;
                return false;
            }
        };
        let records: Vec<Value> = out
            .records()
            .iter()
            .map(|r| record_json(r, &self.stream_arn, &self.region))
            .collect();
        if !records.is_empty() {
            // Records past MaximumRecordAgeInSeconds are discarded unprocessed.
            if let Some(age) = self.settings.max_record_age {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let expired = records
                    .iter()
                    .take_while(|r| created(r).is_some_and(|t| now - t > age.as_secs() as i64))
                    .count();
                if expired > 0 {
                    self.discard(id, shard, &records[..expired], "RecordAgeExceeded").await;
                    return true;
                }
            }
            // FilterCriteria: records no filter passes are handled without an invocation.
            let passed: Vec<Value> = records
                .iter()
                .filter(|r| crate::filter::admits(&self.settings.filters, r))
                .cloned()
                .collect();
            let stages = crate::stages::global();
            if self.stages {
                stages.stream_records(&records, out.records());
                stages.records_at("fanout_invoked", &passed, crate::stages::unix_ms_now());
            }
            let failed = if passed.is_empty() {
                None
            } else {
                self.invoke(&passed).await
            };
            if self.stages {
                stages.records_at("fanout_done", &passed, crate::stages::unix_ms_now());
            }
            match failed {
                None => {
                    shard.resume = records.last().map(|r| Resume::After(sequence_number(r)));
                    shard.backoff = BACKOFF_START;
                    shard.failing = None;
                    shard.attempts = 0;
                    shard.limit = None;
                }
                Some((failed, whole)) => {
                    if shard.failing.as_deref() == Some(failed.as_str()) {
                        shard.attempts += 1;
                    } else {
                        // Progress (a partial success, e.g. publish stopping before its
                        // deadline): a new batch, counted and backed off afresh.
                        shard.failing = Some(failed.clone());
                        shard.attempts = 1;
                        shard.backoff = BACKOFF_START;
                    }
                    let from = records.iter().position(|r| sequence_number(r) == failed).unwrap_or(0);
                    // attempts = the first try + the retries so far.
                    if self.settings.max_retries.is_some_and(|max| shard.attempts > max) {
                        self.discard(id, shard, &records[from..], "RetryAttemptsExhausted")
                            .await;
                        return true;
                    }
                    if whole && self.settings.bisect {
                        shard.limit = Some(((records.len() - from) as i32 / 2).max(1));
                    }
                    // Re-read from the failed record after a pause (never past it).
                    shard.resume = Some(Resume::At(failed));
                    shard.iterator = None;
                    tokio::time::sleep(shard.backoff).await;
                    shard.backoff = (shard.backoff * 2).min(BACKOFF_CAP);
                    return true;
                }
            }
        }
        match out.next_shard_iterator() {
            Some(next) => shard.iterator = Some(next.to_owned()),
            None => {
                tracing::info!(shard = id, "shard finished");
                shard.finished = true;
            }
        }
        !records.is_empty()
    }

    async fn iterator(&self, shard: &str, resume: Option<&Resume>, latest: bool) -> anyhow::Result<String> {
        let req = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard);
        let req = match resume {
            Some(Resume::After(seq)) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            Some(Resume::At(seq)) => req
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(seq),
            None if latest => req.shard_iterator_type(ShardIteratorType::Latest),
            None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("GetShardIterator answered without an iterator"))
    }

    /// Invokes the function with `records`; the sequence number to retry from, if any:
    /// the first reported failure, or the first record when the whole batch failed
    /// (then `true`).
    async fn invoke(&self, records: &[Value]) -> Option<(String, bool)> {
        let started = Instant::now();
        let seqs: Vec<String> = records.iter().map(sequence_number).collect();
        let refs: Vec<&str> = seqs.iter().map(String::as_str).collect();
        let result = match self
            .invoker
            .invoke(&self.function, &json!({ "Records": records }))
            .await
        {
            Ok(reply) => batch_failures(&reply, &refs),
            Err(e) => Err(e.to_string()),
        };
        let failures = result.as_ref().map_or(records.len(), Vec::len);
        tracing::info!(function = %self.function, count = records.len(), failures,
            ms = started.elapsed().as_millis() as u64, "stream batch");
        match result {
            Ok(failed) => seqs.into_iter().find(|s| failed.contains(s)).map(|s| (s, false)),
            Err(e) => {
                tracing::warn!(function = %self.function, error = %e, "batch failed as a whole; retrying it");
                seqs.into_iter().next().map(|s| (s, true))
            }
        }
    }

    /// Gives `lost` up: reports it to the on-failure destination and moves the shard
    /// past it. If the report cannot be sent, the shard stays where it is (retried).
    async fn discard(&self, shard_id: &str, shard: &mut Shard, lost: &[Value], condition: &str) {
        let (Some(first), Some(last)) = (lost.first(), lost.last()) else {
            return;
        };
        let record = failure_record(
            &self.function_arn(),
            &self.stream_arn,
            shard_id,
            lost,
            condition,
            shard.attempts.max(1),
        );
        let (start, end) = (sequence_number(first), sequence_number(last));
        match &self.on_failure {
            Some(dest) => {
                let sent = dest
                    .client
                    .send_message()
                    .queue_url(&dest.queue_url)
                    .message_body(record.to_string())
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(shard = shard_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
                        "the on-failure destination refused the failure record; retrying the batch");
                    shard.resume = Some(Resume::At(start));
                    shard.iterator = None;
                    tokio::time::sleep(shard.backoff).await;
                    return;
                }
                tracing::error!(shard = shard_id, start = %start, end = %end, count = lost.len(), condition,
                    destination = %dest.queue_url, "batch discarded: failure record sent to the on-failure destination");
            }
            None => tracing::error!(shard = shard_id, start = %start, end = %end, count = lost.len(), condition,
                "batch discarded: no on-failure destination, nothing records it"),
        }
        shard.resume = Some(Resume::After(end));
        shard.iterator = None;
        shard.failing = None;
        shard.attempts = 0;
        shard.limit = None;
        shard.backoff = BACKOFF_START;
    }

    fn function_arn(&self) -> String {
        format!("arn:aws:lambda:{}:123456789012:function:{}", self.region, self.function)
    }
}

/// The invocation record Lambda sends to a stream mapping's on-failure destination
/// when it discards a batch: the shard and the sequence number range with the
/// records' approximate arrival times, not the records themselves.
pub fn failure_record(
    function_arn: &str,
    stream_arn: &str,
    shard_id: &str,
    lost: &[Value],
    condition: &str,
    invokes: u32,
) -> Value {
    let iso = |t: Option<i64>| {
        t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
    };
    let now = time::OffsetDateTime::now_utc();
    json!({
        "requestContext": {
            "requestId": format!("local-{}", now.unix_timestamp_nanos()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invokes,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": now.format(&time::format_description::well_known::Rfc3339).ok(),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": lost.first().map(sequence_number),
            "endSequenceNumber": lost.last().map(sequence_number),
            "approximateArrivalOfFirstRecord": iso(lost.first().and_then(created)),
            "approximateArrivalOfLastRecord": iso(lost.last().and_then(created)),
            "batchSize": lost.len(),
            "streamArn": stream_arn,
        }
    })
}

/// A record's `ApproximateCreationDateTime` (Unix seconds).
fn created(record: &Value) -> Option<i64> {
    let t = &record["dynamodb"]["ApproximateCreationDateTime"];
    t.as_i64().or_else(|| t.as_f64().map(|f| f as i64))
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A stream record as Lambda hands it to a function.
pub fn record_json(r: &Record, stream_arn: &str, region: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, image) in [
            ("Keys", d.keys()),
            ("NewImage", d.new_image()),
            ("OldImage", d.old_image()),
        ] {
            if let Some(image) = image {
                dynamodb.insert(name.into(), item_json(image));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(d.sequence_number()));
        dynamodb.insert("SizeBytes".into(), json!(d.size_bytes().unwrap_or_default()));
        if let Some(v) = d.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    let mut record = json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region().unwrap_or(region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    });
    if let Some(who) = r.user_identity() {
        record["userIdentity"] = json!({"type": who.r#type(), "principalId": who.principal_id()});
    }
    record
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

/// DynamoDB JSON of one attribute value (binary as base64, as the wire has it).
pub fn attribute_json(v: &AttributeValue) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        // A type added to the API after this was written.
        _ => json!({ "NULL": true }),
    }
}
