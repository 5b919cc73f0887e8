//! Wires the publish Lambda: tracing, resources from the environment, the SDK
//! clients built once, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use publish::Publish;
use shared::adapters::aws::{DynamoIntakeStore, DynamoStore, EventBridgePublisher, Resources, SqsQueue, sdk_config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let handler = Arc::new(Publish {
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            resources.event_bus_name,
        )),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        intake: Arc::new(DynamoIntakeStore::new(dynamodb.clone(), resources.orders_table.clone())),
        orders: Arc::new(DynamoStore::new(
            dynamodb,
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
