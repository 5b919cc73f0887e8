// Long because: every Alpaca v2 call the Venue and VenueFeed ports make, with their error mapping; the wire types and
// tests are already in wire.rs and alpaca_tests.rs.
//! The `Venue` port over Alpaca Trading API v2 REST (paper trading, or the local
//! exchange simulator that speaks the same subset):
//! `POST /v2/orders`, `GET /v2/orders:by_client_order_id`, `DELETE /v2/orders/{id}`;
//! and the account-wide `VenueFeed`: `GET /v2/account/activities/FILL` and
//! `GET /v2/orders?status=open`, both paged.
//!
//! `classify` is the one place HTTP outcomes become port results; `transport` the
//! one place transport failures do. The secret key is sent as a sensitive header and
//! never logged (the config's `Debug` masks it).
//!
//! **Keys.** Fixed (`VENUE_API_KEY_ID` / `VENUE_API_SECRET_KEY`: the local stacks and
//! tools), or read at runtime from a `KeySource` (a deployed function: the secret named
//! by `VENUE_SECRET_ARN`, never in its configuration). Read keys are cached and read
//! again once older than `VENUE_SECRET_REFRESH_SECS` (default 300: a rotated key is
//! picked up within five minutes) and at once after the venue answers 401, when the
//! refused request is sent once more if the keys changed.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use tracing::instrument;

use super::wire::{FillActivity, OrderRequest, OrderResponse, ReplaceRequest, error_message};
use crate::config::ConfigError;
use crate::domain::{Order, OrderId};
use crate::ports::{
    ExecutionPage, FeedPosition, OpenOrderPage, Venue, VenueError, VenueExecution, VenueFeed, VenueOrder,
    VenueOrderRef, VenueReplace,
};

pub const DEFAULT_TIMEOUT_MS: u64 = 2000;

/// The venue's API key pair. `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct VenueKeys {
    pub key_id: String,
    secret_key: String,
}

impl fmt::Debug for VenueKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenueKeys")
            .field("key_id", &self.key_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl VenueKeys {
    /// Both must be non-empty and fit in an HTTP header; the error names which one is
    /// wrong (never its value: it may be the secret).
    pub fn new(key_id: &str, secret_key: &str) -> Result<Self, String> {
        for (name, value) in [("the key id", key_id), ("the secret key", secret_key)] {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
            if HeaderValue::from_str(value.trim()).is_err() {
                return Err(format!("{name} holds characters not allowed in an HTTP header"));
            }
        }
        Ok(Self {
            key_id: key_id.trim().to_owned(),
            secret_key: secret_key.trim().to_owned(),
        })
    }

    /// The two auth headers, the secret marked sensitive (never logged by reqwest).
    pub(super) fn headers(&self) -> Result<(HeaderValue, HeaderValue), VenueError> {
        let bad = || VenueError::Transient("the venue keys do not fit in an HTTP header".into());
        let key = HeaderValue::from_str(&self.key_id).map_err(|_| bad())?;
        let mut secret = HeaderValue::from_str(&self.secret_key).map_err(|_| bad())?;
        secret.set_sensitive(true);
        Ok((key, secret))
    }
}

/// Where the keys are read at runtime (a secret store). The error says what failed,
/// never a secret value.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn load(&self) -> Result<VenueKeys, String>;
}

/// The default age after which keys read from a `KeySource` are read again.
pub const DEFAULT_KEY_REFRESH: Duration = Duration::from_secs(300);

/// Where the venue's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysFrom {
    /// Given in the environment (local stacks, tools, tests).
    Fixed(VenueKeys),
    /// A secret read at runtime (`VENUE_SECRET_ARN`), again after `refresh`.
    Secret { venue_secret: String, refresh: Duration },
}

/// Where the venue is and how to sign in to it.
#[derive(Clone, Debug)]
pub struct AlpacaConfig {
    /// e.g. `https://paper-api.alpaca.markets` or `http://127.0.0.1:8900`.
    pub base_url: Url,
    pub keys: KeysFrom,
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
}

impl AlpacaConfig {
    /// Fixed keys; panics never: invalid keys are refused when the adapter starts.
    pub fn new(base_url: Url, key_id: &str, secret_key: &str, timeout: Duration) -> Self {
        Self {
            base_url,
            keys: KeysFrom::Fixed(VenueKeys {
                key_id: key_id.to_owned(),
                secret_key: secret_key.to_owned(),
            }),
            timeout,
        }
    }

