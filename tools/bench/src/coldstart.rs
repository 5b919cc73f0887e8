//! `orders-bench coldstart`: each function's release binary under the local runtime
//! API (`runtime_api`): init time from process spawn to its first poll for work
//! (many spawns), then one long-lived process per function fed a stream of real
//! invocations against the live emulator (on private copies of the tables and
//! queue), and its peak RSS (`VmHWM`) at the end. Binary sizes come from the file
//! `scripts/bench.sh` writes after the two `cargo lambda build`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shared::adapters::aws::sdk_config;
use tokio::process::{Child, Command};

use crate::private::Private;
use crate::runtime_api::RuntimeApi;

mod load;

pub struct Settings {
    pub functions: PathBuf,
    pub spawns: usize,
    pub invocations: usize,
    pub sizes: Option<PathBuf>,
}

const FUNCTIONS: [&str; 5] = ["submit", "cancel", "query", "execute", "publish"];
const INIT_TARGET_MS: f64 = 30.0;
const RSS_TARGET_MB: f64 = 64.0;
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// What the function sees in Lambda: the runtime's variables and the template's.
fn function_env(function: &str, api: &RuntimeApi, private: &Private) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api.addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", format!("bench-{function}")),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/bench-{function}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("ORDERS_TABLE", private.orders_table.clone()),
        ("AUDIT_TABLE", private.audit_table.clone()),
        ("WORK_QUEUE_URL", private.queue_url.clone()),
        ("EVENT_BUS_NAME", private.event_bus.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Credentials, region, endpoint, venue, prices, timeouts: from the stack env.
    for (k, v) in std::env::vars() {
        let passed = k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA")
            || k.starts_with("VENUE_")
            || matches!(
                k.as_str(),
                "PATH" | "REFERENCE_PRICES" | "MARKET_COLLAR" | "RECHECK_DELAY_SECS" | "RUST_LOG"
            );
        if passed {
            env.push((k, v));
        }
    }
    if std::env::var("VENUE_BASE_URL").is_err() {
        if let Ok(sim) = std::env::var("SIMULATOR_URL") {
            env.push(("VENUE_BASE_URL".into(), sim));
        }
    }
    for var in ["VENUE_API_KEY_ID", "VENUE_API_SECRET_KEY"] {
        if std::env::var(var).is_err() {
            env.push((var.into(), "local".into()));
        }
    }
    env
}

fn spawn(binary: &Path, env: Vec<(String, String)>) -> anyhow::Result<Child> {
    Command::new(binary)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))
}

