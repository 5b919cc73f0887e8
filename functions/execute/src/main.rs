use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use execute::{Execute, ExecutePolicy};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws::{
    DynamoIntakeStore, DynamoStore, DynamoVenueBudget, Resources, SecretsManagerKeys, SqsQueue, sdk_config,
};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue, BudgetedVenue, KeySource, KeysFrom};
use shared::config::{number_from_env, venue_rate_from_env};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let venue_config = AlpacaConfig::from_env()?;
    let policy = ExecutePolicy {
        venue_timeout: venue_config.timeout,
        max_immediate_age: shared::config::max_market_order_age_from_env()?,
    };
    let sdk = sdk_config().await;
    // The venue's keys: read from the secret at start (and again as the adapter
    // needs), or fixed in the environment (the local stacks).
    let venue = match &venue_config.keys {
        KeysFrom::Secret { venue_secret, refresh } => {
            let secret = Arc::new(SecretsManagerKeys::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                venue_secret.clone(),
            ));
            let first = secret.load().await?;
            AlpacaVenue::with_source(&venue_config, secret, first, *refresh)?
        }
        KeysFrom::Fixed(_) => AlpacaVenue::new(&venue_config)?,
    };
    let key_id = venue.key_id();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    // Every venue call draws from the deployment's budget for this API key.
    let rate = venue_rate_from_env()?;
    let budget = Arc::new(DynamoVenueBudget::new(dynamo.clone(), resources.orders_table.clone()));
    // ...leaving the intake its share of every window (execute::DEFAULT_INTAKE_SHARE_PERCENT).
    let share: u32 = number_from_env("VENUE_INTAKE_SHARE_PERCENT", execute::DEFAULT_INTAKE_SHARE_PERCENT)?;
    if share > 90 {
        return Err(
            "environment variable VENUE_INTAKE_SHARE_PERCENT: at most 90 (execute needs some of the budget)".into(),
        );
    }
    let venue = BudgetedVenue::new(venue, budget, key_id, rate, Arc::new(SystemClock))
        .with_reserve(execute::intake_reserve(rate, share));
    let handler = Arc::new(Execute {
        intake: Arc::new(DynamoIntakeStore::new(dynamo.clone(), resources.orders_table.clone())),
        store: Arc::new(DynamoStore::new(dynamo, resources.orders_table, resources.audit_table)),
        venue: Arc::new(venue),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        clock: Arc::new(SystemClock),
        max_receives: number_from_env("MAX_RECEIVES", 8)?,
        backoff_base_ms: number_from_env("RETRY_BACKOFF_BASE_MS", execute::BACKOFF_BASE_MS)?,
        policy,
    });
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(event.payload).await) }
    }))
    .await
}
