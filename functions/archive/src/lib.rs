//! The archive function (SPEC §8): the audit table's stream into the write-once copy,
//! and once a day the digest of the day before.
//!
//! Two events reach it:
//! - a batch of the audit table's stream (`{"Records": [...]}`): every appended record
//!   is copied (`shared::app::archive::archive`); the batch answers with the first
//!   record not copied (ReportBatchItemFailures), so nothing is skipped. A record
//!   modified or removed in the table (its policies forbid both) is logged at error
//!   level as `audit record changed in place`, which the template's metric filter
//!   counts into an alarm; the copy keeps the original.
//! - its schedule (EventBridge's scheduled event, `time` set; or `{"digest_day":
//!   "YYYY-MM-DD"}` by hand): the digest of the UTC day before `time` (or of
//!   `digest_day`), written once.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::Error;
use serde_json::{Value, json};
use shared::adapters::aws::stream::{AuditChange, audit_change, sequence_number};
use shared::app::archive::{DigestWrite, archive, day_of, write_digest};
use shared::domain::Timestamp;
use shared::ports::WriteOnceStore;

pub struct Archive {
    pub copy: Arc<dyn WriteOnceStore>,
}

impl Archive {
    pub async fn handle(&self, event: Value) -> Result<Value, Error> {
        if event.get("Records").is_some() {
            let batch: Event =
                serde_json::from_value(event).map_err(|e| format!("not a DynamoDB stream batch: {e}"))?;
            return Ok(serde_json::to_value(self.stream_batch(&batch).await)?);
        }
        let day = digest_day(&event)?;
        let outcome = write_digest(self.copy.as_ref(), &day).await?;
        let (state, digest) = match &outcome {
            DigestWrite::Written(d) => ("written", d),
            DigestWrite::Present(d) => ("present", d),
            DigestWrite::Differs { locked, now } => {
                tracing::error!(day = %day, locked = %locked.digest, locked_records = locked.records,
                    now = %now.digest, now_records = now.records,
                    "audit digest differs: records of the day were archived after its digest");
                ("differs", locked)
            }
        };
        tracing::info!(day = %day, state, records = digest.records, chains = digest.heads.len(),
            digest = %digest.digest, "audit digest");
        Ok(json!({"day": day, "state": state, "records": digest.records,
            "chains": digest.heads.len(), "digest": digest.digest}))
    }

    /// Copies the batch's appended records, up to the first unreadable one.
    pub async fn stream_batch(&self, batch: &Event) -> DynamoDbEventResponse {
        let mut entries = Vec::new();
        let mut sequence_numbers = Vec::new();
        let mut stopped_at = None;
        for record in &batch.records {
            match audit_change(record) {
                Ok(AuditChange::Appended(entry)) => {
                    entries.push(entry);
                    sequence_numbers.push(sequence_number(record).to_owned());
                }
                Ok(AuditChange::Tampered { event, chain, position }) => {
                    tracing::error!(event = %event, chain = %chain, position = %position,
                        "audit record changed in place: the write-once copy keeps the original");
                }
                Err(e) => {
                    tracing::error!(sequence_number = %e.sequence_number, detail = %e.detail,
                        "unreadable audit record: the shard waits on it until it is fixed");
                    stopped_at = Some(e.sequence_number);
                    break;
                }
            }
        }
        let failed = match archive(self.copy.as_ref(), &entries).await {
            Ok(report) => {
                tracing::info!(
                    written = report.written,
                    present = report.present,
                    "audit records archived"
                );
                stopped_at
            }
            Err(failure) => {
                tracing::warn!(error = %failure, "archiving stopped at a record; it will be retried");
                sequence_numbers.get(failure.index).cloned()
            }
        };
        let mut response = DynamoDbEventResponse::default();
        if let Some(sequence) = failed {
            let mut item = DynamoDbBatchItemFailure::default();
            item.item_identifier = Some(sequence);
            response.batch_item_failures.push(item);
        }
        response
    }
}

