//! Private copies of the stack's resources for one bench run: the orders and audit
//! tables (same keys, indexes and stream), a work queue and an event bus without
//! rules, so nothing else on the stack (the event-source mappings of `make bench`,
//! the tap queue the load generator reads) reads, moves or receives these orders.
//! Also the two event sources, as Lambda runs them: the table's stream (its reads
//! are free for a Lambda trigger, so they go through an uncounted client) and the
//! SQS poller (ReceiveMessage / DeleteMessageBatch, billed: a counted client).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{BillingMode, GlobalSecondaryIndex, TableDescription};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::Value;

pub struct Private {
    pub orders_table: String,
    pub audit_table: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub stream_arn: String,
    /// Status events go here: billed the same, delivered nowhere.
    pub event_bus: String,
    /// The orders table's indexes and key attributes: the writes its stream records
    /// show are billed by the indexes too.
    pub indexes: Vec<crate::units::Index>,
    pub table_keys: Vec<String>,
}

/// A table's global secondary indexes, as the bench bills them.
fn indexes_of(d: &TableDescription) -> Vec<crate::units::Index> {
    use aws_sdk_dynamodb::types::ProjectionType;
    d.global_secondary_indexes()
        .iter()
        .map(|g| crate::units::Index {
            name: g.index_name().unwrap_or_default().to_owned(),
            keys: g.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect(),
            projects: match g.projection().and_then(|p| p.projection_type()) {
                Some(ProjectionType::KeysOnly) => Some(Vec::new()),
                Some(ProjectionType::Include) => Some(
                    g.projection()
                        .map(|p| p.non_key_attributes().to_vec())
                        .unwrap_or_default(),
                ),
                _ => None,
            },
        })
        .collect()
}

async fn describe(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<TableDescription> {
    ddb.describe_table()
        .table_name(table)
        .send()
        .await
        .with_context(|| format!("DescribeTable {table}"))?
        .table
        .with_context(|| format!("DescribeTable {table}: no description"))
}

/// A copy of `source`'s key schema, indexes and stream, billed on demand.
async fn copy_table(ddb: &aws_sdk_dynamodb::Client, source: &str, name: &str) -> anyhow::Result<TableDescription> {
    let d = describe(ddb, source).await?;
    let mut indexes = Vec::new();
    for g in d.global_secondary_indexes() {
        indexes.push(
            GlobalSecondaryIndex::builder()
                .set_index_name(g.index_name.clone())
                .set_key_schema(g.key_schema.clone())
                .set_projection(g.projection.clone())
                .build()
                .with_context(|| format!("index of {source}"))?,
        );
    }
    ddb.create_table()
        .table_name(name)
        .set_attribute_definitions(d.attribute_definitions.clone())
        .set_key_schema(d.key_schema.clone())
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_stream_specification(d.stream_specification.clone())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .with_context(|| format!("CreateTable {name} (a copy of {source})"))?;
    describe(ddb, name).await
}

impl Private {
    pub async fn create(
        ddb: &aws_sdk_dynamodb::Client,
        sqs: &aws_sdk_sqs::Client,
        events: &aws_sdk_eventbridge::Client,
        orders_source: &str,
        audit_source: &str,
        suffix: &str,
    ) -> anyhow::Result<Self> {
        let orders = copy_table(ddb, orders_source, &format!("{orders_source}-bench-{suffix}")).await?;
        let audit = copy_table(ddb, audit_source, &format!("{audit_source}-bench-{suffix}")).await?;
        let stream_arn = orders
            .latest_stream_arn
            .clone()
            .context("the orders table has no stream (it is the outbox of publish)")?;
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("bench-work-{suffix}"))
            .attributes(QueueAttributeName::VisibilityTimeout, "180")
            .send()
            .await
            .context("CreateQueue")?
            .queue_url
            .context("CreateQueue: no url")?;
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .context("GetQueueAttributes")?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .context("the queue has no ARN")?;
        let event_bus = format!("bench-bus-{suffix}");
        events
            .create_event_bus()
            .name(&event_bus)
            .send()
            .await
            .context("CreateEventBus")?;
        Ok(Self {
            event_bus,
            indexes: indexes_of(&orders),
            table_keys: orders
                .key_schema()
                .iter()
                .map(|k| k.attribute_name().to_owned())
                .collect(),
            orders_table: orders.table_name.unwrap_or_default(),
            audit_table: audit.table_name.unwrap_or_default(),
            queue_url,
            queue_arn,
            stream_arn,
        })
    }

    /// Deletes the copies (best effort: a leftover only costs emulator memory).
    pub async fn delete(
        &self,
        ddb: &aws_sdk_dynamodb::Client,
        sqs: &aws_sdk_sqs::Client,
        events: &aws_sdk_eventbridge::Client,
    ) {
        for t in [&self.orders_table, &self.audit_table] {
            if let Err(e) = ddb.delete_table().table_name(t).send().await {
                tracing::warn!(table = %t, error = %e, "could not delete the bench table");
            }
        }
        if let Err(e) = sqs.delete_queue().queue_url(&self.queue_url).send().await {
            tracing::warn!(queue = %self.queue_url, error = %e, "could not delete the bench queue");
        }
        if let Err(e) = events.delete_event_bus().name(&self.event_bus).send().await {
            tracing::warn!(bus = %self.event_bus, error = %e, "could not delete the bench event bus");
        }
    }
}

