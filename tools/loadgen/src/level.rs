// Long because: one load level: its three runs (HTTP, in process, floor) and their report (figures, Markdown, JSON)
// read together.
//! One load level of `orders-load run`: the HTTP run, our handlers in process and
//! the floor, at the same concurrency against the same emulator, one after another;
//! and what they measured, as figures, Markdown and JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::Stack;
use serde_json::{Value, json};

use crate::floor::{Floor, FloorResult};
use crate::inproc::InProcResult;
use crate::mix::{Kind, Mix};
use crate::run::{Limit, RunConfig, RunResult};
use crate::stats::{Samples, ms, ratio, times};

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
    pub terminal: usize,
    pub inproc: InProcResult,
    /// The floor of the submit and cancel calls alone (next to `inproc`), and of
    /// whole lives (next to the HTTP run).
    pub floor_handlers: FloorResult,
    pub floor: FloorResult,
    pub took: Duration,
    /// The emulator's CPU use (cores: CPU seconds per second) during our HTTP run and
    /// during the floor's whole lives, from `/proc/$EMULATOR_PID/stat`; its Python
    /// interpreter runs one thread at a time, so near 1 it is the bound.
    pub emulator_cores: (Option<f64>, Option<f64>),
    /// Instances per function under cargo lambda watch (`FUNCTION_CONCURRENCY`).
    pub instances: usize,
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
    let (http, http_cores) = cores_during(emulator, crate::run::run(stack.clone(), &cfg)).await;
    let http = http?;
    eprintln!(
        "orders-load: {} traders: HTTP run done in {:.1}s; in process, {} orders",
        plan.traders,
        t0.elapsed().as_secs_f64(),
        plan.floor_orders
    );
    let inproc = crate::inproc::run(floor, plan.traders, plan.floor_orders, mix, plan.seed).await?;
    eprintln!(
        "orders-load: {} traders: the floor, {} orders",
        plan.traders, plan.floor_orders
    );
    let floor_handlers = crate::floor::run(floor, plan.traders, plan.floor_orders, false, mix, plan.seed).await?;
    let (floor_result, floor_cores) = cores_during(
        emulator,
        crate::floor::run(floor, plan.traders, plan.floor_orders, true, mix, plan.seed),
    )
    .await;
    let floor_result = floor_result?;

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
    Ok(Level {
        traders: plan.traders,
        http,
        fill_event,
        cancel_event,
        event_lag,
        to_claim,
        to_fill,
        fill_to_event,
        terminal,
        inproc,
        floor_handlers,
        floor: floor_result,
        took: t0.elapsed(),
        emulator_cores: (http_cores, floor_cores),
        instances: std::env::var("FUNCTION_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
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
            "floor": {"submit": self.floor.submit.to_json(), "cancel": self.floor.cancel.to_json(),
                "submit_to_filled_event": self.floor.fill_event.to_json(),
                "cancel_to_cancelled_event": self.floor.cancel_event.to_json(),
                "lifecycles": self.floor.lifecycles, "calls": self.floor.calls, "errors": self.floor.errors,
                "lifecycles_per_sec": self.floor_per_sec()},
            "took_secs": self.took.as_secs_f64(),
            "emulator_cores": { "ours": self.emulator_cores.0, "floor": self.emulator_cores.1 },
            "instances": self.instances,
        })
    }
}

/// One row: what, ours p50/p99, floor p50/p99, ratios.
fn row(out: &mut String, what: &str, ours: &Samples, floor: &Samples) {
    out.push_str(&format!(
        "| {what} | {} | {} | {} | {} | {} | {} |\n",
        ms(ours.p50()),
        ms(ours.p99()),
        ms(floor.p50()),
        ms(floor.p99()),
        times(ratio(ours.p50(), floor.p50())),
        times(ratio(ours.p99(), floor.p99())),
    ));
}

