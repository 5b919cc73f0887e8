use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use execute::{Execute, ExecutePolicy};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws::{DynamoIntakeStore, DynamoStore, DynamoVenueBudget, Resources, SqsQueue, sdk_config};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue, BudgetedVenue};
use shared::ports::{SystemClock, VenueRate};

/// `RECHECK_DELAY_SECS` (default 5), `MAX_RECEIVES` (default 8, the template's
/// maxReceiveCount), `RETRY_BACKOFF_BASE_MS` (default 2000) and the venue budget's
/// `VENUE_RATE_LIMIT_PER_MIN` (default 200, Alpaca's) and `VENUE_RATE_WINDOW_SECS`
/// (default 5), failing fast with the variable's name.
fn number<T: std::str::FromStr>(var: &'static str, default: T) -> Result<T, Error> {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("environment variable {var}: `{v}` is not a whole number").into()),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let venue_config = AlpacaConfig::from_env()?;
    let venue = AlpacaVenue::new(&venue_config)?;
    let policy = ExecutePolicy {
        venue_timeout: venue_config.timeout,
        max_immediate_age: shared::config::max_market_order_age_from_env()?,
    };
    let sdk = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    // Every venue call draws from the deployment's budget for this API key.
    let rate = VenueRate {
        per_minute: number("VENUE_RATE_LIMIT_PER_MIN", VenueRate::ALPACA.per_minute)?,
        window_secs: number("VENUE_RATE_WINDOW_SECS", VenueRate::ALPACA.window_secs)?,
    };
    let budget = Arc::new(DynamoVenueBudget::new(dynamo.clone(), resources.orders_table.clone()));
    let venue = BudgetedVenue::new(venue, budget, venue_config.key_id.clone(), rate, Arc::new(SystemClock));
    let handler = Arc::new(Execute {
        intake: Arc::new(DynamoIntakeStore::new(dynamo.clone(), resources.orders_table.clone())),
        store: Arc::new(DynamoStore::new(dynamo, resources.orders_table, resources.audit_table)),
        venue: Arc::new(venue),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        clock: Arc::new(SystemClock),
        recheck_delay_secs: number("RECHECK_DELAY_SECS", 5)?,
        max_receives: number("MAX_RECEIVES", 8)?,
        backoff_base_ms: number("RETRY_BACKOFF_BASE_MS", execute::BACKOFF_BASE_MS)?,
        policy,
    });
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(handler.handle(event.payload).await) }
    }))
    .await
}
