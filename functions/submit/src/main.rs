use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::adapters::aws::{DynamoStore, Resources, SecretsManagerKeys, SqsQueue, sdk_config};
use shared::adapters::venue::{AlpacaMarketData, CachedMarketData, KeySource, MarketDataConfig, VenueKeys};
use shared::ports::{MarketData, SystemClock};
use submit::Submit;

/// The market-data source when `MARKET_DATA_URL` is set: Alpaca's Market Data API
/// signed with the venue's keys (`VENUE_SECRET_ARN`, read once at start, else
/// `VENUE_API_KEY_ID` / `VENUE_API_SECRET_KEY`), behind the short cache.
async fn market_data(sdk: &aws_config::SdkConfig) -> Result<Option<Arc<dyn MarketData>>, Error> {
    let Some(config) = MarketDataConfig::from_env()? else {
        tracing::warn!("MARKET_DATA_URL is not set: market and stop orders are priced from REFERENCE_PRICES alone");
        return Ok(None);
    };
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let keys = match set("VENUE_SECRET_ARN") {
        Some(venue_secret) => {
            SecretsManagerKeys::new(aws_sdk_secretsmanager::Client::new(sdk), venue_secret)
                .load()
                .await?
        }
        None => VenueKeys::new(
            &set("VENUE_API_KEY_ID").unwrap_or_default(),
            &set("VENUE_API_SECRET_KEY").unwrap_or_default(),
        )
        .map_err(|e| format!("market data keys (VENUE_API_KEY_ID / VENUE_API_SECRET_KEY): {e}"))?,
    };
    let source = Arc::new(AlpacaMarketData::new(&config, keys)?);
    Ok(Some(Arc::new(CachedMarketData::new(
        source,
        Arc::new(SystemClock),
        config.cache_ttl,
    ))))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let resources = Resources::from_env()?;
    let pricing = shared::config::pricing_from_env()?;
    let sdk = sdk_config().await;
    let market_data = market_data(&sdk).await?;
    let handler = Arc::new(Submit {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table,
            resources.audit_table,
        )),
        clock: Arc::new(SystemClock),
        pricing,
        market_data,
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
