//! `local-mappings`: what Lambda's event source mappings do, locally.
//!
//! ```text
//! local-mappings [--lambda-url http://127.0.0.1:9000] [--queue-url URL] [--stream-arn ARN]
//!                [--execute-function execute] [--publish-function publish] [--no-queue] [--no-stream]
//!                [--from-latest] [--pollers N] [--template infra/template.yaml]
//!                [--on-failure-url URL] [--max-concurrency N] [--schedule NAME=SECS]...
//!                [--audit-stream-arn ARN] [--archive-function archive]
//!                [--fanout-function fanout] [--fanout-failure-url URL] [--no-fanout]
//! ```
//! The orders table's stream also goes to `--fanout-function` (the live updates' fan-out,
//! `FanoutFunction`'s mapping in the template: its batch size, retry bounds and
//! `StartingPosition`), its discarded batches to `--fanout-failure-url`
//! (`FANOUT_FAILURE_QUEUE_URL`, a stack output); `--no-fanout` (or `--no-stream`) leaves
//! it out. Only that mapping writes the live stages (`stages`).
//! `--pollers N` (default 2, `MAPPING_POLLERS`): the queue's concurrent pollers, each
//! invoking execute with its own batch, as Lambda's SQS pollers do; match it to the
//! function's instances under cargo lambda watch (`FUNCTION_CONCURRENCY`).
//! `--template PATH` (`MAPPING_TEMPLATE`): the mappings take their settings from the
//! template's events (`settings`): the stream's batch size, retry bound, record age
//! bound and bisecting, and the queue's `ScalingConfig.MaximumConcurrency`. The
//! stream's discarded batches go to `--on-failure-url` (`PUBLISH_FAILURE_QUEUE_URL`,
//! the stack output), required when the template names an on-failure destination.
//! `--stream-max-retries N` (`MAPPING_STREAM_MAX_RETRIES`) overrides the template's
//! `MaximumRetryAttempts` (-1: unbounded): the test stacks use a few, so that a poison
//! record is given up in seconds rather than after the deployed bound.
//! `--max-concurrency N` overrides `MaximumConcurrency`: at most N invocations of
//! execute at once, as Lambda caps an SQS mapping: no more than N pollers receive,
//! so no message is received (and its receive count spent) without a free slot.
//! `--schedule NAME=SECS` (repeatable; `MAPPING_SCHEDULES`, comma-separated): invoke
//! function NAME every SECS seconds, one run at a time, as the template's schedule
//! does (`schedule`): the local stacks run the venue intake this way.
//! `--audit-stream-arn ARN` (`AUDIT_TABLE_STREAM_ARN`): the audit table's stream to the
//! archive function (the write-once copy), with the template's settings of
//! `ArchiveFunction`'s mapping; always from the stream's horizon (a copy must miss
//! nothing, and copying twice is harmless), and `--no-stream` leaves it running.
//! `--schedule-pause-dir DIR` (`MAPPING_SCHEDULE_PAUSE_DIR`): a schedule does not
//! start a run while `DIR/<NAME>.paused` exists, and `DIR/<NAME>.running` shows a run
//! in flight (the intake outage scenario stops the intake this way).
//! Defaults come from the environment (the stack env `make dev` writes):
//! `LAMBDA_URL`, `WORK_QUEUE_URL`, `ORDERS_TABLE_STREAM_ARN`, plus `AWS_ENDPOINT_URL`,
//! `AWS_REGION` and the dummy credentials for the SDK. Logs one line per batch.

use std::time::Duration;

use anyhow::{Context, bail};
use local_mappings::invoke::Invoker;
use local_mappings::schedule::Schedule;
use local_mappings::settings::{self, TemplateSettings};
use local_mappings::sqs::SqsMapping;
use local_mappings::stream::{FailureDestination, StreamMapping};

