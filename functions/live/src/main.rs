//! Wires the WebSocket routes' Lambda: tracing, the tables and the API's management
//! endpoint from the environment, the SDK clients built once, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use live::{Live, WsEvent};
use shared::adapters::aws::{DynamoConnections, DynamoOrderChanges, ManagementPusher, Resources, sdk_config};
use shared::ports::SystemClock;

fn var(name: &'static str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set (infra/template.yaml, LiveFunction)"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let connections_table = var("CONNECTIONS_TABLE")?;
    let live_api = var("LIVE_API_ID")?;
    let endpoint = var("LIVE_CONNECTIONS_URL")?;
    let sdk = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let handler = Arc::new(Live {
        connections: Arc::new(DynamoConnections::new(dynamo.clone(), connections_table)),
        orders: Arc::new(DynamoOrderChanges::new(dynamo, resources.orders_table)),
        pusher: Arc::new(ManagementPusher::new(
            ManagementPusher::client_for(&sdk, &endpoint),
            live_api,
        )),
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |event: LambdaEvent<WsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(event.payload).await) }
    }))
    .await
}
