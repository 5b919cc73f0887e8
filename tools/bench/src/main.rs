//! `orders-bench`: the in-process parts of `make bench` (issue 7).
//!
//! - `orders-bench calls --out FILE.md [--orders N]`: AWS calls per order lifecycle,
//!   counted by an SDK interceptor, and their cost (needs the stack's environment).
//! - `orders-bench coldstart --functions DIR --out FILE.md [--spawns N] [--invocations N]`:
//!   init time and peak RSS of each release function under a local Lambda runtime API.

mod calls;
mod coldstart;
mod counter;
mod private;
mod report;
mod runtime_api;
mod units;

use std::path::PathBuf;

use anyhow::{Context, bail};

const USAGE: &str = "usage: orders-bench calls --out FILE.md [--orders N]\n       \
                     orders-bench coldstart --functions DIR --out FILE.md [--spawns N] [--invocations N] [--sizes FILE]";

/// `--name value` pairs after the command.
fn options(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let Some(name) = name.strip_prefix("--") else {
            bail!("unexpected argument `{name}`\n{USAGE}")
        };
        let value = it.next().with_context(|| format!("--{name} needs a value\n{USAGE}"))?;
        out.push((name.to_owned(), value.clone()));
    }
    Ok(out)
}

fn get<'a>(opts: &'a [(String, String)], name: &str) -> Option<&'a str> {
    opts.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn number(opts: &[(String, String)], name: &str, default: usize) -> anyhow::Result<usize> {
    match get(opts, name) {
        Some(v) => v
            .parse()
            .with_context(|| format!("--{name}: `{v}` is not a whole number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}")
    };
    let opts = options(rest)?;
    let out = PathBuf::from(get(&opts, "out").with_context(|| format!("--out is required\n{USAGE}"))?);
    let markdown = match command.as_str() {
        "calls" => {
            let orders = number(&opts, "orders", 20)?;
            anyhow::ensure!(orders > 0, "--orders must be at least 1");
            report::markdown(&calls::run(orders).await?)
        }
        "coldstart" => {
            let dir =
                PathBuf::from(get(&opts, "functions").with_context(|| format!("--functions is required\n{USAGE}"))?);
            let settings = coldstart::Settings {
                functions: dir,
                spawns: number(&opts, "spawns", 20)?,
                invocations: number(&opts, "invocations", 2000)?,
                sizes: get(&opts, "sizes").map(PathBuf::from),
            };
            coldstart::run(&settings).await?
        }
        other => bail!("unknown command `{other}`\n{USAGE}"),
    };
    std::fs::write(&out, markdown).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("orders-bench {command}: wrote {}", out.display());
    Ok(())
}

/// Warnings and errors of the use cases on stderr (`RUST_LOG` overrides): they say
/// why a phase failed; the use cases log every order at info.
fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