/// Reads the orders table's stream as the Lambda trigger does, in order.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    region: String,
    iterators: HashMap<String, Option<String>>,
}

impl StreamReader {
    pub fn new(client: aws_sdk_dynamodbstreams::Client, arn: &str, region: &str) -> Self {
        Self {
            client,
            arn: arn.to_owned(),
            region: region.to_owned(),
            iterators: HashMap::new(),
        }
    }

    /// Every record committed since the last call, as Lambda's stream event records.
    pub async fn drain(&mut self) -> anyhow::Result<Vec<Value>> {
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .context("DescribeStream")?
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.iterators.contains_key(&id) {
                continue;
            }
            let it = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("GetShardIterator")?
                .shard_iterator;
            self.iterators.insert(id, it);
        }
        let mut out = Vec::new();
        for iterator in self.iterators.values_mut() {
            let Some(it) = iterator.clone() else { continue };
            let page = self
                .client
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .context("GetRecords")?;
            for r in page.records() {
                out.push(local_mappings::stream::record_json(r, &self.arn, &self.region));
            }
            *iterator = page.next_shard_iterator;
        }
        Ok(out)
    }
}

/// The SQS event source mapping's calls, on a counted client.
pub struct Poller {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
}

impl Poller {
    /// Long-polls until a message arrives (or `within` passes): up to `batch` messages.
    pub async fn receive(&self, batch: i32, within: Duration) -> anyhow::Result<(Vec<Message>, u32)> {
        let start = Instant::now();
        let mut empty = 0;
        loop {
            let got = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(batch)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .context("ReceiveMessage")?
                .messages
                .unwrap_or_default();
            if !got.is_empty() {
                return Ok((got, empty));
            }
            empty += 1;
            if start.elapsed() > within {
                bail!("no work message arrived within {within:?}");
            }
        }
    }

    /// Lambda's SQS event for `messages`.
    pub fn event(&self, messages: &[Message]) -> Value {
        local_mappings::sqs::sqs_event(messages, &self.queue_arn, &self.region)
    }

    /// Deletes the messages the function handled (one DeleteMessageBatch, as Lambda).
    pub async fn delete(&self, messages: &[&Message]) -> anyhow::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            entries.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .context("DeleteMessageBatch entry")?,
            );
        }
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("DeleteMessageBatch")?;
        if !out.failed.is_empty() {
            bail!("DeleteMessageBatch failed for {} message(s)", out.failed.len());
        }
        Ok(())
    }
}