/// The day a digest event asks for: `digest_day`, or the UTC day before `time`.
pub fn digest_day(event: &Value) -> Result<String, String> {
    if let Some(day) = event.get("digest_day").and_then(Value::as_str) {
        let valid = day.len() == 10 && Timestamp::parse(&format!("{day}T00:00:00Z")).is_ok();
        return if valid {
            Ok(day.to_owned())
        } else {
            Err(format!("digest_day {day:?} is not a YYYY-MM-DD date"))
        };
    }
    let time = event
        .get("time")
        .and_then(Value::as_str)
        .ok_or("neither a stream batch (Records), a scheduled event (time) nor {\"digest_day\": \"YYYY-MM-DD\"}")?;
    let at = Timestamp::parse(time).map_err(|e| format!("the scheduled event's time {time:?}: {e}"))?;
    Ok(day_of(at.plus_seconds(-86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::adapters::memory::MemoryWriteOnce;

    fn record(event: &str, seq: &str, new_image: Value) -> Value {
        json!({
            "eventID": seq, "eventName": event, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventVersion": "1.1",
            "dynamodb": {"Keys": {"PK": {"S": "ORDER#01ABC"}, "SK": {"S": format!("{:020}", 1)}},
                "NewImage": new_image, "SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE"}
        })
    }

    fn audit_image(hash: &str) -> Value {
        json!({"PK": {"S": "ORDER#01ABC"}, "SK": {"S": format!("{:020}", 1)}, "at": {"S": "2026-11-27T10:00:00Z"},
            "hash": {"S": hash}, "action": {"S": "SUBMIT"}})
    }

    #[tokio::test]
    async fn a_batch_is_copied_and_a_bad_record_stops_it() {
        let copy = Arc::new(MemoryWriteOnce::default());
        let archive = Archive { copy: copy.clone() };
        let batch = json!({"Records": [
            record("INSERT", "100", audit_image("h1")),
            record("MODIFY", "101", audit_image("h1-changed")),
            record("INSERT", "102", json!({"PK": {"S": "ORDER#01ABC"}})),
            record("INSERT", "103", audit_image("h3")),
        ]});
        let answer = archive.handle(batch).await.unwrap();
        assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "102"}]));
        let keys = copy.list("records/").await.unwrap();
        assert_eq!(keys, [format!("records/2026-11-27/ORDER#01ABC/{:020}/h1", 1)]);
    }

    #[tokio::test]
    async fn a_scheduled_event_writes_the_day_befores_digest_once() {
        let copy = Arc::new(MemoryWriteOnce::default());
        let archive = Archive { copy: copy.clone() };
        archive
            .handle(json!({"Records": [record("INSERT", "1", audit_image("h1"))]}))
            .await
            .unwrap();
        let scheduled =
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-28T00:15:00Z"});
        let first = archive.handle(scheduled.clone()).await.unwrap();
        assert_eq!(
            (
                first["day"].as_str(),
                first["state"].as_str(),
                first["records"].as_u64()
            ),
            (Some("2026-11-27"), Some("written"), Some(1))
        );
        let again = archive.handle(scheduled).await.unwrap();
        assert_eq!(again["state"], "present");
        assert!(copy.get("digests/2026-11-27").await.unwrap().is_some());
    }

    #[test]
    fn digest_days_are_checked() {
        assert_eq!(digest_day(&json!({"digest_day": "2026-11-27"})).unwrap(), "2026-11-27");
        assert!(digest_day(&json!({"digest_day": "2026-13-27"})).is_err());
        assert!(digest_day(&json!({"digest_day": "27/11/2026"})).is_err());
        assert!(digest_day(&json!({"run_secs": 0})).is_err());
        assert_eq!(
            digest_day(&json!({"time": "2026-03-01T00:15:00Z"})).unwrap(),
            "2026-02-28"
        );
    }
}
