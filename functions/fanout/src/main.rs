//! Wires the fan-out Lambda: tracing, the connections table and the API's management
//! endpoint from the environment, the SDK clients built once, then the runtime loop:
//! a batch of the orders table's stream is fanned out, the scheduled event runs the sweep.

use std::sync::Arc;

use fanout::{Fanout, Invocation, batch_response};
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
    run(service_fn(move |event: LambdaEvent<Invocation>| {
        let handler = handler.clone();
        async move {
            match event.payload {
                Invocation::Stream(batch) => {
                    let outcome = handler.handle(&batch).await;
                    serde_json::to_value(batch_response(outcome.stopped.as_ref())).map_err(Error::from)
                }
                Invocation::Scheduled(scheduled) => handler
                    .sweep(&scheduled)
                    .await
                    .map(|r| serde_json::json!({"closed": r.closed, "gone": r.gone}))
                    .map_err(Error::from),
            }
        }
    }))
    .await
}
