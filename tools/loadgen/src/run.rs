//! The load itself: N trader tasks over real HTTP (the local gateway at `API_URL`),
//! each with its own funded account, drawing from the order mix, in closed loop on
//! each order's life: a market or marketable order is followed to its terminal
//! event, a resting one until it rests, then cancelled on the trader's next turn and
//! followed to CANCELLED. (Closed on the submit answer alone, traders would queue
//! orders faster than execution serves them and every latency would grow with the
//! run's length.) The status events are read off the tap meanwhile. A run stops after a number of orders or a duration, then waits
//! (bounded) until every accepted order has a terminal event.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::Stack;
use futures::StreamExt;
use shared::domain::{RiskLimits, TraderId};

use crate::mix::{Kind, Mix, Rng, body};
use crate::stats::Samples;
use crate::tap::Tap;

pub const TERMINAL: [&str; 4] = ["FILLED", "CANCELLED", "REJECTED", "EXPIRED"];

/// Retries of one request answered 429 or 503, or a submit answered 409 (a lost
/// race on the account: retried with the same idempotency key, as a client would).
const RETRIES: usize = 5;

#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Orders(usize),
    Duration(Duration),
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub traders: usize,
    pub limit: Limit,
    pub seed: u64,
    pub mix: Mix,
    pub cash: &'static str,
    /// How long to wait, after the last submit, for every order's terminal event.
    pub settle: Duration,
    pub tap_receivers: usize,
}

/// One accepted order.
#[derive(Clone, Debug)]
pub struct Placed {
    pub id: String,
    pub trader: usize,
    pub kind: Kind,
    pub submitted_at: Instant,
    /// The same moment on the wall clock (Unix ms), to set against the venue's times.
    pub submitted_ms: i64,
    pub cancelled_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct TraderLog {
    pub submit: Samples,
    pub cancel: Samples,
    pub placed: Vec<Placed>,
    /// Final answer status of each submit and cancel → count (after retries).
    pub submit_answers: BTreeMap<u16, u64>,
    pub cancel_answers: BTreeMap<u16, u64>,
    pub retries: u64,
    /// Orders whose awaited event had not come after a minute (the trader went on).
    pub unfinished: u64,
    /// Any answer ≥ 500, retried or not, and by status.
    pub server_errors: u64,
    pub server_error_statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
}

impl TraderLog {
    fn merge(&mut self, o: TraderLog) {
        self.submit.extend(&o.submit);
        self.cancel.extend(&o.cancel);
        self.placed.extend(o.placed);
        for (k, v) in o.submit_answers {
            *self.submit_answers.entry(k).or_default() += v;
        }
        for (k, v) in o.cancel_answers {
            *self.cancel_answers.entry(k).or_default() += v;
        }
        self.retries += o.retries;
        self.unfinished += o.unfinished;
        self.server_errors += o.server_errors;
        for (k, v) in o.server_error_statuses {
            *self.server_error_statuses.entry(k).or_default() += v;
        }
        self.transport_errors += o.transport_errors;
    }
}

pub struct RunResult {
    pub traders: Vec<TraderId>,
    pub log: TraderLog,
    /// From the first submit to the last answer.
    pub submit_phase: Duration,
    /// From the first submit to the last terminal event (or the end of the wait).
    pub until_terminal: Duration,
    /// Accepted orders with no terminal event when the wait ended.
    pub not_terminal: Vec<String>,
    pub events: crate::tap::Events,
    pub tap_errors: u64,
}

/// Funds `n` new traders with `cash` and limits no load run reaches.
pub async fn traders(stack: &Stack, n: usize, cash: &str) -> anyhow::Result<Vec<TraderId>> {
    let limits = RiskLimits {
        orders_per_minute: 1_000_000,
        max_open_orders: 100_000,
        ..RiskLimits::default()
    };
    // A few at a time, each tried thrice: the emulator may be busy with the last level.
    let fund = |_| {
        let limits = limits.clone();
        async move {
            let mut last = None;
            for _ in 0..3 {
                match stack.trader(cash, Some(limits.clone())).await {
                    Ok(t) => return Ok(t),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| anyhow::anyhow!("funding a trader failed")))
        }
    };
    let all: Vec<anyhow::Result<TraderId>> = futures::stream::iter(0..n).map(fund).buffered(8).collect().await;
    all.into_iter().collect()
}

pub async fn run(stack: Arc<Stack>, cfg: &RunConfig) -> anyhow::Result<RunResult> {
    let ids = traders(&stack, cfg.traders, cfg.cash)
        .await
        .context("funding the traders")?;
    run_as(stack, cfg, ids).await
}

/// The run of `cfg` by traders already funded (`ids`, one task each).
pub async fn run_as(stack: Arc<Stack>, cfg: &RunConfig, ids: Vec<TraderId>) -> anyhow::Result<RunResult> {
    let tap_url = std::env::var("STATUS_EVENTS_TAP_QUEUE_URL").context("STATUS_EVENTS_TAP_QUEUE_URL is not set")?;
    let tap_client = crate::tap::client().await;
    crate::tap::clear_stale(&tap_client, &tap_url).await;
    let tap = Tap::start(tap_client, tap_url, cfg.tap_receivers);

    let market = crate::mix::venue_market(&stack.http).await;
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = match cfg.limit {
        Limit::Duration(d) => Some(started + d),
        Limit::Orders(_) => None,
    };
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (stack, counter, id, cfg) = (stack.clone(), counter.clone(), id.clone(), cfg.clone());
            let (events, market) = (tap.events.clone(), market.clone());
            tokio::spawn(async move { trader_loop(&stack, &events, &market, i, &id, &cfg, &counter, deadline).await })
        })
        .collect();
    let mut log = TraderLog::default();
    for t in tasks {
        log.merge(t.await.context("a trader task panicked")?);
    }
    let submit_phase = started.elapsed();

    // Wait for every accepted order's terminal event.
    let wait_until = Instant::now() + cfg.settle;
    let ids_placed: Vec<String> = log.placed.iter().map(|p| p.id.clone()).collect();
    let mut not_terminal;
    loop {
        not_terminal = without_terminal(&tap.events, &ids_placed);
        if not_terminal.is_empty() || Instant::now() >= wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let until_terminal = last_terminal(&tap.events, &ids_placed)
        .map_or_else(|| started.elapsed(), |t| t.saturating_duration_since(started));
    // Late duplicates and the last versions still in flight: a moment more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = tap.events.clone();
    let tap_errors = tap.stop().await;
    Ok(RunResult {
        traders: ids,
        log,
        submit_phase,
        until_terminal,
        not_terminal,
        events,
        tap_errors,
    })
}