async fn stop(mut child: Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Peak resident set size in MiB (`VmHWM` of /proc/PID/status).
fn peak_rss_mb(child: &Child) -> anyhow::Result<f64> {
    let pid = child.id().context("the function exited before its RSS was read")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")?;
    Ok(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Spawn → first poll, `spawns` times, in milliseconds, sorted.
async fn init_times(binary: &Path, function: &str, private: &Private, spawns: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..spawns {
        let api = RuntimeApi::start(function).await?;
        let start = Instant::now();
        let child = spawn(binary, function_env(function, &api, private))?;
        let polled = api.first_poll(Duration::from_secs(20)).await;
        stop(child).await;
        out.push(
            polled
                .with_context(|| format!("{function}: no first poll"))?
                .duration_since(start)
                .as_secs_f64()
                * 1000.0,
        );
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// `arch function bytes` lines, as bench.sh writes them.
fn read_sizes(path: &Path) -> anyhow::Result<BTreeMap<(String, String), u64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [arch, function, bytes] = parts[..] else {
            bail!("{}: `{line}` is not `arch function bytes`", path.display())
        };
        out.insert((arch.to_owned(), function.to_owned()), bytes.parse()?);
    }
    Ok(out)
}

fn mib(bytes: Option<&u64>) -> String {
    bytes.map_or("not built".into(), |b| format!("{:.1} MiB", *b as f64 / 1_048_576.0))
}

pub async fn run(s: &Settings) -> anyhow::Result<String> {
    for f in FUNCTIONS {
        let b = s.functions.join(f).join("bootstrap");
        anyhow::ensure!(
            b.is_file(),
            "{} is missing (cargo lambda build --release first)",
            b.display()
        );
    }
    let sizes = match &s.sizes {
        Some(p) => read_sizes(p)?,
        None => BTreeMap::new(),
    };
    let sdk = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let source = |v: &str| std::env::var(v).with_context(|| format!("environment variable {v} is not set (stack env)"));
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let private = Private::create(
        &ddb,
        &sqs,
        &events,
        &source("ORDERS_TABLE")?,
        &source("AUDIT_TABLE")?,
        &suffix,
    )
    .await?;
    let result = measure(s, &private).await;
    private.delete(&ddb, &sqs, &events).await;
    let (inits, load) = result?;
    Ok(markdown(s, &sizes, &inits, &load))
}

type Inits = BTreeMap<&'static str, Vec<f64>>;
type Loads = BTreeMap<&'static str, (usize, usize, f64)>;

async fn measure(s: &Settings, private: &Private) -> anyhow::Result<(Inits, Loads)> {
    let mut inits = BTreeMap::new();
    for f in FUNCTIONS {
        inits.insert(
            f,
            init_times(&s.functions.join(f).join("bootstrap"), f, private, s.spawns).await?,
        );
    }
    let load = load::under_load(&s.functions, private, s.invocations).await?;
    Ok((inits, load))
}

fn markdown(s: &Settings, sizes: &BTreeMap<(String, String), u64>, inits: &Inits, load: &Loads) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "## Cold start and footprint\n");
    let _ = writeln!(
        out,
        "Release binaries (`cargo lambda build --release`, stripped `bootstrap`) for arm64 (what the template deploys) \
         and x86-64 (what runs here). Init = process spawn to its first `GET /2018-06-01/runtime/invocation/next` on a \
         local runtime API (`tools/bench/src/runtime_api.rs`), p50/p99 over {} spawns of the x86-64 binary with the \
         function's environment (SDK config loaded, clients built, as in each `main.rs`). Peak RSS = `VmHWM` of one \
         process per function after it served the load: {} submits, the stream records they and the cancels made \
         (publish, batches of up to 100), the work they queued (execute, batches of 10, at the venue simulator), {} \
         cancels, {} queries (get order, list orders, account), all against the live emulator. Targets: init under \
         {INIT_TARGET_MS} ms, peak RSS under {RSS_TARGET_MB} MB.\n",
        s.spawns, s.invocations, s.invocations, s.invocations
    );
    let _ = writeln!(
        out,
        "| function | size arm64 | size x86-64 | init p50 | init p99 | invocations served (failed) | peak RSS | targets |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut misses = Vec::new();
    let mut slow_tails = Vec::new();
    for f in FUNCTIONS {
        let times = inits.get(f).cloned().unwrap_or_default();
        let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
        let (ok, failed, rss) = load.get(f).copied().unwrap_or((0, 0, f64::NAN));
        // The target is judged on the median; a p99 over it is named below.
        let met = p50 < INIT_TARGET_MS && rss < RSS_TARGET_MB;
        if p50 >= INIT_TARGET_MS {
            misses.push(format!("{f} init p50 {p50:.1} ms"));
        } else if p99 >= INIT_TARGET_MS {
            slow_tails.push(format!("{f} {p99:.1} ms"));
        }
        if rss >= RSS_TARGET_MB {
            misses.push(format!("{f} peak RSS {rss:.1} MiB"));
        }
        let _ = writeln!(
            out,
            "| {f} | {} | {} | {p50:.1} ms | {p99:.1} ms | {ok} ({failed}) | {rss:.1} MiB | {} |",
            mib(sizes.get(&("arm64".to_owned(), f.to_owned()))),
            mib(sizes.get(&("x86-64".to_owned(), f.to_owned()))),
            if met { "met" } else { "**missed**" }
        );
    }
    out.push('\n');
    if misses.is_empty() {
        let _ = writeln!(
            out,
            "Every function meets both targets at the median. Init = exec and dynamic loading of the binary, the \
             tracing setup, the typed config, `aws_config` loading (it reads the environment; credentials are \
             resolved at the first call, not here) and the clients built; a Lambda sandbox adds its own start (its \
             `Init Duration` also covers fetching the code package)."
        );
    } else {
        let _ = writeln!(out, "Missed: {}.", misses.join(", "));
    }
    if !slow_tails.is_empty() {
        let _ = writeln!(
            out,
            "Over the init target at p99 only: {}. These are the slowest of {} spawns on a machine whose 2 cores \
             are shared with builds, the emulator and other benchmarks while they run; the p50 is the typical start.",
            slow_tails.join(", "),
            s.spawns
        );
    }
    out.push('\n');
    out
}
