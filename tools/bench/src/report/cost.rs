//! What the counted calls cost: the list prices with their date, the per-order sums
//! of a lifecycle, the cost per million orders, and the distance to the fewest calls.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::{Phase, Run, fmt, scenarios};
use crate::counter::Op;
use crate::units::{ItemRef, Units, units};

/// us-east-1 on-demand list prices in dollars, with the date they are known from.
pub struct Prices;
impl Prices {
    pub const DYNAMO_WRU: f64 = 0.625 / 1e6;
    pub const DYNAMO_RRU: f64 = 0.125 / 1e6;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const EVENTBRIDGE_EVENT: f64 = 1.00 / 1e6;
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    /// `MemorySize` in infra/template.yaml Globals (every function).
    pub const LAMBDA_MEMORY_GB: f64 = 256.0 / 1024.0;
}

pub(super) const PRICE_TABLE: &str = "\
| item (us-east-1, on demand) | list price | billed per | price known as of |
|---|---|---|---|
| DynamoDB write request unit | $0.625 per million | 1 KB of item written; 2 per KB in a transaction (every item, condition checks too) | 2024-11-01 (the 50% on-demand cut announced 2024-11-14) |
| DynamoDB read request unit | $0.125 per million | 4 KB read strongly consistent; half for eventually consistent | 2024-11-01 |
| DynamoDB Streams read by a Lambda trigger | $0 | GetRecords by Lambda's poller are not billed | 2024-11-01 |
| SQS standard request | $0.40 per million | each 64 KB of a request; a batch of 10 is 1 request | published price, unchanged through 2025-06 |
| EventBridge custom event | $1.00 per million | each 64 KB of an entry (events, not PutEvents calls) | published price, unchanged through 2025-06 |
| API Gateway HTTP API request | $1.00 per million | first 300 M a month, 512 KB chunks | published price, unchanged through 2025-06 |
| Lambda request | $0.20 per million | invocation | published price, unchanged through 2025-06 |
| Lambda arm64 duration | $0.0000133334 per GB-second | 1 ms granularity, 256 MB (template `MemorySize`) | published price, unchanged through 2025-06 |

Free tiers are ignored. No network here: these are the published list prices as known on the date given, not re-read today.
";

/// Per-order figures of a set of phases.
#[derive(Default)]
pub(super) struct Sum {
    pub(super) calls: BTreeMap<Op, f64>,
    pub(super) attempts: BTreeMap<Op, f64>,
    pub(super) poller: BTreeMap<Op, f64>,
    pub(super) units: Units,
    pub(super) invocations: BTreeMap<&'static str, f64>,
    millis: f64,
}

impl Sum {
    pub(super) fn of(phases: &[&Phase], orders: f64, sizes: &HashMap<ItemRef, usize>) -> Self {
        let mut s = Sum::default();
        for p in phases {
            // A sweep while orders rest is billed per resting order and sweep; the idle
            // intake's phases per pass.
            let passes = p.invocations.get("intake").copied().unwrap_or(1).max(1) as f64;
            let orders = if p.name == crate::calls::STILL_RESTING {
                passes * orders
            } else if p.scenario == crate::calls::INTAKE_FIXED {
                passes
            } else {
                orders
            };
            for (op, n) in &p.calls.calls {
                *s.calls.entry(op.clone()).or_default() += *n as f64 / orders;
            }
            for (op, n) in &p.calls.attempts {
                *s.attempts.entry(op.clone()).or_default() += *n as f64 / orders;
            }
            for (op, n) in &p.poller.calls {
                *s.poller.entry(op.clone()).or_default() += *n as f64 / orders;
            }
            let mut u = units(&p.calls.captured, sizes);
            u.wru += p.index.values().map(|(wru, _)| wru).sum::<f64>();
            u.wru /= orders;
            u.rru /= orders;
            u.events /= orders;
            s.units.add(u);
            for (f, n) in &p.invocations {
                *s.invocations.entry(f).or_default() += *n as f64 / orders;
            }
            s.millis += p.millis.values().sum::<f64>() / orders;
        }
        s
    }

    pub(super) fn function_calls(&self) -> f64 {
        self.calls.values().sum()
    }

    pub(super) fn poller_calls(&self) -> f64 {
        self.poller.values().sum()
    }

    fn sqs_function_calls(&self) -> f64 {
        self.calls
            .iter()
            .filter(|(op, _)| op.0.eq_ignore_ascii_case("sqs"))
            .map(|(_, n)| n)
            .sum()
    }

    fn http_requests(&self) -> f64 {
        ["submit", "cancel"]
            .iter()
            .filter_map(|f| self.invocations.get(f))
            .sum()
    }

