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
    /// What the orders table's indexes billed for this phase's writes, by index:
    /// (WRU, index writes), from the stream's old and new images.
    pub index: BTreeMap<String, (f64, f64)>,
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
            index: BTreeMap::new(),
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
    let mut phases: Vec<&Phase> = run.phases.iter().filter(|p| p.scenario == scenario).collect();
    // The index writes follow from every other phase's writes: last.
    phases.sort_by_key(|p| p.name == crate::calls::INDEX_WRITES);
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

/// Where a scenario's write units go: per order, by item kind, inside transactions
/// (every item billed twice) and alone.
fn write_units_table(out: &mut String, run: &Run, scenario: &str) {
    let orders = run.orders as f64;
    let mut by: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for p in run.phases.iter().filter(|p| p.scenario == scenario) {
        // Shared like the phase's other figures (`Sum::of`): a sweep while orders rest
        // per resting order and sweep; everything else per order.
        let per = if p.name == crate::calls::STILL_RESTING {
            orders * p.invocations.get("intake").copied().unwrap_or(1).max(1) as f64
        } else {
            orders
        };
        for ((kind, txn), (wru, items)) in crate::units::write_units_by_item(&p.calls.captured, &run.sizes) {
            let row = by.entry(kind).or_default();
            let at = if txn { 0 } else { 2 };
            row[at] += items / per;
            row[at + 1] += wru / per;
        }
        for (index, (wru, writes)) in &p.index {
            let row = by.entry(format!("index {index} (of the orders table)")).or_default();
            row[2] += writes / per;
            row[3] += wru / per;
        }
    }
    if by.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Where its write units go (per order, by item; a transaction bills 2 WRU per KB of every item in it; an index \
         bills 1 WRU per KB of each entry it writes, two writes when an item's index key changes):\n"
    );
    let _ = writeln!(
        out,
        "| item | items in transactions | their WRU | items written alone | their WRU | WRU |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut total = [0.0; 4];
    let mut rows: Vec<(String, [f64; 4])> = by.into_iter().collect();
    rows.sort_by(|a, b| (b.1[1] + b.1[3]).total_cmp(&(a.1[1] + a.1[3])));
    for (kind, r) in &rows {
        for i in 0..4 {
            total[i] += r[i];
        }
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} |",
            fmt(r[0]),
            fmt(r[1]),
            fmt(r[2]),
            fmt(r[3]),
            fmt(r[1] + r[3])
        );
    }
    let _ = writeln!(
        out,
        "| **all** | {} | {} | {} | {} | **{}** |\n",
        fmt(total[0]),
        fmt(total[1]),
        fmt(total[2]),
        fmt(total[3]),
        fmt(total[1] + total[3])
    );
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
         carry (updated items sized after the run, an upper bound), plus what the orders table's global secondary \
         indexes bill for the same writes (worked out from the stream's old and new images of every write: an entry \
         put or removed is one index write, a changed index key two; the row \"the orders table's index writes\"); \
         events = EventBridge entries. The publish phase runs after the fast path's message was taken, as it does \
         deployed (SQS hands a message over in milliseconds; Lambda polls the stream about four times a second).\n"
    );
    for sc in scenarios(run) {
        let _ = writeln!(out, "### {sc}\n");
        calls_table(&mut out, run, sc);
        write_units_table(&mut out, run, sc);
    }
    let _ = writeln!(out, "### Prices\n\n{PRICE_TABLE}");
    cost_table(&mut out, run);
    minimum(&mut out, run);
    out
}
