// Long because: the mappings' end-to-end cases against the emulator and one fake invoke API they share.
//! The mappings against the local emulator (`AWS_ENDPOINT_URL`; `make test` runs
//! these) and a fake invoke API that records every event and fails on cue. Each
//! test makes its own queue or table.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use local_mappings::invoke::Invoker;
use local_mappings::settings::StreamSettings;
use local_mappings::sqs::SqsMapping;
use local_mappings::stream::{FailureDestination, StreamMapping};
use serde_json::{Value, json};

type Reply = (StatusCode, HeaderMap, Json<Value>);
type Script = Box<dyn Fn(usize, &Value) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Value>>>,
    script: Arc<Script>,
}

async fn invocation(State(fake): State<Fake>, Path(_name): Path<String>, Json(event): Json<Value>) -> Reply {
    let n = {
        let mut calls = fake.calls.lock().unwrap();
        calls.push(event.clone());
        calls.len()
    };
    (fake.script)(n, &event)
}

/// Starts the fake invoke API; returns its URL and the events it received.
async fn fake_lambda(script: Script) -> (String, Arc<Mutex<Vec<Value>>>) {
    let fake = Fake {
        calls: Arc::default(),
        script: Arc::new(script),
    };
    let calls = fake.calls.clone();
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invocation))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

fn ok(body: Value) -> Reply {
    (StatusCode::OK, HeaderMap::new(), Json(body))
}

async fn sdk() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: these tests run against the emulator `make test` starts"
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id() as u64 * 1000 + rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        % 1000
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
#[ignore = "needs the local emulator (make test)"]
async fn sqs_deletes_what_the_function_handled_and_failures_end_in_the_dlq() {
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("mapper-work");
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let dlq_arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}-dlq");
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    for body in ["ok-1", "fail", "ok-2"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // Reports every message whose body is "fail".
    let (lambda, calls) = fake_lambda(Box::new(|_, event| {
        let failed: Vec<Value> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["body"] == "fail")
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        ok(json!({ "batchItemFailures": failed }))
    }))
    .await;
    let mapping = SqsMapping {
        client: sqs.clone(),
        invoker: Invoker::new(&lambda).unwrap(),
        queue_url: url.clone(),
        function: "execute".into(),
        region: "us-east-1".into(),
    };
    let task = tokio::spawn(mapping.run());
    wait_until("the failing message in the DLQ", async || {
        let got = sqs.receive_message().queue_url(&dlq_url).send().await.unwrap();
        got.messages().iter().any(|m| m.body() == Some("fail"))
    })
    .await;
    task.abort();

    let calls = calls.lock().unwrap().clone();
    let records: Vec<&Value> = calls.iter().flat_map(|c| c["Records"].as_array().unwrap()).collect();
    let count = |body: &str| records.iter().filter(|r| r["body"] == body).count();
    assert_eq!((count("ok-1"), count("ok-2"), count("fail")), (1, 1, 2), "{calls:#?}");
    let r = records[0];
    for key in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(r["attributes"][key].is_string(), "attributes.{key} missing: {r}");
    }
    assert_eq!(r["eventSource"], "aws:sqs");
    assert!(r["eventSourceARN"].as_str().unwrap().ends_with(&name), "{r}");
    assert!(r["receiptHandle"].is_string() && r["md5OfBody"].is_string() && r["messageAttributes"].is_object());
    let left = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(left.messages().is_empty(), "handled messages were not deleted");
}

