//! Wires the WebSocket `$connect` authorizer: tracing, the JWT settings from the
//! environment, the JWKS cache built once, then the runtime loop.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use ws_authorizer::{AuthorizerRequest, HttpJwks, JwksCache, Verifier, authorize, parse_algorithms};

fn var(name: &'static str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set (infra/template.yaml, LiveAuthorizerFunction)"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::config::init_tracing();
    let issuer = var("JWT_ISSUER")?;
    let jwks_url =
        var("JWKS_URL").unwrap_or_else(|_| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let verifier = Verifier {
        issuer,
        audience: var("JWT_AUDIENCE")?,
        scope: var("TRADER_SCOPE").unwrap_or_default(),
        algorithms: parse_algorithms(&var("JWT_ALGORITHMS").unwrap_or_else(|_| "RS256".into()))?,
        keys: Box::new(JwksCache::new(
            HttpJwks { client, url: jwks_url },
            Duration::from_secs(3600),
            Duration::from_secs(60),
        )),
    };
    let verifier = &*Box::leak(Box::new(verifier));
    run(service_fn(move |event: LambdaEvent<AuthorizerRequest>| async move {
        Ok::<_, Error>(authorize(verifier, &event.payload).await)
    }))
    .await
}