const USAGE: &str = "usage: local-mappings [--lambda-url URL] [--queue-url URL] [--stream-arn ARN] \
[--execute-function NAME] [--publish-function NAME] [--no-queue] [--no-stream] [--from-latest] [--pollers N] \
[--template PATH] [--on-failure-url URL] [--stream-max-retries N] [--max-concurrency N] [--schedule NAME=SECS]... \
[--audit-stream-arn ARN] [--archive-function NAME] [--schedule-pause-dir DIR] [--fanout-function NAME] \
[--fanout-failure-url URL] [--no-fanout]";

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
    let mut schedules: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--schedule")
        .filter_map(|(i, _)| args.get(i + 1).cloned())
        .collect();
    if schedules.is_empty() {
        schedules = std::env::var("MAPPING_SCHEDULES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let schedules = schedules
        .iter()
        .map(|s| Schedule::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{e}\n{USAGE}"))?;
    if queue_url.is_none() && stream_arn.is_none() && schedules.is_empty() {
        bail!(
            "nothing to map: set WORK_QUEUE_URL / ORDERS_TABLE_STREAM_ARN (source .local/stack.env) or pass them\n{USAGE}"
        );
    }
    let pollers_flag = flag(&args, "--pollers", "MAPPING_POLLERS", "2");
    let pollers: usize = match pollers_flag.parse() {
        Ok(n @ 1..=64) => n,
        _ => bail!("--pollers must be a whole number from 1 to 64, not {pollers_flag:?}\n{USAGE}"),
    };
    let template = flag(&args, "--template", "MAPPING_TEMPLATE", "");
    let mut mapping_settings = if template.is_empty() {
        TemplateSettings::default()
    } else {
        settings::from_template(std::path::Path::new(&template))?
    };
    let max_flag = flag(&args, "--max-concurrency", "MAPPING_MAX_CONCURRENCY", "");
    if !max_flag.is_empty() {
        mapping_settings.sqs_max_concurrency = match max_flag.parse() {
            Ok(n @ 2..=1000) => Some(n),
            _ => bail!(
                "--max-concurrency must be a whole number from 2 to 1000 (Lambda's bounds), not {max_flag:?}\n{USAGE}"
            ),
        };
    }
    let retries_flag = flag(&args, "--stream-max-retries", "MAPPING_STREAM_MAX_RETRIES", "");
    if !retries_flag.is_empty() {
        mapping_settings.stream.max_retries = match retries_flag.parse::<i64>() {
            Ok(-1) => None,
            Ok(n @ 0..=10_000) => Some(n as u32),
            _ => {
                bail!("--stream-max-retries must be -1 or 0 to 10000 (Lambda's bounds), not {retries_flag:?}\n{USAGE}")
            }
        };
    }
    let pollers = mapping_settings
        .sqs_max_concurrency
        .map_or(pollers, |max| pollers.min(max));
    let on_failure_url =
        Some(flag(&args, "--on-failure-url", "PUBLISH_FAILURE_QUEUE_URL", "")).filter(|u| !u.is_empty());
    if stream_arn.is_some() && mapping_settings.stream.has_destination && on_failure_url.is_none() {
        bail!(
            "the template's stream mapping has an on-failure destination: pass its queue URL with --on-failure-url \
             (or PUBLISH_FAILURE_QUEUE_URL, a stack output)\n{USAGE}"
        );
    }
    let pause_dir =
        Some(flag(&args, "--schedule-pause-dir", "MAPPING_SCHEDULE_PAUSE_DIR", "")).filter(|d| !d.is_empty());
    let pause_dir = pause_dir.map(std::path::PathBuf::from);
    let invoker = Invoker::new(&lambda_url).context("building the HTTP client")?;
    let mut tasks = tokio::task::JoinSet::new();
    for schedule in schedules {
        tasks.spawn(schedule.run(invoker.clone(), pause_dir.clone()));
    }
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
    tracing::info!(%lambda_url, queue = ?queue_url, stream = ?stream_arn, pollers, settings = ?mapping_settings,
        on_failure = ?on_failure_url, "local event source mappings");

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
    let audit_stream_arn =
        Some(flag(&args, "--audit-stream-arn", "AUDIT_TABLE_STREAM_ARN", "")).filter(|s| !s.is_empty());
    if let Some(audit_stream_arn) = audit_stream_arn {
        tasks.spawn(
            StreamMapping {
                client: aws_sdk_dynamodbstreams::Client::new(&sdk),
                invoker: invoker.clone(),
                stream_arn: audit_stream_arn,
                function: flag(&args, "--archive-function", "ARCHIVE_FUNCTION", "archive"),
                region: region.clone(),
                from_latest: false,
                settings: mapping_settings
                    .streams
                    .get("ArchiveFunction")
                    .cloned()
                    .unwrap_or_default(),
                on_failure: None,
                stages: false,
            }
            .run(),
        );
    }
    let fanout_settings = mapping_settings.streams.get("FanoutFunction").cloned();
    if let (Some(stream_arn), Some(settings)) = (
        stream_arn.as_ref(),
        fanout_settings.filter(|_| !args.iter().any(|a| a == "--no-fanout")),
    ) {
        let on_failure =
            Some(flag(&args, "--fanout-failure-url", "FANOUT_FAILURE_QUEUE_URL", "")).filter(|u| !u.is_empty());
        if settings.has_destination && on_failure.is_none() {
            bail!(
                "the template's fan-out mapping has an on-failure destination: pass its queue URL with \
                 --fanout-failure-url (or FANOUT_FAILURE_QUEUE_URL, a stack output)\n{USAGE}"
            );
        }
        tasks.spawn(
            StreamMapping {
                client: aws_sdk_dynamodbstreams::Client::new(&sdk),
                invoker: invoker.clone(),
                stream_arn: stream_arn.clone(),
                function: flag(&args, "--fanout-function", "FANOUT_FUNCTION", "fanout"),
                region: region.clone(),
                from_latest: settings.latest,
                settings,
                on_failure: on_failure.map(|queue_url| FailureDestination {
                    client: aws_sdk_sqs::Client::new(&sdk),
                    queue_url,
                }),
                stages: true,
            }
            .run(),
        );
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
                settings: mapping_settings.stream.clone(),
                on_failure: on_failure_url.map(|queue_url| FailureDestination {
                    client: aws_sdk_sqs::Client::new(&sdk),
                    queue_url,
                }),
                stages: false,
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
