//! One load level of `orders-load run`: the HTTP run, our handlers in process and
//! the floor (at full concurrency, and limited to our instances per function), at
//! the same number of traders against the same emulator, one after another; and
//! what they measured, as figures and JSON (`report.rs` writes the Markdown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use e2e::Stack;
use serde_json::{Value, json};

use crate::floor::{Floor, FloorResult};
use crate::inproc::InProcResult;
use crate::mix::{Kind, Mix};
use crate::run::{Limit, RunConfig, RunResult};
use crate::stats::Samples;

pub struct LevelPlan {
    pub traders: usize,
    pub orders: usize,
    /// Orders of the in-process and floor runs.
    pub floor_orders: usize,
    pub seed: u64,
}

/// What one level measured.
pub struct Level {
    pub traders: usize,
    pub http: RunResult,
    pub fill_event: Samples,
    pub cancel_event: Samples,
    pub event_lag: Samples,
    /// Stages of a filled order, from the events' change times: its commit (v1: the
    /// order's creation time, which submit takes as it builds the order's transaction,
    /// after its reads and any market-data call, so the stage includes the
    /// transaction itself) →
    /// the claim (v2: submit's fast path → SQS → execute), the claim → the fill's
    /// commit (venue call and fill write), the fill's commit → its event received.
    pub to_claim: Samples,
    pub to_fill: Samples,
    pub fill_to_event: Samples,
    /// Submit sent → the venue's order created (its `created_at` at the simulator),
    /// for every order the venue holds: the time to venue as a trader sees it.
    pub to_venue: Samples,
    pub terminal: usize,
    pub inproc: InProcResult,
    /// The floor of the submit and cancel calls alone (next to `inproc`), and of
    /// whole lives (next to the HTTP run).
    pub floor_handlers: FloorResult,
    pub floor: FloorResult,
    /// The floor's whole lives limited to ours: each function's calls in one of
    /// `instances` (the like-for-like figures). None when there are no more traders
    /// than instances: nothing would wait, so it is `floor` itself.
    pub floor_limited: Option<FloorResult>,
    pub took: Duration,
    pub emulator_cores: Cores,
    /// Instances per function under cargo lambda watch (`FUNCTION_CONCURRENCY`).
    pub instances: usize,
}

/// The emulator's CPU use (cores: CPU seconds per second) during each run, from
/// `/proc/$EMULATOR_PID/stat`; its Python interpreter runs one thread at a time, so
/// near 1 it is the bound.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cores {
    pub http: Option<f64>,
    pub in_process: Option<f64>,
    pub floor_handlers: Option<f64>,
    pub floor: Option<f64>,
    pub floor_limited: Option<f64>,
}

/// Submit sent → the venue order's `created_at`, for each of `placed` the venue holds
/// (the simulator's `GET /_sim/orders`, keyed by client order id: our order id).
async fn to_venue(stack: &Stack, placed: &[crate::run::Placed]) -> anyhow::Result<Samples> {
    let sim = std::env::var("SIMULATOR_URL").context("SIMULATOR_URL is not set")?;
    let venue: Value = stack
        .http
        .get(format!("{}/_sim/orders", sim.trim_end_matches('/')))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let created: std::collections::HashMap<&str, i64> = venue["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let at = shared::domain::Timestamp::parse(o["created_at"].as_str()?).ok()?;
            Some((o["client_order_id"].as_str()?, at.unix_millis()))
        })
        .collect();
    let mut out = Samples::default();
    for p in placed {
        if let Some(at) = created.get(p.id.as_str()) {
            out.push_ms(at - p.submitted_ms);
        }
    }
    Ok(out)
}

/// CPU seconds used so far by process `pid` (user + system), if it can be read.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here; in
    // clock ticks of 1/100 s on Linux.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Cores used by `pid` while `work` ran.
async fn cores_during<T>(pid: Option<u32>, work: impl std::future::Future<Output = T>) -> (T, Option<f64>) {
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    let out = work.await;
    let cores = match (c0, cpu_seconds(pid)) {
        (Some(a), Some(b)) if !t0.elapsed().is_zero() => Some((b - a) / t0.elapsed().as_secs_f64()),
        _ => None,
    };
    (out, cores)
}

