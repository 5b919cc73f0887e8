//! A local exchange simulator speaking the Alpaca Trading API v2 subset the venue
//! adapter uses (SPEC §6), with fault knobs. Tests start it in-process on a free
//! loopback port with [`spawn`]; the binary serves it on `--listen`.
//!
//! # Layout
//! - `config`: flags and the runtime knobs.
//! - `price`: the seeded per-symbol random walk that orders fill against.
//! - `state`: the book, prices and knobs behind one lock; the state file.
//! - `api`: `/v2/orders...` and the fault layer in front of it.
//! - `admin`: `/_sim/...` (health, config, orders, prices, tick, reset).
//! - `wire`: Alpaca's JSON in and out.
//!
//! Matching itself (fills, IOC/FOK, stops, DAY expiry, cancels) is the shared
//! `shared::adapters::venue::book`, which the in-memory venue runs too.

pub mod config;
pub mod price;

mod admin;
mod api;
mod state;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Knobs, KnobsPatch, SimConfig};

use crate::state::Sim;
use crate::wire::ApiError;

/// The simulator, shared by every request and the clock.
#[derive(Clone)]
pub struct AppState(Arc<Mutex<Sim>>);

impl AppState {
    /// The state; a panic elsewhere while holding the lock does not take it down.
    fn lock(&self) -> MutexGuard<'_, Sim> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn router(app: AppState) -> Router {
    let alpaca = Router::new()
        .route("/v2/orders", post(api::place))
        .route("/v2/orders:by_client_order_id", get(api::by_client_order_id))
        .route("/v2/orders/{id}", get(api::get_order).delete(api::cancel))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), api::faults));
    let sim = Router::new()
        .route("/_sim/health", get(admin::health))
        .route("/_sim/config", get(admin::get_config).post(admin::set_config))
        .route("/_sim/orders", get(admin::orders))
        .route("/_sim/reset", post(admin::reset))
        .route("/_sim/prices", get(admin::get_prices).post(admin::set_prices))
        .route("/_sim/tick", post(admin::tick));
    alpaca
        .merge(sim)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "route not found") })
        .with_state(app)
}

/// Moves the price path every `tick_ms` (read each time, so the knob works live).
async fn clock(app: AppState) {
    loop {
        let period = app.lock().knobs.tick_ms.max(1);
        tokio::time::sleep(Duration::from_millis(period)).await;
        app.lock().tick(1);
    }
}

/// A simulator running on this runtime; dropping it stops it.
pub struct RunningSim {
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    clock: JoinHandle<()>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, for `VENUE_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.server.abort();
        self.clock.abort();
    }
}

async fn bind(config: &SimConfig) -> anyhow::Result<(TcpListener, AppState)> {
    if !config.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: the simulator serves loopback only",
            config.listen
        );
    }
    let sim = Sim::start(config).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    Ok((listener, AppState(Arc::new(Mutex::new(sim)))))
}

/// Starts the simulator in the background (port 0 picks a free port).
pub async fn spawn(config: SimConfig) -> anyhow::Result<RunningSim> {
    let (listener, app) = bind(&config).await?;
    let addr = listener.local_addr()?;
    let clock = tokio::spawn(clock(app.clone()));
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(app)).await {
            eprintln!("venue-simulator: server stopped: {e}");
        }
    });
    Ok(RunningSim { addr, server, clock })
}

/// Serves until Ctrl-C.
pub async fn run(config: SimConfig) -> anyhow::Result<()> {
    let (listener, app) = bind(&config).await?;
    eprintln!(
        "venue-simulator listening on http://{} (seed {}, knobs {:?})",
        listener.local_addr()?,
        config.seed,
        config.knobs
    );
    let clock = tokio::spawn(clock(app.clone()));
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    clock.abort();
    Ok(())
}
