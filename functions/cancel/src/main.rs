use std::sync::Arc;

use cancel::{Cancel, CancelFunction, DEFAULT_OPERATOR_SCOPE, Operator};
use lambda_http::{Error, run, service_fn};
use shared::adapters::aws::{DynamoStore, Resources, SqsDeadLetters, SqsQueue, sdk_config};
use shared::ports::{DeadLetters, SystemClock};

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
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // The operator's view of the work queue's dead-letter queue (the template sets it).
    let dead_letters = std::env::var("WORK_DEAD_LETTER_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|work_dead_letter_queue_url| {
            Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                work_dead_letter_queue_url,
                resources.work_queue_url.clone(),
            )) as Arc<dyn DeadLetters>
        });
    let handler = Arc::new(CancelFunction {
        operator: Operator {
            cancel: Cancel {
                store: store.clone(),
                clock: Arc::new(SystemClock),
                queue: Some(Arc::new(SqsQueue::new(sqs, resources.work_queue_url))),
            },
            controls: store.clone(),
            attention: store.clone(),
            dead_letters,
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