pub async fn measure(stack: &Arc<Stack>, floor: &Arc<Floor>, plan: &LevelPlan) -> anyhow::Result<Level> {
    let t0 = Instant::now();
    let mix = Mix::default();
    let cfg = RunConfig {
        traders: plan.traders,
        limit: Limit::Orders(plan.orders),
        seed: plan.seed,
        mix,
        cash: "10000000",
        settle: Duration::from_secs(120 + plan.orders as u64 / 50),
        tap_receivers: 4,
    };
    eprintln!(
        "orders-load: {} traders, {} orders over HTTP",
        plan.traders, plan.orders
    );
    let emulator = std::env::var("EMULATOR_PID").ok().and_then(|p| p.parse::<u32>().ok());
    let instances = std::env::var("FUNCTION_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let (http, http_cores) = cores_during(emulator, crate::run::run(stack.clone(), &cfg)).await;
    let http = http?;
    eprintln!(
        "orders-load: {} traders: HTTP run done in {:.1}s; in process, {} orders",
        plan.traders,
        t0.elapsed().as_secs_f64(),
        plan.floor_orders
    );
    let (inproc, inproc_cores) = cores_during(
        emulator,
        crate::inproc::run(floor, plan.traders, plan.floor_orders, mix, plan.seed),
    )
    .await;
    let inproc = inproc?;
    eprintln!(
        "orders-load: {} traders: the floor, {} orders",
        plan.traders, plan.floor_orders
    );
    let floor_run = |lifecycle: bool, limit: Option<usize>| {
        crate::floor::run(floor, plan.traders, plan.floor_orders, lifecycle, limit, mix, plan.seed)
    };
    let (floor_handlers, handlers_cores) = cores_during(emulator, floor_run(false, None)).await;
    let floor_handlers = floor_handlers?;
    let (floor_result, floor_cores) = cores_during(emulator, floor_run(true, None)).await;
    let floor_result = floor_result?;
    // At no more traders than instances no worker would ever wait for one: the
    // limited floor is the floor itself, not run twice.
    let (floor_limited, limited_cores) = if plan.traders > instances {
        eprintln!(
            "orders-load: {} traders: the floor limited to {instances} instances per function, {} orders",
            plan.traders, plan.floor_orders
        );
        let (r, cores) = cores_during(emulator, floor_run(true, Some(instances))).await;
        (Some(r?), cores)
    } else {
        (None, floor_cores)
    };

    let (mut fill_event, mut cancel_event, mut event_lag, mut terminal) =
        (Samples::default(), Samples::default(), Samples::default(), 0);
    let (mut to_claim, mut to_fill, mut fill_to_event) = (Samples::default(), Samples::default(), Samples::default());
    {
        let seen = http.events.lock().unwrap_or_else(|p| p.into_inner());
        for p in &http.log.placed {
            let Some(evs) = seen.get(&p.id) else { continue };
            for r in evs {
                if let Some(changed) = r.changed_ms {
                    event_lag.push_ms(r.received_ms - changed);
                }
            }
            let end = |status: &str| evs.iter().filter(|r| r.status == status).map(|r| r.received_at).min();
            if evs.iter().any(|r| crate::run::TERMINAL.contains(&r.status.as_str())) {
                terminal += 1;
            }
            match (p.kind, p.cancelled_at) {
                (Kind::RestingLimit, Some(c)) => {
                    if let Some(e) = end("CANCELLED") {
                        cancel_event.push(e.saturating_duration_since(c));
                    }
                }
                (Kind::RestingLimit, None) => {}
                _ => {
                    if let Some(e) = end("FILLED") {
                        fill_event.push(e.saturating_duration_since(p.submitted_at));
                    }
                    let first = |status: &str| evs.iter().find(|r| r.status == status);
                    if let (Some(v1), Some(v2), Some(v3)) = (first("PENDING"), first("SUBMITTED"), first("FILLED")) {
                        if let (Some(a), Some(b), Some(c)) = (v1.changed_ms, v2.changed_ms, v3.changed_ms) {
                            to_claim.push_ms(b - a);
                            to_fill.push_ms(c - b);
                            fill_to_event.push_ms(v3.received_ms - c);
                        }
                    }
                }
            }
        }
    }
    let to_venue = to_venue(stack, &http.log.placed).await?;
    Ok(Level {
        traders: plan.traders,
        http,
        fill_event,
        cancel_event,
        event_lag,
        to_claim,
        to_fill,
        fill_to_event,
        to_venue,
        terminal,
        inproc,
        floor_handlers,
        floor: floor_result,
        floor_limited,
        took: t0.elapsed(),
        emulator_cores: Cores {
            http: http_cores,
            in_process: inproc_cores,
            floor_handlers: handlers_cores,
            floor: floor_cores,
            floor_limited: limited_cores,
        },
        instances,
    })
}

fn per_sec(n: usize, d: Duration) -> f64 {
    if d.is_zero() { 0.0 } else { n as f64 / d.as_secs_f64() }
}

impl Level {
    pub fn accepted(&self) -> usize {
        self.http.log.placed.len()
    }

    pub fn submits_per_sec(&self) -> f64 {
        per_sec(self.accepted(), self.http.submit_phase)
    }

    pub fn terminal_per_sec(&self) -> f64 {
        per_sec(self.terminal, self.http.until_terminal)
    }

    pub fn floor_per_sec(&self) -> f64 {
        per_sec(self.floor.lifecycles, self.floor.elapsed)
    }

    /// The floor of the like-for-like figures: limited to our instances, or the floor
    /// itself when no trader would wait for one.
    pub fn like_floor(&self) -> &FloorResult {
        self.floor_limited.as_ref().unwrap_or(&self.floor)
    }

    pub fn like_floor_per_sec(&self) -> f64 {
        let f = self.like_floor();
        per_sec(f.lifecycles, f.elapsed)
    }

    pub fn to_json(&self) -> Value {
        let l = &self.http.log;
        json!({
            "traders": self.traders,
            "http": {
                "accepted": self.accepted(), "submit_answers": l.submit_answers, "cancel_answers": l.cancel_answers,
                "retries": l.retries, "server_error_statuses": l.server_error_statuses, "unfinished": l.unfinished, "server_errors": l.server_errors, "transport_errors": l.transport_errors,
                "submit": l.submit.to_json(), "cancel": l.cancel.to_json(),
                "submit_to_filled_event": self.fill_event.to_json(),
                "cancel_to_cancelled_event": self.cancel_event.to_json(),
                "status_change_to_event": self.event_lag.to_json(),
                "submit_to_venue_accept": self.to_venue.to_json(),
                "stages_of_a_fill": {"commit_to_claim": self.to_claim.to_json(),
                    "claim_to_fill_commit": self.to_fill.to_json(), "fill_commit_to_event": self.fill_to_event.to_json()},
                "terminal": self.terminal, "not_terminal": self.http.not_terminal.len(),
                "submits_per_sec": self.submits_per_sec(), "terminal_per_sec": self.terminal_per_sec(),
                "submit_phase_secs": self.http.submit_phase.as_secs_f64(),
            },
            "floor_submit_and_cancel_only": {"submit": self.floor_handlers.submit.to_json(),
                "cancel": self.floor_handlers.cancel.to_json(), "errors": self.floor_handlers.errors},
            "in_process": {"submit": self.inproc.submit.to_json(), "cancel": self.inproc.cancel.to_json(),
                "accepted": self.inproc.accepted, "refused": self.inproc.refused},
            "floor": floor_json(&self.floor),
            // Like for like: the floor's whole lives with each function's calls in one of
            // `instances`; at no more traders than instances the floor itself
            // (`separate_run` false).
            "floor_limited_to_our_instances": {
                "separate_run": self.floor_limited.is_some(), "instances": self.instances,
                "figures": floor_json(self.like_floor()),
            },
            "took_secs": self.took.as_secs_f64(),
            "emulator_cores": { "ours": self.emulator_cores.http, "floor": self.emulator_cores.floor,
                "floor_limited": self.emulator_cores.floor_limited, "in_process": self.emulator_cores.in_process,
                "floor_submit_and_cancel_only": self.emulator_cores.floor_handlers },
            "instances": self.instances,
        })
    }
}

fn floor_json(f: &FloorResult) -> Value {
    json!({"submit": f.submit.to_json(), "cancel": f.cancel.to_json(),
        "submit_to_filled_event": f.fill_event.to_json(),
        "cancel_to_cancelled_event": f.cancel_event.to_json(),
        "lifecycles": f.lifecycles, "calls": f.calls, "errors": f.errors,
        "lifecycles_per_sec": per_sec(f.lifecycles, f.elapsed)})
}
