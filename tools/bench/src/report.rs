//! The `calls` part of BENCHMARKS.md: calls per order by phase (as the interceptor
//! counted them), the list prices with their date, the cost per million orders, and
//! how far the design is from the fewest calls a correct design needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::counter::{Op, Tally};
use crate::units::ItemRef;

mod cost;

use cost::{PRICE_TABLE, Sum, cost_table, minimum};

/// One phase of one scenario, summed over the scenario's orders.
pub struct Phase {
    pub scenario: &'static str,
    pub name: &'static str,
    /// The functions' calls (DynamoDB, SQS, EventBridge).
    pub calls: Tally,
    /// The SQS event source mapping's calls for the messages of this phase.
    pub poller: Tally,
    pub idle_receives: u64,
    pub invocations: BTreeMap<&'static str, u64>,
    pub millis: BTreeMap<&'static str, f64>,
}

impl Phase {
    pub fn new(scenario: &'static str, name: &'static str) -> Self {
        Self {
            scenario,
            name,
            calls: Tally::default(),
            poller: Tally::default(),
            idle_receives: 0,
            invocations: BTreeMap::new(),
            millis: BTreeMap::new(),
        }
    }
}

pub struct Run {
    pub orders: usize,
    pub phases: Vec<Phase>,
    pub sizes: HashMap<ItemRef, usize>,
}

fn fmt(x: f64) -> String {
    if x == 0.0 {
        "·".into()
    } else if (x - x.round()).abs() < 0.005 {
        format!("{}", x.round())
    } else {
        format!("{x:.2}")
    }
}

fn label(op: &Op) -> String {
    format!("{} {}", op.0, op.1)
}

fn scenarios(run: &Run) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for p in &run.phases {
        if !out.contains(&p.scenario) {
            out.push(p.scenario);
        }
    }
    out
}

fn calls_table(out: &mut String, run: &Run, scenario: &str) {
    let orders = run.orders as f64;
    let phases: Vec<&Phase> = run.phases.iter().filter(|p| p.scenario == scenario).collect();
    let mut ops: BTreeSet<Op> = BTreeSet::new();
    let mut poller_ops: BTreeSet<Op> = BTreeSet::new();
    for p in &phases {
        ops.extend(p.calls.calls.keys().cloned());
        poller_ops.extend(p.poller.calls.keys().cloned());
    }
    let per = if scenario == crate::calls::INTAKE_FIXED {
        "per pass"
    } else {
        "per order"
    };
    let _ = write!(out, "| phase ({per}) |");
    for op in &ops {
        let _ = write!(out, " {} |", label(op));
    }
    for op in &poller_ops {
        let _ = write!(out, " poller {} |", op.1);
    }
    let _ = writeln!(
        out,
        " calls | DynamoDB WRU | DynamoDB RRU | events | Lambda invocations |"
    );
    let _ = writeln!(out, "|---{}|", "|---".repeat(ops.len() + poller_ops.len() + 5));
    let mut rows: Vec<(String, Sum)> = phases
        .iter()
        .map(|p| (p.name.to_owned(), Sum::of(&[p], orders, &run.sizes)))
        .collect();
    rows.push(("**whole lifecycle**".into(), Sum::of(&phases, orders, &run.sizes)));
    for (name, s) in rows {
        let _ = write!(out, "| {name} |");
        for op in &ops {
            let c = s.calls.get(op).copied().unwrap_or(0.0);
            let a = s.attempts.get(op).copied().unwrap_or(0.0);
            if (a - c).abs() > 1e-9 {
                let _ = write!(out, " {} ({} attempts) |", fmt(c), fmt(a));
            } else {
                let _ = write!(out, " {} |", fmt(c));
            }
        }
        for op in &poller_ops {
            let _ = write!(out, " {} |", fmt(s.poller.get(op).copied().unwrap_or(0.0)));
        }
        let invocations: Vec<String> = s.invocations.iter().map(|(f, n)| format!("{} {f}", fmt(*n))).collect();
        let _ = writeln!(
            out,
            " {} | {} | {} | {} | {} |",
            fmt(s.function_calls() + s.poller_calls()),
            fmt(s.units.wru),
            fmt(s.units.rru),
            fmt(s.units.events),
            invocations.join(", ")
        );
    }
    out.push('\n');
}

pub fn markdown(run: &Run) -> String {
    let mut out = String::new();
    let n = run.orders;
    let _ = writeln!(out, "## AWS calls per order lifecycle\n");
    let _ = writeln!(
        out,
        "Counted by an SDK interceptor (`tools/bench/src/counter.rs`: service and operation from the config bag's \
         `Metadata`, one call per operation, one attempt per try on the wire) on the DynamoDB, SQS and EventBridge \
         clients, while `orders-bench calls` drives the real handlers (`functions/*/src/lib.rs`) in process on the real \
         AWS adapters against the local emulator, with the Alpaca adapter on the venue simulator. {n} orders per \
         scenario, on private copies of the tables and queue; figures are per order (totals / {n}). The stream feeding \
         `publish` is read as Lambda reads it, through an uncounted client: a Lambda trigger's stream reads are not \
         billed. \"poller\" columns are the SQS event source mapping's own calls (ReceiveMessage, DeleteMessageBatch), \
         measured here at batch 1 (one message per receive); at batch 10 they are shared by 10 messages. Empty long \
         polls are left out of the per-order figures (they are a fixed cost: Lambda keeps 5 pollers long-polling 20 s \
         each, about 0.65 M receives a month, $0.26, with no traffic). A different number of attempts than calls \
         would show as \"n (m attempts)\". Units: WRU/RRU computed from the item sizes the requests and responses \
         carry (updated items sized after the run, an upper bound); events = EventBridge entries.\n"
    );
    for sc in scenarios(run) {
        let _ = writeln!(out, "### {sc}\n");
        calls_table(&mut out, run, sc);
    }
    let _ = writeln!(out, "### Prices\n\n{PRICE_TABLE}");
    cost_table(&mut out, run);
    minimum(&mut out, run);
    out
}
