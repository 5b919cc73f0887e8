use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use query::Query;
use shared::adapters::aws::{DynamoStore, Resources, sdk_config};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        resources.orders_table,
        resources.audit_table,
    ));
    let handler = Arc::new(Query {
        store: store.clone(),
        audit: store,
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(req).await) }
    }))
    .await
}
