//! What the crash-point and redelivery scenarios (issue 6) need besides HTTP: Lambda
//! events built as the local event-source mappings build them (an SQS batch of work
//! messages; the DynamoDB stream records of one order), and invoking the real
//! functions through `cargo lambda watch`'s invoke API (`LAMBDA_URL`), which is how
//! "the function restarted and the message came back" is played.

use anyhow::{Context, bail};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use local_mappings::invoke::{Invoker, batch_failures};
use local_mappings::stream::record_json;
use serde_json::{Value, json};
use shared::adapters::aws::items::order_sk;
use shared::domain::OrderId;
use shared::ports::WorkMessage;

use crate::Stack;

/// GetRecords answers at most 1000 records.
const PAGE: i32 = 1000;

/// A Lambda `SqsEvent` with one record carrying `message`, delivered for the
/// `receive_count`th time (what `ApproximateReceiveCount` says to the handler).
pub fn sqs_event(message: &WorkMessage, receive_count: u32) -> anyhow::Result<Value> {
    let id = ulid::Ulid::new().to_string();
    Ok(json!({"Records": [{
        "messageId": id,
        "receiptHandle": format!("crash-test-{id}"),
        "body": serde_json::to_string(message)?,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "0",
            "SenderId": "e2e",
            "ApproximateFirstReceiveTimestamp": "0",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:crash-test",
        "awsRegion": "us-east-1",
    }]}))
}

/// The version of the order a stream record carries (its new image, else its old).
pub fn record_version(record: &Value) -> Option<u64> {
    let image = &record["dynamodb"];
    ["NewImage", "OldImage"]
        .iter()
        .find_map(|i| image[i]["version"]["N"].as_str())
        .and_then(|v| v.parse().ok())
}

impl Stack {
    /// Invokes `function` (e.g. `execute`) with `event` and fails when the reply
    /// reports a failed item or the function errored.
    pub async fn invoke(&self, function: &str, event: &Value) -> anyhow::Result<Value> {
        let url = std::env::var("LAMBDA_URL").context("LAMBDA_URL is not set: scripts/stack.sh writes it")?;
        let reply = Invoker::new(&url)?.invoke(function, event).await?;
        let ids: Vec<String> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["messageId"].as_str().or(r["dynamodb"]["SequenceNumber"].as_str()))
            .map(str::to_owned)
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let failed = batch_failures(&reply, &refs).map_err(|e| anyhow::anyhow!("{function}: {e}"))?;
        if !failed.is_empty() {
            bail!("{function} reported failed items {failed:?}: {reply}");
        }
        Ok(reply)
    }

    /// Every record of the orders table's stream about order `id`, in stream order,
    /// as Lambda hands them to the publish function (a full read of the stream:
    /// tests only).
    pub async fn stream_records(&self, id: &OrderId) -> anyhow::Result<Vec<Value>> {
        let arn = std::env::var("ORDERS_TABLE_STREAM_ARN").context("ORDERS_TABLE_STREAM_ARN is not set")?;
        let client = aws_sdk_dynamodbstreams::Client::new(&shared::adapters::aws::sdk_config().await);
        let sk = order_sk(id);
        let described = client.describe_stream().stream_arn(&arn).send().await?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for shard in shards {
            let mut iterator = client
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator()
                .map(str::to_owned);
            while let Some(it) = iterator.take() {
                let page = client.get_records().shard_iterator(it).limit(PAGE).send().await?;
                for r in page.records() {
                    let ours = r
                        .dynamodb()
                        .and_then(|d| d.keys())
                        .is_some_and(|k| k.values().any(|v| v.as_s().is_ok_and(|s| *s == sk)));
                    if ours {
                        out.push(record_json(r, &arn, "us-east-1"));
                    }
                }
                if !page.records().is_empty() {
                    iterator = page.next_shard_iterator().map(str::to_owned);
                }
            }
        }
        Ok(out)
    }

    /// Hands the stream records of order `id` with a version above `after` to the
    /// real publish function (what its event-source mapping would do).
    pub async fn publish_stream(&self, id: &OrderId, after: u64) -> anyhow::Result<usize> {
        let records: Vec<Value> = self
            .stream_records(id)
            .await?
            .into_iter()
            .filter(|r| record_version(r).is_some_and(|v| v > after))
            .collect();
        if !records.is_empty() {
            self.invoke("publish", &json!({ "Records": records })).await?;
        }
        Ok(records.len())
    }
}
