use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::adapters::aws::{DynamoStore, Resources, SqsQueue, sdk_config};
use shared::ports::SystemClock;
use submit::Submit;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let pricing = shared::config::pricing_from_env()?;
    let sdk = sdk_config().await;
    let handler = Arc::new(Submit {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table,
            resources.audit_table,
        )),
        clock: Arc::new(SystemClock),
        pricing,
        queue: Some(Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            resources.work_queue_url,
        ))),
    });
    run(service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(req).await) }
    }))
    .await
}