pub fn markdown(levels: &[Level], command: &str) -> String {
    let mut out = String::new();
    out.push_str("## End to end under load (issue 7 part 2)\n\n");
    out.push_str(&format!(
        "Command: `{command}` (in `make bench`, against its stack).\n\n"
    ));
    out.push_str(&format!(
        "`orders-load run`: N traders over HTTP through the local gateway (JWT checked), each with its own \
         account, drawing 60% market buys, 25% marketable limit buys and 15% resting limit buys, in closed loop \
         on each order's life: a filled order is followed to its FILLED event before the next, a resting one \
         until it rests, then cancelled on the trader's next turn and followed to CANCELLED (events read off \
         the stack's tap queue). **Floor**: the same AWS calls issued back to back by a bare SDK client (no \
         code of ours), same concurrency, same emulator, right after: whole lives (next to the HTTP figures) \
         and the submit/cancel calls alone (next to the in-process figures); `tools/loadgen/src/floor.rs` lists \
         the calls. It leaves out what is not an AWS call: the HTTP hops (client → gateway → cargo lambda watch \
         → function), the venue's HTTP calls, the event-source mappings' polling (stream GetRecords; the \
         ReceiveMessage/DeleteMessage per message are in). **In process**: our submit/cancel use cases over the \
         DynamoDB adapter, called directly at the same concurrency: in process / floor is what our handler code \
         adds to its AWS calls; HTTP / in process is what the local hops and their queues add. Latencies in ms; \
         the functions run as debug builds under cargo lambda watch, FUNCTION_CONCURRENCY={n} instances each, so \
         more than {n} traders queue at the gateway; the work queue has {n} pollers, each invoking execute with \
         its own batch. Absolute times are the emulator's (moto in Python, DynamoDB serialized) on a shared \
         machine: reported, not targeted.\n\n",
        n = levels.first().map_or(2, |l| l.instances),
    ));
    for l in levels {
        let h = &l.http;
        out.push_str(&format!(
            "### {} concurrent trader{}\n\n{} orders accepted over HTTP ({} cancels) in {:.1} s: **{:.1} submits/s**, \
             **{:.1} terminal orders/s** (all terminal: {}; events awaited over a minute: {}); floor: {} whole \
             lives, **{:.1}/s** (throughput ours / floor {}); 5xx answers (each retried) {:?}; level took {:.0} s.\n\n",
            l.traders,
            if l.traders == 1 { "" } else { "s" },
            l.accepted(),
            h.log.cancel.len(),
            h.submit_phase.as_secs_f64(),
            l.submits_per_sec(),
            l.terminal_per_sec(),
            if h.not_terminal.is_empty() {
                "yes".to_owned()
            } else {
                format!("no, {} not", h.not_terminal.len())
            },
            h.log.unfinished,
            l.floor.lifecycles,
            l.floor_per_sec(),
            times(ratio(Some(l.terminal_per_sec()), Some(l.floor_per_sec()))),
            h.log.server_error_statuses,
            l.took.as_secs_f64(),
        ));
        out.push_str("| figure | ours p50 | ours p99 | floor p50 | floor p99 | ratio p50 | ratio p99 |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        row(&mut out, "submit over HTTP", &h.log.submit, &l.floor.submit);
        row(
            &mut out,
            "submit in process (floor: submit calls alone)",
            &l.inproc.submit,
            &l.floor_handlers.submit,
        );
        row(&mut out, "cancel over HTTP", &h.log.cancel, &l.floor.cancel);
        row(
            &mut out,
            "cancel in process, PENDING (floor: cancel calls alone)",
            &l.inproc.cancel,
            &l.floor_handlers.cancel,
        );
        row(&mut out, "submit → FILLED event", &l.fill_event, &l.floor.fill_event);
        row(
            &mut out,
            "cancel → CANCELLED event",
            &l.cancel_event,
            &l.floor.cancel_event,
        );
        out.push_str(&format!(
            "| status change → event received (SPEC: p99 < 500) | {} | {} | | | | |\n\n",
            ms(l.event_lag.p50()),
            ms(l.event_lag.p99())
        ));
        out.push_str(&format!(
            "Stages of a filled order (from the events' change times), p50 / p99 ms: submit commit → claim \
             (fast path: SQS → execute) {} / {}; claim → fill commit (venue call, fill write) {} / {}; \
             fill commit → FILLED event received (stream → publish → PutEvents → tap) {} / {}.\n\n",
            ms(l.to_claim.p50()),
            ms(l.to_claim.p99()),
            ms(l.to_fill.p50()),
            ms(l.to_fill.p99()),
            ms(l.fill_to_event.p50()),
            ms(l.fill_to_event.p99()),
        ));
        out.push_str(&verdict(l));
    }
    out
}

/// Whether the targets hold, and if not what the figures say holds them back.
fn verdict(l: &Level) -> String {
    let mut notes = Vec::new();
    let h = &l.http;
    let handler = ratio(l.inproc.submit.p99(), l.floor_handlers.submit.p99());
    let e2e = ratio(h.log.submit.p99(), l.floor.submit.p99());
    let hops = match (h.log.submit.p50(), l.inproc.submit.p50()) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    notes.push(format!(
        "Ratio to the floor, submit p99: in process {} (target < 1.2: {}), over HTTP {} (target: {}).",
        times(handler),
        if handler.is_some_and(|r| r < 1.2) {
            "met"
        } else {
            "not met"
        },
        times(e2e),
        if e2e.is_some_and(|r| r < 1.2) { "met" } else { "not met" },
    ));
    if !e2e.is_some_and(|r| r < 1.2) {
        notes.push(format!(
            "What holds the HTTP figure back is not our handler code (in process / floor above) but the local \
             hops: submit over HTTP minus in process = {} ms at p50 (client → local gateway: JWT, API Gateway v2 \
             event → cargo lambda watch's invoke API → the function's runtime-API poll, and the gateway's queue in \
             front of {} instances per function).",
            ms(hops),
            l.instances,
        ));
    }
    if l.traders > l.instances {
        notes.push(format!(
            "With {} traders the queues sit in different places: ours at the gateway (at most {} submits in \
             flight), the floor's {} workers at the emulator, which serializes DynamoDB; latency ratios then compare \
             queues, and the fair figure is throughput: ours / floor {} (whole lives per second).",
            l.traders,
            l.instances,
            l.traders,
            times(ratio(Some(l.terminal_per_sec()), Some(l.floor_per_sec()))),
        ));
        let stages = [
            (
                "the submit over HTTP (the gateway's queue, then the submit calls on a busy emulator)",
                h.log.submit.p50(),
            ),
            (
                "submit commit → claim (fast path: work queue → execute)",
                l.to_claim.p50(),
            ),
            ("claim → fill commit (venue call, fill write)", l.to_fill.p50()),
            (
                "fill commit → FILLED event (stream → publish → PutEvents → tap)",
                l.fill_to_event.p50(),
            ),
        ];
        if let Some((name, Some(longest))) = stages
            .iter()
            .filter(|(_, v)| v.is_some())
            .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        {
            notes.push(format!(
                "The longest stage of a filled order's life at p50 is {name}: {} ms.",
                ms(Some(*longest))
            ));
        }
    }
    if let (Some(ours), Some(floor)) = l.emulator_cores {
        notes.push(format!(
            "The emulator's CPU: {ours:.2} cores during our run, {floor:.2} during the floor's (one Python process, \
             one thread at a time: near 1.0 it is what bounds both)."
        ));
    }
    let p99 = h.log.submit.p99();
    notes.push(format!(
        "SPEC §9 submit p99 < 50 ms over HTTP: {} ({} ms); in process: {} ms.",
        if p99.is_some_and(|v| v < 50.0) {
            "met"
        } else {
            "not met"
        },
        ms(p99),
        ms(l.inproc.submit.p99()),
    ));
    let lag = l.event_lag.p99();
    notes.push(format!(
        "SPEC §7/§9 status event p99 < 500 ms after its state change: {} ({} ms).",
        if lag.is_some_and(|v| v < 500.0) {
            "met"
        } else {
            "not met"
        },
        ms(lag)
    ));
    let mut s = notes.join(" ");
    s.push_str("\n\n");
    s
}
