//! A local exchange simulator speaking the Alpaca Trading API v2 subset the venue
//! adapter uses (SPEC §6), with fault knobs. Tests start it in-process on a free
//! loopback port with [`spawn`]; the binary serves it on `--listen`.
//!
//! # Layout
//! - `config`: flags and the runtime knobs.
//! - `price`: the seeded per-symbol random walk that orders fill against.
//! - `state`: the book, prices and knobs behind one lock; the state file.
//! - `api`: `/v2/orders...`, `/v2/account/activities...` and the layers in front
//!   of them (recording, auth, rate limit, faults).
//! - `market_data`: `/v2/stocks/{symbol}/trades/latest` (Alpaca's Market Data API,
//!   `spec/market-data-api.json`), from the price path.
//! - `stream`: `/stream`, the `trade_updates` WebSocket stream.
//! - `admin`: `/_sim/...` (health, config, orders, prices, tick, reset, replace,
//!   stream drop).
//! - `wire`: Alpaca's JSON in and out.
//!
//! It answers as Alpaca's published Trading API document ("Trading API" 2.0.1,
//! kept in `spec/trading-api.json`) says, and `tools/check_alpaca.py` checks every
//! answer recorded during `make test` (`SIM_RECORDING`) against it.
//!
//! Matching itself (fills, IOC/FOK, stops, DAY expiry, cancels) is the shared
//! `shared::adapters::venue::book`, which the in-memory venue runs too.

pub mod config;
pub mod price;

mod admin;
mod api;
mod market_data;
mod state;
mod stream;
mod wire;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Knobs, KnobsPatch, SimConfig};

use crate::state::Sim;
use crate::wire::ApiError;

/// The simulator, shared by every request and the clock; the recording of the
/// exchanges, when asked for; the signal that drops every stream connection.
#[derive(Clone)]
pub struct AppState {
    sim: Arc<Mutex<Sim>>,
    recorder: Option<Arc<Recorder>>,
    drops: Arc<watch::Sender<u64>>,
}

impl AppState {
    /// The state; a panic elsewhere while holding the lock does not take it down.
    fn lock(&self) -> MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Appends one JSON line per exchange to a file (`SIM_RECORDING`).
pub struct Recorder {
    file: Mutex<std::fs::File>,
}

impl Recorder {
    pub fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("SIM_RECORDING: cannot open {}", path.display()))?;
        Ok(Self { file: Mutex::new(file) })
    }

    fn write(&self, line: &serde_json::Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            eprintln!("venue-simulator: could not record an exchange: {e}");
        }
    }
}

pub fn router(app: AppState) -> Router {
    // Path parameters are named as in the document, so a recorded route is the
    // document's path.
    let alpaca = Router::new()
        .route("/v2/orders", post(api::place).get(api::list_orders))
        .route("/v2/orders:by_client_order_id", get(api::by_client_order_id))
        .route(
            "/v2/orders/{order_id}",
            get(api::get_order).delete(api::cancel).patch(api::patch_order),
        )
        .route("/v2/account/activities", get(api::activities))
        .route("/v2/account/activities/{activity_type}", get(api::activities_of_type))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), api::faults))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), api::record))
        .route("/stream", get(stream::stream));
    // Alpaca's Market Data API: recorded, but outside the trading API's limit and knobs.
    let market_data = Router::new()
        .route("/v2/stocks/{symbol}/trades/latest", get(market_data::latest_trade))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), api::record));
    let sim = Router::new()
        .route("/_sim/health", get(admin::health))
        .route("/_sim/config", get(admin::get_config).post(admin::set_config))
        .route("/_sim/orders", get(admin::orders))
        .route("/_sim/reset", post(admin::reset))
        .route("/_sim/prices", get(admin::get_prices).post(admin::set_prices))
        .route("/_sim/tick", post(admin::tick))
        .route("/_sim/replace", post(admin::replace))
        .route("/_sim/stream/drop", post(admin::drop_streams));
    alpaca
        .merge(market_data)
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
    let recorder = match &config.recording {
        Some(path) => Some(Arc::new(Recorder::open(path)?)),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = AppState {
        sim: Arc::new(Mutex::new(sim)),
        recorder,
        drops: Arc::new(watch::channel(0).0),
    };
    Ok((listener, app))
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
