use std::sync::Arc;

use cancel::{Cancel, CancelFunction, DEFAULT_OPERATOR_SCOPE, Operator};
use lambda_http::{Error, run, service_fn};
use shared::adapters::aws::{DynamoStore, Resources, SqsQueue, sdk_config};
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
    let handler = Arc::new(CancelFunction {
        operator: Operator {
            cancel: Cancel {
                store: store.clone(),
                clock: Arc::new(SystemClock),
                queue: Some(Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(&sdk),
                    resources.work_queue_url,
                ))),
            },
            controls: store.clone(),
            audit: store,
            operator_scope: std::env::var("OPERATOR_SCOPE")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_OPERATOR_SCOPE.to_owned()),
        },
    });
    run(service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(req).await) }
    }))
    .await
}