    /// Dollars per million orders, the poller's calls shared by `batch` messages.
    fn cost(&self, batch: f64) -> Vec<(&'static str, f64)> {
        let invocations: f64 = self.invocations.values().sum();
        let gb_s = self.millis / 1000.0 * Prices::LAMBDA_MEMORY_GB;
        let m = 1e6;
        vec![
            ("HTTP API", self.http_requests() * Prices::HTTP_API_REQUEST * m),
            ("Lambda requests", invocations * Prices::LAMBDA_REQUEST * m),
            ("Lambda duration", gb_s * Prices::LAMBDA_GB_SECOND_ARM * m),
            ("DynamoDB writes", self.units.wru * Prices::DYNAMO_WRU * m),
            ("DynamoDB reads", self.units.rru * Prices::DYNAMO_RRU * m),
            (
                "SQS",
                (self.sqs_function_calls() + self.poller_calls() / batch) * Prices::SQS_REQUEST * m,
            ),
            ("EventBridge", self.units.events * Prices::EVENTBRIDGE_EVENT * m),
        ]
    }
}

pub(super) fn cost_table(out: &mut String, run: &Run) {
    let orders = run.orders as f64;
    let _ = writeln!(out, "### Cost per million orders\n");
    let _ = writeln!(
        out,
        "Dollars per million orders of each kind. Lambda duration uses the handler time measured in process against \
         the local emulator (its latency is not AWS's: read that column as an order of magnitude), at 256 MB arm64. \
         SQS counts the functions' calls and the poller's, at batch 1 and at batch 10.\n"
    );
    let sums: Vec<(&str, Sum)> = scenarios(run)
        .into_iter()
        .filter(|sc| *sc != crate::calls::INTAKE_FIXED)
        .map(|sc| {
            let phases: Vec<&Phase> = run.phases.iter().filter(|p| p.scenario == sc).collect();
            (sc, Sum::of(&phases, orders, &run.sizes))
        })
        .collect();
    let Some((_, first)) = sums.first() else { return };
    let heads: Vec<&str> = first.cost(1.0).iter().map(|(h, _)| *h).collect();
    let _ = writeln!(
        out,
        "| order kind | {} | total (batch 1) | total (batch 10) |",
        heads.join(" | ")
    );
    let _ = writeln!(out, "|---{}|---|---|", "|---".repeat(heads.len()));
    let row = |out: &mut String, name: &str, s: &Sum| {
        let one = s.cost(1.0);
        let ten: f64 = s.cost(10.0).iter().map(|(_, v)| v).sum();
        let cells: Vec<String> = one.iter().map(|(_, v)| format!("${:.2}", v + 0.0)).collect();
        let total: f64 = one.iter().map(|(_, v)| v).sum();
        let _ = writeln!(
            out,
            "| {name} | {} | **${total:.2}** | **${ten:.2}** |",
            cells.join(" | ")
        );
        total
    };
    for (sc, s) in &sums {
        row(out, sc, s);
    }
    // A resting order costs nothing of its own while it rests: it is one item of the
    // working index every sweep reads. That phase alone, per resting order and sweep.
    let mut resting_per_sweep = None;
    if let Some(p) = run.phases.iter().find(|p| p.name == crate::calls::STILL_RESTING) {
        let s = Sum::of(&[p], orders, &run.sizes);
        let name = format!(
            "a resting order's share of one sweep at {} resting orders (per million)",
            run.orders
        );
        resting_per_sweep = Some(row(out, &name, &s));
    }
    let pass = |name: &str| {
        run.phases
            .iter()
            .find(|p| p.scenario == crate::calls::INTAKE_FIXED && p.name == name)
            .map(|p| Sum::of(&[p], orders, &run.sizes))
    };
    let idle = pass("pass, no sweep");
    let idle_sweep = pass("pass with the sweep, nothing working");
    for (name, s) in [
        ("an intake pass with nothing to do (per million passes)", &idle),
        (
            "an intake pass with the sweep, nothing working (per million passes)",
            &idle_sweep,
        ),
    ] {
        if let Some(s) = s {
            row(out, name, s);
        }
    }
    // The template's schedule: one intake run a minute (60 s timeout), a pass every
    // INTAKE_POLL_SECS = 2 s (at most 30 a minute), the sweep on every
    // INTAKE_STATUS_EVERY = 5th (6 a minute, one per 10 s).
    let minutes_a_month = 30.0 * 24.0 * 60.0;
    let (passes_a_minute, sweeps_a_minute) = (30.0, 6.0);
    if let (Some(idle), Some(idle_sweep)) = (&idle, &idle_sweep) {
        let per_pass = |s: &Sum| s.cost(1.0).iter().map(|(_, v)| v).sum::<f64>() / 1e6;
        let calls = minutes_a_month
            * ((passes_a_minute - sweeps_a_minute) * per_pass(idle) + sweeps_a_minute * per_pass(idle_sweep));
        let lambda =
            minutes_a_month * (Prices::LAMBDA_REQUEST + 60.0 * Prices::LAMBDA_MEMORY_GB * Prices::LAMBDA_GB_SECOND_ARM);
        let _ = writeln!(
            out,
            "\nThe venue intake is a fixed cost of the deployment, not of an order: one run a minute (the template's \
             schedule, 60 s timeout, billed for its whole run since it waits between passes: ${lambda:.2} a month of \
             Lambda at 256 MB arm64), up to {passes_a_minute:.0} passes a minute (`INTAKE_POLL_SECS` 2), every 5th \
             with the sweep (`INTAKE_STATUS_EVERY` 5): ${calls:.2} a month of calls with nothing to do (the two \
             idle-pass rows above; each venue call also takes one request from the budget item, an `UpdateItem` on \
             the orders table, whose stream record invokes publish), ${:.2} a month in all. The per-order rows count \
             the passes that booked or ended their orders, shared by the orders each pass covered.",
            lambda + calls
        );
    }
    if let Some(per_sweep) = resting_per_sweep {
        let sweeps_a_session = 6.5 * 3600.0 / (60.0 / sweeps_a_minute);
        let lifecycle = sums
            .iter()
            .find(|(sc, _)| *sc == crate::calls::RESTING)
            .map(|(_, s)| s.cost(1.0).iter().map(|(_, v)| v).sum::<f64>())
            .unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "\nA resting order makes no venue call and no AWS call of its own while it rests: it is one item of the \
             working index that every sweep reads ({sweeps_a_session:.0} sweeps in a 6.5-hour session at one per \
             10 s). Its share of those sweeps at {} resting orders (the sweep's own calls split between them) is \
             ${:.2} per million orders resting a whole session, against ${lifecycle:.2} for the rest of its \
             lifecycle; with more orders resting, the share falls towards the read units of its own index item.",
            run.orders,
            sweeps_a_session * per_sweep
        );
    }
    out.push('\n');
}

