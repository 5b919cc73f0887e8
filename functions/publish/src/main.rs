//! Wires the publish Lambda: tracing, resources from the environment, the SDK
//! clients built once, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use publish::Publish;
use shared::adapters::aws::{DynamoStore, EventBridgePublisher, Resources, SqsQueue, sdk_config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let handler = Arc::new(Publish {
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            resources.event_bus_name,
        )),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        orders: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table,
            resources.audit_table,
        )),
    });
    run(service_fn(move |event: LambdaEvent<_>| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    }))
    .await
}