    /// `VENUE_BASE_URL`, the keys (`VENUE_SECRET_ARN` with `VENUE_SECRET_REFRESH_SECS`,
    /// else `VENUE_API_KEY_ID` and `VENUE_API_SECRET_KEY`), and `VENUE_TIMEOUT_MS`
    /// (default 2000).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As `from_env`, reading variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |var: &'static str| {
            set(var).ok_or(ConfigError {
                var,
                problem: "is not set".to_owned(),
            })
        };
        let raw_url = required("VENUE_BASE_URL")?;
        let base_url = Url::parse(&raw_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or(ConfigError {
                var: "VENUE_BASE_URL",
                problem: format!("`{raw_url}` is not an http(s) URL"),
            })?;
        let keys = match set("VENUE_SECRET_ARN") {
            Some(venue_secret) => {
                let refresh = match set("VENUE_SECRET_REFRESH_SECS") {
                    None => DEFAULT_KEY_REFRESH,
                    Some(raw) => raw
                        .parse::<u64>()
                        .ok()
                        .filter(|s| *s > 0)
                        .map(Duration::from_secs)
                        .ok_or(ConfigError {
                            var: "VENUE_SECRET_REFRESH_SECS",
                            problem: format!("`{raw}` is not a positive number of seconds"),
                        })?,
                };
                KeysFrom::Secret { venue_secret, refresh }
            }
            None => {
                let key_id = required("VENUE_API_KEY_ID")?;
                let secret_key = required("VENUE_API_SECRET_KEY")?;
                for (var, value) in [("VENUE_API_KEY_ID", &key_id), ("VENUE_API_SECRET_KEY", &secret_key)] {
                    if HeaderValue::from_str(value).is_err() {
                        // The value itself is not echoed: it may be the secret.
                        return Err(ConfigError {
                            var,
                            problem: "holds characters not allowed in an HTTP header".to_owned(),
                        });
                    }
                }
                KeysFrom::Fixed(VenueKeys { key_id, secret_key })
            }
        };
        let timeout_ms = match get("VENUE_TIMEOUT_MS") {
            None => DEFAULT_TIMEOUT_MS,
            Some(raw) => raw.trim().parse::<u64>().ok().filter(|ms| *ms > 0).ok_or(ConfigError {
                var: "VENUE_TIMEOUT_MS",
                problem: format!("`{raw}` is not a positive number of milliseconds"),
            })?,
        };
        Ok(Self {
            base_url,
            keys,
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// The keys in use, and where to read them again.
struct Keys {
    source: Option<Arc<dyn KeySource>>,
    refresh: Duration,
    current: RwLock<(VenueKeys, Instant)>,
    /// One reader of the source at a time: a burst of 401s reads it once.
    reading: tokio::sync::Mutex<()>,
}

impl Keys {
    fn now(&self) -> VenueKeys {
        match self.current.read() {
            Ok(c) => c.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    fn age(&self) -> Duration {
        match self.current.read() {
            Ok(c) => c.1.elapsed(),
            Err(poisoned) => poisoned.into_inner().1.elapsed(),
        }
    }

    fn store(&self, keys: VenueKeys) {
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = (keys, Instant::now());
    }

    /// The keys to sign with: read again first once older than `refresh` (a failed
    /// read keeps the old keys and is retried on the next call).
    async fn get(&self) -> VenueKeys {
        if let Some(source) = &self.source
            && self.age() >= self.refresh
        {
            let _one = self.reading.lock().await;
            if self.age() >= self.refresh {
                match source.load().await {
                    Ok(keys) => self.store(keys),
                    Err(e) => {
                        tracing::warn!(error = %e, "venue keys could not be read again; the cached ones are used")
                    }
                }
            }
        }
        self.now()
    }

    /// After a 401 to a request signed with `used`: whether newer keys are there now
    /// (another caller read them, or this read found them rotated).
    async fn renewed_after_401(&self, used: &VenueKeys) -> bool {
        let Some(source) = &self.source else { return false };
        let _one = self.reading.lock().await;
        if self.now() != *used {
            return true;
        }
        match source.load().await {
            Ok(keys) if keys != *used => {
                tracing::info!(key_id = %keys.key_id, "venue keys rotated: read again after a 401");
                self.store(keys);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "venue keys could not be read again after a 401");
                false
            }
        }
    }
}

/// Which call a response answers: 404 and 422 mean different things per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Place,
    Find,
    Cancel,
    Replace,
    /// An account-wide list (activities, orders).
    List,
}

/// The one mapping of an HTTP status and body to the port's result. `Ok(None)` is
/// "no order in the answer": a cancel accepted, or a find that found nothing.
pub fn classify(op: Op, status: u16, body: &[u8]) -> Result<Option<VenueOrder>, VenueError> {
    match status {
        200..=299 if matches!(op, Op::Cancel | Op::List) => Ok(None),
        200..=299 => {
            let parsed: OrderResponse = serde_json::from_slice(body)
                .map_err(|e| VenueError::Transient(format!("unreadable order in the venue's answer: {e}")))?;
            let order = VenueOrder::try_from(parsed).map_err(VenueError::Transient)?;
            Ok(Some(order))
        }
        404 if op == Op::Find => Ok(None),
        404 => Err(VenueError::NotFound),
        422 if matches!(op, Op::Cancel | Op::Replace) => Err(VenueError::NotCancelable(error_message(body))),
        // Our credentials are wrong or revoked: not the order's fault, so not a
        // rejection of it; retrying lets the message reach the DLQ for an operator.
        401 => Err(VenueError::Transient(format!(
            "venue refused our credentials (401): {}",
            error_message(body)
        ))),
        // The wait comes from the headers (`retry_after`), which `call` adds.
        429 => Err(VenueError::RateLimited {
            retry_after: None,
            message: error_message(body),
        }),
        400..=499 => Err(VenueError::Rejected(error_message(body))),
        500..=599 => Err(VenueError::Transient(format!(
            "venue error ({status}): {}",
            error_message(body)
        ))),
        _ => Err(VenueError::Transient(format!("unexpected HTTP status {status}"))),
    }
}

/// The longest wait a 429 asks for that is taken as given (Alpaca's window is a
/// minute); anything longer is capped here.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// When a 429 says to come back: `Retry-After` in seconds, else Alpaca's
/// `X-RateLimit-Reset` (the UNIX second the key's quota comes back) less `now_unix`;
/// at least a second, at most `MAX_RETRY_AFTER`. `None` when neither is readable.
pub fn retry_after(headers: &HeaderMap, now_unix: i64) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let secs = match number("retry-after") {
        Some(s) if s >= 0 => s,
        Some(_) => return None,
        None => number("x-ratelimit-reset")?.saturating_sub(now_unix),
    };
    let secs = u64::try_from(secs.max(1)).unwrap_or(1);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Every failure to get a complete answer (connect, timeout, connection closed, body
/// cut short) is transient: for a place, the order may or may not be at the venue.
fn transport(e: reqwest::Error) -> VenueError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "answer cut short"
    } else {
        "transport error"
    };
    VenueError::Transient(format!("{kind}: {e}"))
}

pub struct AlpacaVenue {
    http: reqwest::Client,
    base_url: Url,
    keys: Keys,
}

impl AlpacaVenue {
    /// With fixed keys (`KeysFrom::Fixed`). One client per process (connection pool);
    /// fails if the keys do not fit in a header, if the config names a secret (use
    /// `with_source`), or if the TLS stack cannot start.
    pub fn new(config: &AlpacaConfig) -> Result<Self, ConfigError> {
        let keys = match &config.keys {
            KeysFrom::Fixed(keys) => VenueKeys::new(&keys.key_id, &keys.secret_key).map_err(|problem| ConfigError {
                var: "VENUE_API_KEY_ID",
                problem,
            })?,
            KeysFrom::Secret { .. } => {
                return Err(ConfigError {
                    var: "VENUE_SECRET_ARN",
                    problem: "names a secret, but no secret reader was given (AlpacaVenue::with_source)".into(),
                });
            }
        };
        Self::build(config, keys, None, DEFAULT_KEY_REFRESH)
    }

    /// With `first`, the keys the caller read from `source` at start (so a function
    /// never starts without them), read again every `refresh` and after a 401.
    pub fn with_source(
        config: &AlpacaConfig,
        source: Arc<dyn KeySource>,
        first: VenueKeys,
        refresh: Duration,
    ) -> Result<Self, ConfigError> {
        Self::build(config, first, Some(source), refresh)
    }

    fn build(
        config: &AlpacaConfig,
        keys: VenueKeys,
        source: Option<Arc<dyn KeySource>>,
        refresh: Duration,
    ) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ConfigError {
                var: "VENUE_BASE_URL",
                problem: format!("HTTP client could not start: {e}"),
            })?;
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            keys: Keys {
                source,
                refresh,
                current: RwLock::new((keys, Instant::now())),
                reading: tokio::sync::Mutex::new(()),
            },
        })
    }

    /// The key id in use (it names the shared venue budget and the intake's cursor).
    pub fn key_id(&self) -> String {
        self.keys.now().key_id
    }

    /// `base_url` + path segments, each percent-encoded as needed.
    fn url(&self, segments: &[&str]) -> Result<Url, VenueError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| VenueError::Rejected("the venue base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(&self, op: Op, request: reqwest::RequestBuilder) -> Result<Option<VenueOrder>, VenueError> {
        let (status, body) = self.exchange(op, request).await?;
        self.judge(op, status, &body)
    }

    /// Sends `request` signed with the current keys; the status and body, or the
    /// transport failure. A 401 with keys read from a source reads them again and, if
    /// they changed (rotated), sends the request once more.
    async fn exchange(&self, op: Op, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), VenueError> {
        let keys = self.keys.get().await;
        let again = request.try_clone();
        let (mut status, mut wait, mut body) = self.send(request, &keys).await?;
        if status == 401
            && let Some(again) = again
            && self.keys.renewed_after_401(&keys).await
        {
            (status, wait, body) = self.send(again, &self.keys.now()).await?;
        }
        if status == 429 {
            let message = error_message(&body);
            tracing::warn!(?op, status, %message, "venue call rate limited");
            return Err(VenueError::RateLimited {
                retry_after: wait,
                message,
            });
        }
        Ok((status, body))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        keys: &VenueKeys,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), VenueError> {
        let (key, secret) = keys.headers()?;
        let response = request
            .header("APCA-API-KEY-ID", key)
            .header("APCA-API-SECRET-KEY", secret)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers(), time::OffsetDateTime::now_utc().unix_timestamp());
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok((status, wait, body))
    }

    fn judge(&self, op: Op, status: u16, body: &[u8]) -> Result<Option<VenueOrder>, VenueError> {
        let result = classify(op, status, body);
        if let Err(e) = &result {
            tracing::warn!(?op, status, error = %e, "venue call failed");
        }
        result
    }

    /// A GET of an account-wide list whose 2xx body is a JSON array of `T`.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<Vec<T>, VenueError> {
        let url = self.url(path)?;
        let (status, body) = self.exchange(Op::List, self.http.get(url).query(query)).await?;
        if !(200..=299).contains(&status) {
            self.judge(Op::List, status, &body)?;
            return Err(VenueError::Transient(format!("unexpected HTTP status {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| {
            VenueError::Transient(format!(
                "unreadable list in the venue's answer to /{}: {e}",
                path.join("/")
            ))
        })
    }
}

