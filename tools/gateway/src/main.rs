//! `local-gateway serve` runs the local HTTP API; `local-gateway token --trader ID`
//! prints a dev token (alone on the last line).
//!
//! ```text
//! local-gateway serve [--template infra/template.yaml] [--listen 127.0.0.1:3000]
//!                     [--lambda-url http://127.0.0.1:9000] [--record FILE]
//!                     [--per-function N (in-flight invocations per function; default 1)]
//!                     [--console DIR (the web console's files; default: console/ beside the template's dir)]
//! local-gateway token --trader ID [--ttl-secs 3600] [--scope SCOPE]
//! ```
//! `--scope` mints a token with that scope instead of the trader routes' (an
//! operator's: `--scope orders/operate`).
//! The JWT settings come from the environment: `LOCAL_JWT_SECRET_FILE` (default
//! `.local/jwt-secret`, created on first use), `LOCAL_JWT_ISSUER` (default
//! `orders-local`), `LOCAL_JWT_AUDIENCE` (default `orders-api`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use local_gateway::auth::JwtConfig;
use local_gateway::record::Recorder;
use local_gateway::routes::Routes;
use local_gateway::server::{Gateway, router};

const USAGE: &str = "usage:
  local-gateway serve [--template FILE] [--listen 127.0.0.1:PORT] [--lambda-url URL] [--record FILE] [--per-function N] [--console DIR]
  local-gateway token --trader ID [--ttl-secs SECONDS] [--scope SCOPE]
  local-gateway watch --trader ID [--url ws://127.0.0.1:3000/live] [--cursor CURSOR]";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn jwt_config(template: &std::path::Path) -> anyhow::Result<JwtConfig> {
    let secret_file = PathBuf::from(env_or("LOCAL_JWT_SECRET_FILE", ".local/jwt-secret"));
    let secret = local_gateway::dev_secret(&secret_file).with_context(|| {
        format!(
            "LOCAL_JWT_SECRET_FILE={}: cannot read or create it",
            secret_file.display()
        )
    })?;
    Ok(JwtConfig {
        secret,
        issuer: env_or("LOCAL_JWT_ISSUER", "orders-local"),
        audience: env_or("LOCAL_JWT_AUDIENCE", "orders-api"),
        // The template's AuthorizationScopes: checked on every authorized route, minted by `token`.
        scopes: std::fs::read_to_string(template)
            .map_err(|e| e.to_string())
            .and_then(|t| local_gateway::auth::template_scopes(&t))
            .map_err(|e| anyhow::anyhow!("the authorizer's scopes from {}: {e}", template.display()))?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args).await,
        Some("token") => {
            let trader = flag(&args, "--trader").with_context(|| format!("missing --trader\n{USAGE}"))?;
            let ttl: u64 = flag(&args, "--ttl-secs")
                .map(|t| {
                    t.parse()
                        .with_context(|| format!("--ttl-secs {t}: not a number of seconds"))
                })
                .transpose()?
                .unwrap_or(3600);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let template = PathBuf::from(flag(&args, "--template").unwrap_or_else(|| "infra/template.yaml".into()));
            let scope = flag(&args, "--scope");
            println!(
                "{}",
                jwt_config(&template)?.mint_with_scope(&trader, ttl, now, scope.as_deref())?
            );
            Ok(())
        }
        Some("watch") => {
            let trader = flag(&args, "--trader").with_context(|| format!("missing --trader\n{USAGE}"))?;
            let template = PathBuf::from(flag(&args, "--template").unwrap_or_else(|| "infra/template.yaml".into()));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let token = jwt_config(&template)?.mint(&trader, 7200, now)?;
            let url = flag(&args, "--url").unwrap_or_else(|| "ws://127.0.0.1:3000/live".into());
            local_gateway::watch::watch(&url, &token, flag(&args, "--cursor").as_deref()).await
        }
        _ => bail!("{USAGE}"),
    }
}

async fn serve(args: &[String]) -> anyhow::Result<()> {
    shared_tracing();
    let template = PathBuf::from(flag(args, "--template").unwrap_or_else(|| "infra/template.yaml".into()));
    let listen = flag(args, "--listen").unwrap_or_else(|| "127.0.0.1:3000".into());
    let lambda_url = flag(args, "--lambda-url").unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let routes = Routes::load(&template)?;
    let recorder = flag(args, "--record")
        .map(|p| Recorder::append_to(p.as_ref()).with_context(|| format!("--record {p}")))
        .transpose()?;
    let per_function: usize = flag(args, "--per-function")
        .map(|n| n.parse().with_context(|| format!("--per-function {n}: not a number")))
        .transpose()?
        .unwrap_or(1);
    // The console beside infra/: <template dir>/../console unless --console says otherwise.
    let console_dir = flag(args, "--console").map(PathBuf::from).unwrap_or_else(|| {
        let infra = template
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        infra.join("..").join("console")
    });
    let jwt = jwt_config(&template)?;
    let live = Arc::new(local_gateway::live::LiveGateway::new(
        lambda_url.clone(),
        jwt.secret.clone(),
        per_function,
    )?);
    let gateway = Arc::new(Gateway::new(routes, jwt, lambda_url.clone(), recorder, per_function)?);
    for r in gateway.routes.all() {
        tracing::info!(route = %r.key(), function = %r.function, authorized = r.authorized, "route");
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (taken? set API_PORT)"))?;
    tracing::info!(%listen, %lambda_url, "local API gateway: http://{listen}/api/v1");
    tracing::info!(console = %console_dir.display(), "web console: http://{listen}/");
    let app = router(gateway)
        .merge(local_gateway::live::router(live))
        .merge(local_gateway::console::router(console_dir));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn shared_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
