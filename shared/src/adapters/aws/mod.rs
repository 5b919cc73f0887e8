//! AWS adapters on the official SDK: DynamoDB (orders, accounts, audit), SQS (work
//! queue), EventBridge (status events), S3 (the audit trail's write-once copy), API
//! Gateway's management API (live updates on WebSocket connections). Item
//! mapping lives only in `items`.

mod connections;
mod dead_letters;
mod dynamo;
mod eventbridge;
mod intake_store;
pub mod items;
mod order_changes;
mod pusher;
mod secrets;
mod sqs;
pub mod stream;
mod venue_budget;
mod write_once;

pub use connections::DynamoConnections;
pub use dead_letters::SqsDeadLetters;
pub use dynamo::DynamoStore;
pub use eventbridge::EventBridgePublisher;
pub use intake_store::DynamoIntakeStore;
pub use order_changes::DynamoOrderChanges;
pub use pusher::ManagementPusher;
pub use secrets::{SecretsManagerKeys, parse_keys};
pub use sqs::SqsQueue;
pub use venue_budget::DynamoVenueBudget;
pub use write_once::S3WriteOnce;

/// Resource names, as the SAM template hands them to every function.
#[derive(Clone, Debug)]
pub struct Resources {
    pub orders_table: String,
    pub audit_table: String,
    pub work_queue_url: String,
    pub event_bus_name: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set (it names an AWS resource; see infra/template.yaml Globals)")]
pub struct MissingVar(pub &'static str);

impl Resources {
    /// Reads `ORDERS_TABLE`, `AUDIT_TABLE`, `WORK_QUEUE_URL`, `EVENT_BUS_NAME`,
    /// failing fast with the missing variable's name.
    pub fn from_env() -> Result<Self, MissingVar> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(MissingVar(name))
        };
        Ok(Self {
            orders_table: var("ORDERS_TABLE")?,
            audit_table: var("AUDIT_TABLE")?,
            work_queue_url: var("WORK_QUEUE_URL")?,
            event_bus_name: var("EVENT_BUS_NAME")?,
        })
    }
}

/// Default bounds on every SDK call a Lambda function makes. A function has
/// `Timeout: 10` (execute 30) and the API gateway gives it 30 s, so a dependency that
/// stops answering must turn into a clear 503 / retryable failure well before either:
/// connecting takes at most 1 s, one attempt 2 s, and the whole operation (the SDK's
/// standard retries of timeouts and throttling included) 5 s.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
pub const ATTEMPT_TIMEOUT_MS: u64 = 2_000;
pub const OPERATION_TIMEOUT_MS: u64 = 5_000;

/// One timeout setting: `var` in milliseconds, else `default`; `0` turns that bound
/// off. A value that is not a whole number is logged (naming the variable) and the
/// default applies, so a typo never leaves a function without bounds.
fn timeout_ms(var: &str, default: Option<u64>) -> Option<std::time::Duration> {
    let ms = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).unwrap_or_else(|_| {
            tracing::error!(variable = var, value = %v, ?default, "not a whole number of milliseconds; using the default");
            default
        }),
        _ => default,
    };
    ms.filter(|ms| *ms > 0).map(std::time::Duration::from_millis)
}

/// The SDK timeouts: `AWS_CONNECT_TIMEOUT_MS`, `AWS_ATTEMPT_TIMEOUT_MS`,
/// `AWS_OPERATION_TIMEOUT_MS` (milliseconds; `0` = no bound). Unset, a Lambda
/// function (`AWS_LAMBDA_FUNCTION_NAME` is set, also under `cargo lambda watch`)
/// gets the defaults above; tools and tests get the SDK's own (no operation bound:
/// an operator's command or a test against the slow, serialized emulator waits).
/// The number of attempts is the SDK's own setting (`AWS_MAX_ATTEMPTS`, default 3).
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let default = |ms: u64| in_lambda.then_some(ms);
    let mut builder = aws_config::timeout::TimeoutConfig::builder();
    builder
        .set_connect_timeout(timeout_ms("AWS_CONNECT_TIMEOUT_MS", default(CONNECT_TIMEOUT_MS)))
        .set_operation_attempt_timeout(timeout_ms("AWS_ATTEMPT_TIMEOUT_MS", default(ATTEMPT_TIMEOUT_MS)))
        .set_operation_timeout(timeout_ms("AWS_OPERATION_TIMEOUT_MS", default(OPERATION_TIMEOUT_MS)));
    builder.build()
}

/// Loads the SDK configuration once per process (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local emulator), with bounded calls
/// (`timeout_config`): a timed-out or undispatchable call is an error the adapters
/// map to `Unavailable` (HTTP 503 naming the service; a retry for SQS work).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeout_config())
        .load()
        .await
}
