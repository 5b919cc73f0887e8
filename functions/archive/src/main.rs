//! Wires the archive Lambda: tracing, the bucket from the environment, the S3 client
//! built once, then the runtime loop.

use std::sync::Arc;

use archive::Archive;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws::{S3WriteOnce, sdk_config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let audit_archive_bucket = std::env::var("AUDIT_ARCHIVE_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or("environment variable AUDIT_ARCHIVE_BUCKET is not set (the audit trail's write-once bucket)")?;
    let sdk = sdk_config().await;
    let handler = Arc::new(Archive {
        copy: Arc::new(S3WriteOnce::new(S3WriteOnce::client_for(&sdk), audit_archive_bucket)),
    });
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move { handler.handle(event.payload).await }
    }))
    .await
}
