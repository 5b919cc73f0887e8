//! `local-mappings`: what Lambda's event source mappings do, locally.
//!
//! ```text
//! local-mappings [--lambda-url http://127.0.0.1:9000] [--queue-url URL] [--stream-arn ARN]
//!                [--execute-function execute] [--publish-function publish] [--no-queue] [--no-stream]
//!                [--from-latest] [--pollers N]
//! ```
//! `--pollers N` (default 2, `MAPPING_POLLERS`): the queue's concurrent pollers, each
//! invoking execute with its own batch, as Lambda's SQS pollers do; match it to the
//! function's instances under cargo lambda watch (`FUNCTION_CONCURRENCY`).
//! Defaults come from the environment (the stack env `make dev` writes):
//! `LAMBDA_URL`, `WORK_QUEUE_URL`, `ORDERS_TABLE_STREAM_ARN`, plus `AWS_ENDPOINT_URL`,
//! `AWS_REGION` and the dummy credentials for the SDK. Logs one line per batch.

use std::time::Duration;

use anyhow::{Context, bail};
use local_mappings::invoke::Invoker;
use local_mappings::sqs::SqsMapping;
use local_mappings::stream::StreamMapping;

const USAGE: &str = "usage: local-mappings [--lambda-url URL] [--queue-url URL] [--stream-arn ARN] \
[--execute-function NAME] [--publish-function NAME] [--no-queue] [--no-stream] [--from-latest] [--pollers N]";

fn flag(args: &[String], name: &str, env: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let lambda_url = flag(&args, "--lambda-url", "LAMBDA_URL", "http://127.0.0.1:9000");
    let queue_url = Some(flag(&args, "--queue-url", "WORK_QUEUE_URL", "")).filter(|q| !q.is_empty());
    let stream_arn = Some(flag(&args, "--stream-arn", "ORDERS_TABLE_STREAM_ARN", "")).filter(|s| !s.is_empty());
    let queue_url = queue_url.filter(|_| !args.iter().any(|a| a == "--no-queue"));
    let stream_arn = stream_arn.filter(|_| !args.iter().any(|a| a == "--no-stream"));
    if queue_url.is_none() && stream_arn.is_none() {
        bail!(
            "nothing to map: set WORK_QUEUE_URL / ORDERS_TABLE_STREAM_ARN (source .local/stack.env) or pass them\n{USAGE}"
        );
    }
    let pollers_flag = flag(&args, "--pollers", "MAPPING_POLLERS", "2");
    let pollers: usize = match pollers_flag.parse() {
        Ok(n @ 1..=64) => n,
        _ => bail!("--pollers must be a whole number from 1 to 64, not {pollers_flag:?}\n{USAGE}"),
    };
    let invoker = Invoker::new(&lambda_url).context("building the HTTP client")?;
    // Bounded calls, so that an emulator that stops answering (or a connection it
    // dropped) costs one failed poll, retried, never a mapping hung for good. The
    // bound leaves room for the long poll (`sqs::WAIT_SECONDS`).
    let mut timeouts = aws_config::timeout::TimeoutConfig::builder();
    timeouts
        .set_connect_timeout(Some(Duration::from_secs(2)))
        .set_operation_attempt_timeout(Some(Duration::from_secs(20)));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts.build())
        .load()
        .await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    tracing::info!(%lambda_url, queue = ?queue_url, stream = ?stream_arn, pollers, "local event source mappings");

    let mut tasks = tokio::task::JoinSet::new();
    if let Some(queue_url) = queue_url {
        let client = aws_sdk_sqs::Client::new(&sdk);
        let function = flag(&args, "--execute-function", "EXECUTE_FUNCTION", "execute");
        for _ in 0..pollers {
            tasks.spawn(
                SqsMapping {
                    client: client.clone(),
                    invoker: invoker.clone(),
                    queue_url: queue_url.clone(),
                    function: function.clone(),
                    region: region.clone(),
                }
                .run(),
            );
        }
    }
    if let Some(stream_arn) = stream_arn {
        tasks.spawn(
            StreamMapping {
                client: aws_sdk_dynamodbstreams::Client::new(&sdk),
                invoker,
                stream_arn,
                function: flag(&args, "--publish-function", "PUBLISH_FUNCTION", "publish"),
                region,
                from_latest: args.iter().any(|a| a == "--from-latest"),
            }
            .run(),
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
        _ = term.recv() => tracing::info!("terminated: stopping"),
        done = tasks.join_next() => bail!("a mapping stopped: {done:?}"),
    }
    Ok(())
}