/// Alpaca's largest `page_size` of account activities.
pub const MAX_ACTIVITY_PAGE: u32 = 100;
/// Alpaca's largest `limit` of `GET /v2/orders`.
pub const MAX_ORDER_PAGE: u32 = 500;

/// How far before the cursor's execution the activities query starts. Alpaca pages
/// by `page_token` (the last activity id); the `after` bound only keeps the query
/// small and must include that activity, whose time is rounded to milliseconds.
const CURSOR_OVERLAP_SECS: i64 = 1;

/// The query of one page of FILL activities after `from`, oldest first.
pub fn activities_query(from: &FeedPosition, page_size: u32) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("direction", "asc".to_owned()),
        ("page_size", page_size.clamp(1, MAX_ACTIVITY_PAGE).to_string()),
    ];
    match from {
        FeedPosition::Since { at } => query.push(("after", at.to_string())),
        FeedPosition::After { execution_id, at } => {
            query.push(("after", at.plus_seconds(-CURSOR_OVERLAP_SECS).to_string()));
            query.push(("page_token", execution_id.clone()));
        }
    }
    query
}

#[async_trait]
impl VenueFeed for AlpacaVenue {
    #[instrument(skip(self))]
    async fn executions(&self, from: &FeedPosition, page_size: u32) -> Result<ExecutionPage, VenueError> {
        let query = activities_query(from, page_size);
        let size = page_size.clamp(1, MAX_ACTIVITY_PAGE) as usize;
        let raw: Vec<FillActivity> = self.list(&["v2", "account", "activities", "FILL"], &query).await?;
        let more = raw.len() >= size;
        let executions = raw
            .into_iter()
            .map(VenueExecution::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(VenueError::Transient)?;
        Ok(ExecutionPage { executions, more })
    }

    #[instrument(skip(self))]
    async fn open_orders(&self, after: Option<&str>, limit: u32) -> Result<OpenOrderPage, VenueError> {
        let limit = limit.clamp(1, MAX_ORDER_PAGE);
        let mut query = vec![
            ("status", "open".to_owned()),
            ("direction", "asc".to_owned()),
            ("limit", limit.to_string()),
        ];
        if let Some(after) = after {
            query.push(("after_order_id", after.to_owned()));
        }
        let raw: Vec<OrderResponse> = self.list(&["v2", "orders"], &query).await?;
        let full = raw.len() >= limit as usize;
        let orders: Vec<VenueOrderRef> = raw.into_iter().map(VenueOrderRef::from).collect();
        Ok(OpenOrderPage {
            next: orders.last().filter(|_| full).map(|o| o.venue_order_id.clone()),
            orders,
        })
    }

    #[instrument(skip(self))]
    async fn venue_order(&self, venue_order_id: &str) -> Result<Option<VenueOrderRef>, VenueError> {
        if venue_order_id.is_empty() {
            return Ok(None);
        }
        let url = self.url(&["v2", "orders", venue_order_id])?;
        let (status, body) = self.exchange(Op::Find, self.http.get(url)).await?;
        match status {
            200..=299 => serde_json::from_slice::<OrderResponse>(&body)
                .map(|o| Some(VenueOrderRef::from(o)))
                .map_err(|e| VenueError::Transient(format!("unreadable order in the venue's answer: {e}"))),
            _ => self.judge(Op::Find, status, &body).map(|_| None),
        }
    }
}

#[async_trait]
impl Venue for AlpacaVenue {
    #[instrument(skip(self, order), fields(order_id = %order.order_id))]
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError> {
        let url = self.url(&["v2", "orders"])?;
        let body = OrderRequest::from(order);
        if body.order_type != order.order_type.as_str() {
            // A market or stop buy protected at the venue (`protect`): say so once.
            tracing::info!(venue_type = body.order_type, limit_price = ?body.limit_price,
                "{} buy sent to the venue limited at its reservation price", order.order_type.as_str());
        }
        let placed = self.call(Op::Place, self.http.post(url).json(&body)).await?;
        placed.ok_or_else(|| VenueError::Transient("the venue accepted the order but sent no order".into()))
    }