fn is_terminal(status: &str) -> bool {
    TERMINAL.contains(&status)
}

fn without_terminal(events: &crate::tap::Events, ids: &[String]) -> Vec<String> {
    let seen = events.lock().unwrap_or_else(|p| p.into_inner());
    ids.iter()
        .filter(|id| !seen.get(*id).is_some_and(|v| v.iter().any(|r| is_terminal(&r.status))))
        .cloned()
        .collect()
}

fn last_terminal(events: &crate::tap::Events, ids: &[String]) -> Option<Instant> {
    let wanted: HashSet<&String> = ids.iter().collect();
    let seen = events.lock().unwrap_or_else(|p| p.into_inner());
    seen.iter()
        .filter(|(id, _)| wanted.contains(id))
        .filter_map(|(_, v)| v.iter().filter(|r| is_terminal(&r.status)).map(|r| r.received_at).min())
        .max()
}

/// Sends one request (retrying 409/429/503 with the same key); latency of each attempt.
async fn send_retrying<F, Fut>(
    log: &mut TraderLog,
    samples: Samples,
    retry_409: bool,
    mut attempt: F,
) -> (Samples, Option<e2e::Answer>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<e2e::Answer>>,
{
    let mut samples = samples;
    for n in 0..=RETRIES {
        let t0 = Instant::now();
        match attempt().await {
            Ok(a) => {
                samples.push(t0.elapsed());
                if a.status >= 500 {
                    log.server_errors += 1;
                    *log.server_error_statuses.entry(a.status).or_default() += 1;
                    eprintln!("orders-load: answered {}: {}", a.status, a.body);
                }
                if (matches!(a.status, 429 | 503) || (retry_409 && a.status == 409)) && n < RETRIES {
                    log.retries += 1;
                    tokio::time::sleep(Duration::from_millis(50 << n)).await;
                    continue;
                }
                return (samples, Some(a));
            }
            Err(e) => {
                log.transport_errors += 1;
                eprintln!("orders-load: request failed: {e:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    (samples, None)
}

/// Waits (polling the tap's record) until `order` has an event whose status is in
/// `statuses`; false if `within` passed first.
async fn wait_for_event(events: &crate::tap::Events, order: &str, statuses: &[&str], within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let seen = {
            let map = events.lock().unwrap_or_else(|p| p.into_inner());
            map.get(order)
                .is_some_and(|v| v.iter().any(|r| statuses.contains(&r.status.as_str())))
        };
        if seen {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long a trader waits for an order's event before it goes on without it.
const EVENT_WAIT: Duration = Duration::from_secs(60);

#[allow(clippy::too_many_arguments)]
async fn trader_loop(
    stack: &Stack,
    events: &crate::tap::Events,
    market: &crate::mix::Market,
    index: usize,
    trader: &TraderId,
    cfg: &RunConfig,
    counter: &AtomicUsize,
    deadline: Option<Instant>,
) -> TraderLog {
    let mut log = TraderLog::default();
    let mut rng = Rng::new(cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let mut resting: Option<usize> = None;
    loop {
        let more = match (cfg.limit, deadline) {
            (Limit::Orders(n), _) => counter.fetch_add(1, Ordering::Relaxed) < n,
            (_, Some(d)) => Instant::now() < d,
            _ => false,
        };
        if let Some(i) = resting.take() {
            if cancel(stack, trader, &mut log, i).await
                && !wait_for_event(events, &log.placed[i].id, &TERMINAL, EVENT_WAIT).await
            {
                log.unfinished += 1;
            }
        }
        if !more {
            return log;
        }
        let kind = cfg.mix.draw(&mut rng);
        let order = body(kind, &mut rng, market);
        let key = ulid::Ulid::new().to_string();
        let (submitted_at, submitted_ms) = (Instant::now(), crate::tap::unix_ms_now());
        let token = stack.token(trader);
        let samples = std::mem::take(&mut log.submit);
        let (samples, answer) =
            send_retrying(&mut log, samples, true, || stack.submit(&token, Some(&key), &order)).await;
        log.submit = samples;
        let Some(answer) = answer else { continue };
        *log.submit_answers.entry(answer.status).or_default() += 1;
        if answer.status != 201 {
            eprintln!("orders-load: submit answered {}: {}", answer.status, answer.body);
            continue;
        }
        let Some(id) = answer.body["order_id"].as_str() else {
            eprintln!("orders-load: a 201 without an order_id: {}", answer.body);
            continue;
        };
        log.placed.push(Placed {
            id: id.to_owned(),
            trader: index,
            kind,
            submitted_at,
            submitted_ms,
            cancelled_at: None,
        });
        // Closed loop on the order's life, as a trader watching its fills: the next
        // order goes in once this one is done (a resting one: once it rests).
        let until: &[&str] = if kind == Kind::RestingLimit {
            &["SUBMITTED", "FILLED", "CANCELLED", "REJECTED", "EXPIRED"]
        } else {
            &TERMINAL
        };
        if !wait_for_event(events, id, until, EVENT_WAIT).await {
            log.unfinished += 1;
        }
        if kind == Kind::RestingLimit {
            resting = Some(log.placed.len() - 1);
        }
    }
}

/// Cancels the trader's order `i`; true when the cancel was accepted.
async fn cancel(stack: &Stack, trader: &TraderId, log: &mut TraderLog, i: usize) -> bool {
    let id = log.placed[i].id.clone();
    let token = stack.token(trader);
    log.placed[i].cancelled_at = Some(Instant::now());
    let samples = std::mem::take(&mut log.cancel);
    let (samples, answer) = send_retrying(log, samples, false, || stack.cancel(&token, &id)).await;
    log.cancel = samples;
    let Some(a) = answer else { return false };
    *log.cancel_answers.entry(a.status).or_default() += 1;
    if !(200..300).contains(&a.status) && a.status != 409 {
        eprintln!("orders-load: cancel of {id} answered {}: {}", a.status, a.body);
    }
    (200..300).contains(&a.status)
}
