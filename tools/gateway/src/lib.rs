//! Local stand-in for the deployed HTTP API (what `sam local start-api` would be,
//! with the JWT authorizer): routes from `infra/template.yaml`, HS256 dev tokens,
//! each request turned into an API Gateway v2 event and invoked on `cargo lambda
//! watch`.
//!
//! # Layout
//! - [`routes`]: the template's `HttpApi` routes and matching.
//! - [`auth`]: the JWT authorizer and dev-token minting.
//! - [`event`]: HTTP request → API Gateway v2 event, function reply → HTTP.
//! - [`server`]: the axum app tying them together.
//! - [`record`]: JSON-lines recording of exchanges for the OpenAPI check.
//! - [`live`]: the WebSocket API (issue 18) and its `@connections` management endpoint.
//! - [`watch`]: a trader's live stream printed (`make watch`).
//! - [`console`]: the web console's static files (`GET /`, `/console/*`).

pub mod auth;
pub mod console;
pub mod event;
pub mod live;
pub mod live_faults;
pub mod record;
pub mod routes;
pub mod server;
pub mod watch;

/// The dev secret: the file's bytes, created with 32 random bytes (hex) if missing.
pub fn dev_secret(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes.trim_ascii().to_vec()),
        Ok(_) | Err(_) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let secret: [u8; 32] = rand::random();
            let text: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(path, &text)?;
            Ok(text.into_bytes())
        }
    }
}
