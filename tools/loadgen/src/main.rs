//! `orders-load`: traders over HTTP against the local stack (issue 7), the bare-SDK
//! floor, and the soak of `make reliability` (issue 6). Needs the stack's
//! environment (scripts/stack.sh writes it): API_URL, LOCAL_JWT_SECRET_FILE,
//! SIMULATOR_URL, STATUS_EVENTS_TAP_QUEUE_URL, the tables, the AWS endpoint.
//!
//! ```text
//! orders-load run  --traders 1,10,100 --orders 200,1000,10000 [--floor-orders 200,500,1000]
//!                  [--out FILE.md] [--json FILE.json] [--seed N]
//! orders-load soak --traders 100 --duration-secs 300 --venue-error-rate 0.05
//!                  [--settle-secs 300] [--json FILE.json] [--seed N]
//! orders-load live --clients 200 --traders 100 --orders 1000 [--settle-secs 60] [--json FILE.json] [--seed N]
//! ```

mod floor;
mod inproc;
mod level;
mod live;
mod mix;
mod report;
mod rss;
mod run;
mod soak;
mod stats;
mod tap;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, bail};

const USAGE: &str = "usage:
  orders-load run  --traders 1,10,100 --orders 200,1000,10000 [--floor-orders 200,500,1000]
                   [--out FILE.md] [--json FILE.json] [--seed N]
  orders-load soak --traders 100 --duration-secs 300 --venue-error-rate 0.05
                   [--settle-secs 300] [--json FILE.json] [--seed N]
  orders-load live --clients 200 --traders 100 --orders 1000 [--settle-secs 60] [--json FILE.json] [--seed N]";

/// `--name value` pairs.
fn flags(args: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument `{a}`\n{USAGE}"))?;
        let value = it.next().with_context(|| format!("--{name} needs a value\n{USAGE}"))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

fn list(flags: &HashMap<String, String>, name: &str, default: &str) -> anyhow::Result<Vec<usize>> {
    flags
        .get(name)
        .map_or(default, String::as_str)
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .with_context(|| format!("--{name}: `{v}` is not a whole number"))
        })
        .collect()
}

fn number<T: std::str::FromStr>(flags: &HashMap<String, String>, name: &str, default: T) -> anyhow::Result<T> {
    match flags.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("--{name}: `{v}` is not a number")),
    }
}

fn join(values: &[usize]) -> String {
    values.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}")
    };
    if matches!(command.as_str(), "--help" | "-h" | "help") {
        println!("{USAGE}");
        return Ok(());
    }
    let flags = flags(rest)?;
    match command.as_str() {
        "run" => run_levels(&flags).await,
        "soak" => {
            let cfg = soak::SoakConfig {
                traders: number(&flags, "traders", 100)?,
                duration: std::time::Duration::from_secs(number(&flags, "duration-secs", 300)?),
                venue_error_rate: number(&flags, "venue-error-rate", 0.05)?,
                settle: std::time::Duration::from_secs(number(&flags, "settle-secs", 300)?),
                seed: number(&flags, "seed", 8)?,
                json: flags.get("json").cloned(),
            };
            soak::soak(cfg).await
        }
        "live" => {
            live::live(live::LiveConfig {
                clients: number(&flags, "clients", 200)?,
                traders: number(&flags, "traders", 100)?,
                orders: number(&flags, "orders", 1000)?,
                settle: std::time::Duration::from_secs(number(&flags, "settle-secs", 60)?),
                seed: number(&flags, "seed", 11)?,
                json: flags.get("json").cloned(),
            })
            .await
        }
        _ => bail!("unknown command `{command}`\n{USAGE}"),
    }
}

async fn run_levels(flags: &HashMap<String, String>) -> anyhow::Result<()> {
    let traders = list(flags, "traders", "1,10,100")?;
    let orders = list(flags, "orders", "200,1000,10000")?;
    let floor_orders = list(flags, "floor-orders", "200,500,1000")?;
    if orders.len() != traders.len() || floor_orders.len() != traders.len() {
        bail!("--traders, --orders and --floor-orders need one value per level\n{USAGE}");
    }
    let seed = number(flags, "seed", 7)?;
    let stack = Arc::new(e2e::Stack::from_env().await?);
    let r = &stack.resources;
    let floor = Arc::new(floor::Floor::create(&r.orders_table, &r.audit_table, &r.event_bus_name).await?);
    let mut levels = Vec::new();
    for (i, n) in traders.iter().enumerate() {
        let plan = level::LevelPlan {
            traders: *n,
            orders: orders[i],
            floor_orders: floor_orders[i],
            seed: seed + i as u64,
        };
        levels.push(level::measure(&stack, &floor, &plan).await?);
    }
    let command = format!(
        "orders-load run --traders {} --orders {} --floor-orders {}",
        join(&traders),
        join(&orders),
        join(&floor_orders)
    );
    let md = report::markdown(&levels, &command);
    match flags.get("out") {
        Some(path) => std::fs::write(path, &md).with_context(|| format!("writing {path}"))?,
        None => print!("{md}"),
    }
    if let Some(path) = flags.get("json") {
        let json = serde_json::json!({"levels": levels.iter().map(level::Level::to_json).collect::<Vec<_>>()});
        std::fs::write(path, serde_json::to_string_pretty(&json)?).with_context(|| format!("writing {path}"))?;
    }
    // A 500 is a bug; a 503 names a dependency that did not answer in time (on a
    // loaded emulator), and is in the figures, not a failure of the benchmark.
    let bugs: u64 = levels
        .iter()
        .flat_map(|l| l.http.log.server_error_statuses.iter())
        .filter(|(status, _)| **status != 503)
        .map(|(_, n)| n)
        .sum();
    if bugs > 0 {
        bail!("{bugs} answers were 5xx other than 503 (see above)");
    }
    Ok(())
}
