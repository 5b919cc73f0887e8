use std::sync::Arc;

use cancel::Cancel;
use lambda_http::{Error, run, service_fn};
use shared::adapters::aws::{DynamoStore, Resources, sdk_config};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let handler = Arc::new(Cancel {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table,
            resources.audit_table,
        )),
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(req).await) }
    }))
    .await
}
