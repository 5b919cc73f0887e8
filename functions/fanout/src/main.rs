//! Wires the fan-out Lambda: tracing, the connections table and the API's management
//! endpoint from the environment, the SDK clients built once, then the runtime loop:
//! a scheduled event runs the sweep, any other is an event to fan out.

use std::sync::Arc;

use fanout::{BusEvent, Fanout};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws::{DynamoConnections, ManagementPusher, sdk_config};
use shared::ports::SystemClock;

fn var(name: &'static str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set (infra/template.yaml, FanoutFunction)"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let connections_table = var("CONNECTIONS_TABLE")?;
    let live_api = var("LIVE_API_ID")?;
    let endpoint = var("LIVE_CONNECTIONS_URL")?;
    let sdk = sdk_config().await;
    let handler = Arc::new(Fanout {
        connections: Arc::new(DynamoConnections::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            connections_table,
        )),
        pusher: Arc::new(ManagementPusher::new(
            ManagementPusher::client_for(&sdk, &endpoint),
            live_api,
        )),
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |event: LambdaEvent<BusEvent>| {
        let handler = handler.clone();
        async move {
            if event.payload.is_schedule() {
                return handler
                    .sweep()
                    .await
                    .map(|r| serde_json::json!({"closed": r.closed, "gone": r.gone}))
                    .map_err(Error::from);
            }
            handler
                .handle(event.payload)
                .await
                .map(|r| serde_json::json!({"delivered": r.delivered, "gone": r.gone, "expired": r.expired}))
                .map_err(Error::from)
        }
    }))
    .await
}