    #[instrument(skip(self), fields(order_id = %client_order_id))]
    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        let url = self.url(&["v2", "orders:by_client_order_id"])?;
        let id = client_order_id.to_string();
        let found = self
            .call(Op::Find, self.http.get(url).query(&[("client_order_id", &id)]))
            .await?;
        match found {
            Some(order) if order.client_order_id != *client_order_id => Err(VenueError::Transient(format!(
                "asked for {client_order_id}, the venue answered with {}",
                order.client_order_id
            ))),
            other => Ok(other),
        }
    }

    #[instrument(skip(self))]
    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError> {
        if venue_order_id.is_empty() {
            return Err(VenueError::NotFound);
        }
        let url = self.url(&["v2", "orders", venue_order_id])?;
        self.call(Op::Cancel, self.http.delete(url)).await.map(|_| ())
    }

    #[instrument(skip(self, changes), fields(order_id = %changes.client_order_id))]
    async fn replace(&self, venue_order_id: &str, changes: &VenueReplace) -> Result<VenueOrder, VenueError> {
        if venue_order_id.is_empty() {
            return Err(VenueError::NotFound);
        }
        let url = self.url(&["v2", "orders", venue_order_id])?;
        let body = ReplaceRequest::from(changes);
        let replaced = self.call(Op::Replace, self.http.patch(url).json(&body)).await?;
        replaced.ok_or_else(|| VenueError::Transient("the venue replaced the order but sent no order".into()))
    }
}

#[cfg(test)]
#[path = "alpaca_tests.rs"]
mod tests;
