use std::sync::Arc;
use std::time::Duration;

use intake::Intake;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws::{
    DynamoIntakeStore, DynamoStore, DynamoVenueBudget, Resources, SecretsManagerKeys, sdk_config,
};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue, BudgetedVenue, KeySource, KeysFrom};
use shared::config::{number_from_env, venue_rate_from_env};
use shared::domain::audit::sha256_hex;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let venue_config = AlpacaConfig::from_env()?;
    let sdk = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let clock = Arc::new(SystemClock);
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
    let feed = Arc::new(BudgetedVenue::new(
        venue,
        Arc::new(DynamoVenueBudget::new(dynamo.clone(), resources.orders_table.clone())),
        key_id.clone(),
        venue_rate_from_env()?,
        clock.clone(),
    ));
    let poll_secs: u64 = number_from_env("INTAKE_POLL_SECS", 2)?;
    if poll_secs == 0 {
        return Err("environment variable INTAKE_POLL_SECS: must be at least 1".into());
    }
    let store = Arc::new(DynamoStore::new(
        dynamo.clone(),
        resources.orders_table.clone(),
        resources.audit_table,
    ));
    let handler = Arc::new(Intake {
        intake: Arc::new(DynamoIntakeStore::new(dynamo, resources.orders_table)),
        store: store.clone(),
        attention: store,
        feed: feed.clone(),
        venue: feed,
        clock,
        feed_key: sha256_hex(key_id.as_bytes())[..16].to_owned(),
        poll: Duration::from_secs(poll_secs),
        lookback: Duration::from_secs(number_from_env("INTAKE_LOOKBACK_SECS", 7 * 24 * 3600)?),
        page_size: 100,
        unknown_status_alarm_secs: number_from_env("UNKNOWN_STATUS_ALARM_SECS", 600)?,
        status_every: number_from_env("INTAKE_STATUS_EVERY", 5)?,
    });
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move {
            let deadline = event.context.deadline();
            // The local stacks' schedule says how long to run (`{"run_secs": N}`, one run
            // every N seconds): under cargo lambda watch the invocation's deadline is not
            // the template's timeout. EventBridge's event has no such field: the
            // deadline rules.
            let stop = match event.payload.get("run_secs").and_then(serde_json::Value::as_u64) {
                Some(secs) => std::time::SystemTime::now() + Duration::from_secs(secs) + intake::DEADLINE_MARGIN,
                None => deadline,
            };
            let report = handler
                .run(|| stop.duration_since(std::time::SystemTime::now()).unwrap_or_default())
                .await;
            Ok::<_, Error>(serde_json::json!({"passes": report.passes, "failed": report.failed,
                "booked": report.totals.booked, "ended": report.totals.ended}))
        }
    }))
    .await
}