/// The fewest calls a correct design needs for a marketable order, against what we make.
pub(super) fn minimum(out: &mut String, run: &Run) {
    let orders = run.orders as f64;
    let Some(sc) = scenarios(run).into_iter().next() else {
        return;
    };
    // Why each floor: submit must read the account (risk) and write one transaction
    // (order, reservation, audit, idempotency record under attribute_not_exists, the
    // rate bucket as a condition: a replay is told by the failed condition, then read);
    // publish needs a PutEvents per commit (v1 by submit, v2 by execute, v3 by the
    // intake come at three different times) and one SendMessage for the work; execute
    // reads the order and claims it (a transaction with its audit); the intake reads
    // the order and books the fill (one transaction; the account changes by an update
    // expression, no read), its cursor and listing calls shared by the pass's orders;
    // the poller receives and deletes.
    let floors: [(&str, f64, &str); 5] = [
        ("submit", 2.0, "account read + one transaction"),
        ("publish", 4.0, "3 PutEvents (v1, v2, v3) + 1 SendMessage"),
        ("execute", 2.0, "order read + claim"),
        ("intake", 2.0, "order read + fill"),
        ("poller", 2.0, "1 receive + 1 delete"),
    ];
    let phases: Vec<&Phase> = run.phases.iter().filter(|p| p.scenario == sc).collect();
    let _ = writeln!(out, "### How far from the minimum\n");
    let _ = writeln!(
        out,
        "The fewest AWS calls a correct design (claim before send, the audit in the same transaction as every \
         change, one event per version, a queue between the API and the venue) needs for a {sc}, at batch 1, \
         against what the run counted:\n"
    );
    let _ = writeln!(out, "| step | floor | why | measured per order | measured calls |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let (mut floor_total, mut measured_total) = (0.0, 0.0);
    for (step, floor, why) in floors {
        let mut ops: BTreeMap<String, f64> = BTreeMap::new();
        for p in &phases {
            let tally = if step == "poller" {
                &p.poller
            } else if p.invocations.contains_key(step) {
                &p.calls
            } else {
                continue;
            };
            for (op, n) in &tally.calls {
                *ops.entry(op.1.clone()).or_default() += *n as f64 / orders;
            }
        }
        let measured: f64 = ops.values().sum();
        floor_total += floor;
        measured_total += measured;
        let list: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {}", fmt(*n))).collect();
        let _ = writeln!(
            out,
            "| {step} | {} | {why} | {} | {} |",
            fmt(floor),
            fmt(measured),
            list.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "| **total** | **{}** | | **{}** ({:.2}x) | |\n",
        fmt(floor_total),
        fmt(measured_total),
        measured_total / floor_total
    );
    let _ = writeln!(
        out,
        "At batch 10 on both event sources the floor falls to about 7.5 (the poller's calls and the PutEvents are \
         shared by 10 orders). The calls above the floor are the idempotency lookup and the rate-limit update before \
         submit's transaction; execute's locator and working-index puts before the placement, the venue budget's \
         `UpdateItem` for each venue call and its re-read of the order after placing it; the intake's reads of the \
         locator, the account before the fill and its fills on a replay, the working-index removal, and its shares \
         of the passes' cursor, budget and index reads (with the publish invocations the budget items' stream \
         records cause); each of them costs little next to the transactions, whose items bill 2 WRU per KB each. The \
         intake's calls here are the run's passes split over its orders: more orders a pass, less each.\n"
    );
}