#[tokio::test]
#[ignore = "needs the local emulator (make test)"]
async fn the_stream_is_retried_from_the_failed_record_and_nothing_is_skipped() {
    let sdk = sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("mapper-orders");
    use aws_sdk_dynamodb::types::*;
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let created = ddb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stream_arn = created
        .table_description()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    let put = async |sk: &str| {
        ddb.put_item()
            .table_name(&table)
            .item("PK", AttributeValue::S("TRADER#t".into()))
            .item("SK", AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    };
    for sk in ["ORDER#1", "ORDER#2", "ORDER#3"] {
        put(sk).await;
    }
    // Call 1: a function error. Call 2: the second record fails. Then all succeed.
    let (lambda, calls) = fake_lambda(Box::new(|n, event| match n {
        1 => {
            let mut h = HeaderMap::new();
            h.insert("x-amz-function-error", "Unhandled".parse().unwrap());
            (StatusCode::OK, h, Json(json!({"errorMessage": "boom"})))
        }
        2 => ok(json!({"batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]})),
        _ => ok(json!({"batchItemFailures": []})),
    }))
    .await;
    let mapping = StreamMapping {
        client: aws_sdk_dynamodbstreams::Client::new(&sdk),
        invoker: Invoker::new(&lambda).unwrap(),
        stream_arn: stream_arn.clone(),
        function: "publish".into(),
        region: "us-east-1".into(),
        from_latest: false,
        settings: StreamSettings::default(),
        on_failure: None,
        stages: false,
    };
    let task = tokio::spawn(mapping.run());
    let sks = |e: &Value| -> Vec<String> {
        e["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dynamodb"]["Keys"]["SK"]["S"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_until("three invocations", async || calls.lock().unwrap().len() >= 3).await;
    put("ORDER#4").await;
    wait_until("the record written later", async || calls.lock().unwrap().len() >= 4).await;
    task.abort();

    let calls = calls.lock().unwrap().clone();
    let batches: Vec<Vec<String>> = calls.iter().map(sks).collect();
    let all = ["ORDER#1", "ORDER#2", "ORDER#3"];
    assert_eq!(
        batches[..4],
        [all.to_vec(), all.to_vec(), vec!["ORDER#2", "ORDER#3"], vec!["ORDER#4"]]
    );
    let r = &calls[0]["Records"][0];
    assert_eq!(
        (&r["eventName"], &r["eventVersion"], &r["eventSource"]),
        (&json!("INSERT"), &json!("1.1"), &json!("aws:dynamodb"))
    );
    assert_eq!(r["eventSourceARN"], json!(stream_arn));
    let d = &r["dynamodb"];
    assert_eq!(d["NewImage"]["SK"], json!({"S": "ORDER#1"}));
    assert_eq!(d["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert!(
        d["ApproximateCreationDateTime"].is_number() && d["SizeBytes"].is_number() && d["SequenceNumber"].is_string()
    );
    // The publish function's own event type reads it.
    let parsed: Result<aws_lambda_events::event::dynamodb::Event, _> = serde_json::from_value(calls[0].clone());
    assert!(parsed.is_ok(), "{parsed:?}");
}

/// A table with a NEW_AND_OLD_IMAGES stream; its name and stream ARN.
async fn stream_table(ddb: &aws_sdk_dynamodb::Client) -> (String, String) {
    use aws_sdk_dynamodb::types::*;
    let table = unique("mapper-poison");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let created = ddb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = created
        .table_description()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    (table, arn)
}

#[tokio::test]
#[ignore = "needs the local emulator (make test)"]
async fn a_poison_record_is_retried_to_the_bound_then_reported_to_the_destination_and_passed() {
    let sdk = sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (table, stream_arn) = stream_table(&ddb).await;
    let dest = sqs
        .create_queue()
        .queue_name(unique("mapper-stream-failures"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let put = async |sk: &str| {
        ddb.put_item()
            .table_name(&table)
            .item("PK", aws_sdk_dynamodb::types::AttributeValue::S("TRADER#t".into()))
            .item("SK", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    };
    for sk in ["ORDER#1", "ORDER#2", "ORDER#3"] {
        put(sk).await;
    }
    // ORDER#1 always fails (a poison record); everything else succeeds.
    let (lambda, calls) = fake_lambda(Box::new(|_, event| {
        let poison = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dynamodb"]["Keys"]["SK"]["S"] == "ORDER#1");
        match poison {
            Some(r) => ok(json!({"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}]})),
            None => ok(json!({"batchItemFailures": []})),
        }
    }))
    .await;
    let mapping = StreamMapping {
        client: aws_sdk_dynamodbstreams::Client::new(&sdk),
        invoker: Invoker::new(&lambda).unwrap(),
        stream_arn: stream_arn.clone(),
        function: "publish".into(),
        region: "us-east-1".into(),
        from_latest: false,
        settings: StreamSettings {
            max_retries: Some(2),
            bisect: true,
            has_destination: true,
            ..StreamSettings::default()
        },
        on_failure: Some(FailureDestination {
            client: sqs.clone(),
            queue_url: dest.clone(),
        }),
        stages: false,
    };
    let task = tokio::spawn(mapping.run());
    let mut reported = None;
    for _ in 0..300 {
        let got = sqs.receive_message().queue_url(&dest).send().await.unwrap();
        if let Some(m) = got.messages().first() {
            reported = Some(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reported = reported.expect("no failure record reached the on-failure destination");
    put("ORDER#4").await;
    wait_until("the record after the discarded batch", async || {
        calls
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["Records"][0]["dynamodb"]["Keys"]["SK"]["S"] == "ORDER#4")
    })
    .await;
    task.abort();

    let calls = calls.lock().unwrap().clone();
    let seq_of = |sk: &str| {
        calls[0]["Records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dynamodb"]["Keys"]["SK"]["S"] == sk)
            .map(|r| r["dynamodb"]["SequenceNumber"].clone())
            .unwrap()
    };
    // The first try and MaximumRetryAttempts (2) retries, then never again.
    let tries = calls
        .iter()
        .filter(|e| e["Records"][0]["dynamodb"]["Keys"]["SK"]["S"] == "ORDER#1")
        .count();
    assert_eq!(tries, 3, "{calls:#?}");
    let info = &reported["DDBStreamBatchInfo"];
    assert_eq!(reported["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(reported["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(info["startSequenceNumber"], seq_of("ORDER#1"));
    assert_eq!(info["endSequenceNumber"], seq_of("ORDER#3"));
    assert_eq!(info["batchSize"], 3);
    assert_eq!(info["streamArn"], json!(stream_arn));
    assert!(
        info["shardId"].is_string() && info["approximateArrivalOfFirstRecord"].is_string(),
        "{info}"
    );
    // The records behind the poison one in its batch were discarded with it: only
    // ORDER#4 came after.
    let last = calls.last().unwrap();
    assert_eq!(last["Records"].as_array().unwrap().len(), 1, "{last}");
}
