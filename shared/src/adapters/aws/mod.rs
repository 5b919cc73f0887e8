//! AWS adapters on the official SDK: DynamoDB (orders, accounts, audit), SQS (work
//! queue), EventBridge (status events). Item mapping lives only in `items`.

mod dynamo;
mod eventbridge;
pub mod items;
mod sqs;
pub mod stream;

pub use dynamo::DynamoStore;
pub use eventbridge::EventBridgePublisher;
pub use sqs::SqsQueue;

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

/// Loads the SDK configuration once per process (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local emulator).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}
