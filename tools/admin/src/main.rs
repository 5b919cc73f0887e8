// Long because: one match arm per operator command and its usage text; the work of each lives in its module.
//! Operator commands against the stack named by the environment (the same variables
//! the functions get; `make dev` writes them to `.local/stack.env`).
//!
//! ```text
//! orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]... [--operator NAME] [--operation-id ID]
//! orders-admin account --trader ID
//! orders-admin verify-audit --order ORDER_ID [--trader ID] | --all
//!                            [--archive-bucket NAME | --no-archive] [--archive-grace-secs N]
//! orders-admin audit-digest --day YYYY-MM-DD [--archive-bucket NAME]
//! orders-admin redrive
//! orders-admin redrive-stream [--slack-secs N]
//! orders-admin trading-state --state active|reducing|halted [--trader ID] [--reason R] [--cancel-open-orders] [--operator NAME]
//! orders-admin cancel-all --trader ID | --all [--operator NAME]
//! ```
//!
//! `seed` is an operator change: each funding and each position deposit is recorded
//! in the account's audit chain with the operator's identity (`--operator`, else
//! `$USER`, else `operator`), in the same transaction as the change. Each change has
//! an operation id (`--operation-id` to set it): run again with the same id, the
//! command changes nothing that was already applied.
//!
//! `verify-audit` also compares the audit table with its write-once copy (the bucket
//! `--archive-bucket`, else `AUDIT_ARCHIVE_BUCKET_NAME`, the stack output) and each
//! day's digest there (`archive`); `--no-archive` checks the table alone. Records
//! younger than `--archive-grace-secs` (default 60) may still be on their way to the
//! copy. `audit-digest` writes a day's digest by hand (the archive function's daily
//! schedule does it at 00:15 UTC), once.

mod archive;
mod audit;
mod controls;
mod limits;
mod redrive;
mod stream_redrive;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use shared::adapters::aws::{DynamoStore, Resources, S3WriteOnce, sdk_config};
use shared::domain::{OrderId, Symbol, TraderId};
use shared::ports::{AccountAdmin, AuditLog, OperatorAction, OrderStore};

const USAGE: &str = "usage:
  orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]... [--operator NAME] [--operation-id ID]
                              (audited as operator:NAME, default $USER; the same operation id applies once)
  orders-admin account --trader ID
  orders-admin limits --trader ID [--max-order-notional X] [--max-open-orders N] [--daily-loss-limit X]
                      [--orders-per-minute N] [--duplicate-window-secs N] [--restricted-symbols SYM,SYM]
                      [--max-notional-per-minute X] [--operator NAME]
                              (changes the limits given, keeps the rest; audited as operator:NAME)
  orders-admin verify-audit --order ORDER_ID [--trader ID] | --all
                            [--archive-bucket NAME | --no-archive] [--archive-grace-secs N]
                              (--all: every order, chain and account, and the write-once copy with its
                              digests; exit 1 naming each finding)
  orders-admin audit-digest --day YYYY-MM-DD [--archive-bucket NAME]
                              (writes the day's digest into the write-once copy, once)
  orders-admin redrive        (moves the work DLQ back to the work queue)
  orders-admin redrive-stream [--slack-secs N]   (re-queues and re-announces the orders of discarded stream batches)
  orders-admin trading-state --state active|reducing|halted [--trader ID] [--reason R] [--cancel-open-orders] [--operator NAME]
                              (the deployment's state without --trader; audited as operator:NAME)
  orders-admin cancel-all --trader ID | --all [--operator NAME]   (every open order of one or every trader)";

struct Args(Vec<String>);

impl Args {
    fn one(&self, flag: &str) -> anyhow::Result<&str> {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
            .with_context(|| format!("missing {flag}\n{USAGE}"))
    }

    fn opt(&self, flag: &str) -> Option<&str> {
        self.one(flag).ok()
    }

    fn all(&self, flag: &str) -> Vec<&str> {
        self.0
            .windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = argv.first().cloned() else {
        bail!("{USAGE}")
    };
    let args = Args(argv);
    let resources = Resources::from_env()?;
    let config = sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb_client(&config),
        resources.orders_table.clone(),
        resources.audit_table.clone(),
    );
    // The operator's cancels take the fast path too (the outbox backs it up).
    let work_queue =
        shared::adapters::aws::SqsQueue::new(aws_sdk_sqs::Client::new(&config), resources.work_queue_url.clone());

    match command.as_str() {
        "seed" => {
            let trader = TraderId::parse(args.one("--trader")?)?;
            let cash = Decimal::from_str(args.one("--cash")?).context("--cash must be a decimal amount")?;
            if cash.is_sign_negative() {
                bail!("--cash must be zero or more (it is added to the account), not {cash}");
            }
            let positions = args
                .all("--position")
                .into_iter()
                .map(parse_position)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let name = operator_name(args.opt("--operator"))?;
            // One operation id per change: `<id>` for the funding, `<id>/<symbol>` for a
            // deposit, so a re-run with the same id repeats none of them.
            let operation = args
                .opt("--operation-id")
                .map_or_else(|| OperatorAction::new(&name).operation_id, str::to_owned);
            let account = store
                .fund(&trader, cash, None, &OperatorAction::with_id(&name, operation.clone()))
                .await?;
            for (symbol, qty, cost) in &positions {
                let by = OperatorAction::with_id(&name, format!("{operation}/{symbol}"));
                store.deposit(&trader, symbol, *qty, *cost, &by).await?;
            }
            println!(
                "account {trader}: cash {} buying power {} (operator:{name}, operation {operation})",
                account.cash,
                account.buying_power()
            );
        }
        "limits" => {
            let trader = TraderId::parse(args.one("--trader")?)?;
            let name = operator_name(args.opt("--operator"))?;
            let Some(account) = store.get_account(&trader).await? else {
                bail!("no account for {trader}: seed it first");
            };
            let given: Vec<(&str, &str)> = limits::FLAGS
                .iter()
                .filter_map(|f| args.opt(f).map(|v| (*f, v)))
                .collect();
            let new = limits::apply(account.limits, &given)?;
            let account = store
                .fund(&trader, Decimal::ZERO, Some(new), &OperatorAction::new(&name))
                .await?;
            println!("{}", serde_json::to_string_pretty(&account.limits)?);
        }
        "trading-state" => {
            let name = operator_name(args.opt("--operator"))?;
            let cancel_open = args.0.iter().any(|a| a == "--cancel-open-orders");
            controls::trading_state(
                &store,
                &work_queue,
                &name,
                args.one("--state")?,
                args.opt("--trader"),
                args.opt("--reason"),
                cancel_open,
            )
            .await?;
        }
        "cancel-all" => {
            let name = operator_name(args.opt("--operator"))?;
            let trader = args.opt("--trader");
            if trader.is_none() && !args.0.iter().any(|a| a == "--all") {
                bail!("cancel-all needs --trader ID or --all\n{USAGE}");
            }
            controls::cancel_everything(
                &aws_sdk_dynamodb_client(&config),
                &resources.orders_table,
                &store,
                &work_queue,
                &name,
                trader,
            )
            .await?;
        }
        "account" => {
            let trader = TraderId::parse(args.one("--trader")?)?;
            match store.get_account(&trader).await? {
                Some(a) => println!("{a:#?}"),
                None => bail!("no account for {trader}"),
            }
        }
        "audit-digest" => {
            let Some(copy) = write_once_copy(&args, &config)? else {
                bail!("audit-digest writes into the write-once copy: --no-archive makes no sense here");
            };
            archive::write_day_digest(&copy, args.one("--day")?).await?;
        }
        "verify-audit" if args.0.iter().any(|a| a == "--all") => {
            let copy = write_once_copy(&args, &config)?;
            let summary = audit::verify_all(
                &aws_sdk_dynamodb_client(&config),
                &store,
                &resources.orders_table,
                &resources.audit_table,
            )
            .await?;
            for broken in &summary.broken {
                println!("BROKEN {broken}");
            }
            println!(
                "verified {} audit records: {} orders, {} accounts, {} refused submits; {} finding(s)",
                summary.records,
                summary.orders,
                summary.accounts,
                summary.refused,
                summary.broken.len()
            );
            let mut findings = summary.broken.len();
            if let Some(copy) = &copy {
                let check = archive::check_all(
                    copy,
                    &aws_sdk_dynamodb_client(&config),
                    &resources.audit_table,
                    archive_grace(&args)?,
                )
                .await?;
                for finding in &check.findings {
                    println!("BROKEN {finding}");
                }
                println!(
                    "write-once copy {}: {} table records against {} locked copies and {} daily digest(s); {} finding(s)",
                    copy.name(),
                    check.table_records,
                    check.archived,
                    check.digests,
                    check.findings.len()
                );
                findings += check.findings.len();
            }
            if findings > 0 {
                bail!("the audit trail has {findings} finding(s), listed above");
            }
        }
        "verify-audit" => {
            let id = OrderId::parse(args.one("--order")?)?;
            let records = store.records(&id).await?;
            let trader = match (args.opt("--trader"), records.first()) {
                (Some(t), _) => TraderId::parse(t)?,
                (None, Some(r)) => r.trader_id.clone(),
                (None, None) => bail!(
                    "order {id}: no audit records (if the order exists this is a finding; \
                     pass --trader ID to look the order up)"
                ),
            };
            let copy = write_once_copy(&args, &config)?;
            let (order, records, found) = audit::fresh_order_check(&store, &trader, &id).await?;
            let mut findings = found.len();
            for broken in &found {
                println!("BROKEN {broken}");
            }
            if let Some(copy) = &copy {
                let times: Vec<_> = order.iter().flat_map(|o| [o.created_at, o.updated_at]).collect();
                let check = archive::check_chain(
                    copy,
                    &aws_sdk_dynamodb_client(&config),
                    &resources.audit_table,
                    &format!("ORDER#{id}"),
                    &times,
                    archive_grace(&args)?,
                )
                .await?;
                for finding in &check.findings {
                    println!("BROKEN {finding}");
                }
                println!(
                    "order {id}: {} locked copies in {} checked against {} table records; {} finding(s)",
                    check.archived,
                    copy.name(),
                    check.table_records,
                    check.findings.len()
                );
                findings += check.findings.len();
            }
            if findings > 0 {
                bail!("order {id}: {findings} finding(s), listed above");
            }
            match order {
                Some(o) => println!(
                    "order {id}: {} audit records, chain intact and anchored to the order at version {}",
                    records.len(),
                    o.version
                ),
                None => println!("order {id}: a refused submit's record, intact (no order by design)"),
            }
        }
        "redrive" => {
            let sqs = aws_sdk_sqs::Client::new(&config);
            let dlq = redrive::dead_letter_queue(&sqs, &resources.work_queue_url).await?;
            let moved = redrive::redrive(&sqs, &dlq, &resources.work_queue_url).await?;
            for m in &moved {
                println!("moved {}: {}", m.message_id, m.summary);
            }
            println!(
                "{} message(s) moved from {dlq} to {}",
                moved.len(),
                resources.work_queue_url
            );
        }
        "redrive-stream" => {
            let slack = match args.0.iter().position(|a| a == "--slack-secs") {
                Some(_) => args
                    .one("--slack-secs")?
                    .parse::<u64>()
                    .context("--slack-secs must be whole seconds")?,
                None => 120,
            };
            let failure_queue_url = std::env::var("PUBLISH_FAILURE_QUEUE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .with_context(|| {
                    format!("PUBLISH_FAILURE_QUEUE_URL is not set (the stack output PublishFailureQueueUrl)\n{USAGE}")
                })?;
            let events = shared::adapters::aws::EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(&config),
                resources.event_bus_name.clone(),
            );
            let queue = shared::adapters::aws::SqsQueue::new(
                aws_sdk_sqs::Client::new(&config),
                resources.work_queue_url.clone(),
            );
            let report = stream_redrive::Redrive {
                sqs: &aws_sdk_sqs::Client::new(&config),
                dynamodb: &aws_sdk_dynamodb_client(&config),
                orders_table: &resources.orders_table,
                failure_queue_url: &failure_queue_url,
                events: &events,
                queue: &queue,
                audit: &store,
                slack: std::time::Duration::from_secs(slack),
            }
            .run()
            .await?;
            stream_redrive::print(&report)?;
        }
        other => bail!("unknown command {other}\n{USAGE}"),
    }
    Ok(())
}

/// The operator recorded with a change: `--operator`, else `$USER`, else `operator`.
fn operator_name(flag: Option<&str>) -> anyhow::Result<String> {
    let name = match flag {
        Some(n) => n.to_owned(),
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "operator".into()),
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        bail!("--operator must be 1 to 64 letters, digits or - _ . @ (got {name:?})");
    }
    Ok(name)
}

/// `SYMBOL=QTY@COST`: a positive quantity at a cost of zero or more.
fn parse_position(spec: &str) -> anyhow::Result<(Symbol, Decimal, Decimal)> {
    let shape = || format!("--position {spec:?} is not SYMBOL=QTY@COST (e.g. AAPL=10@150)");
    let (symbol, rest) = spec.split_once('=').with_context(shape)?;
    let (qty, cost) = rest.split_once('@').with_context(shape)?;
    let symbol = Symbol::parse(symbol).with_context(|| format!("--position {spec:?}: bad symbol"))?;
    let qty = Decimal::from_str(qty).with_context(|| format!("--position {spec:?}: QTY must be a decimal"))?;
    let cost = Decimal::from_str(cost).with_context(|| format!("--position {spec:?}: COST must be a decimal"))?;
    if qty <= Decimal::ZERO {
        bail!("--position {spec:?}: QTY must be more than 0");
    }
    if cost.is_sign_negative() {
        bail!("--position {spec:?}: COST must be zero or more");
    }
    Ok((symbol, qty, cost))
}

fn aws_sdk_dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The write-once copy `verify-audit` and `audit-digest` read (`archive::copy_named`).
fn write_once_copy(args: &Args, config: &aws_config::SdkConfig) -> anyhow::Result<Option<S3WriteOnce>> {
    let no_archive = args.0.iter().any(|a| a == "--no-archive");
    archive::copy_named(args.opt("--archive-bucket"), no_archive, config)
}

fn archive_grace(args: &Args) -> anyhow::Result<Duration> {
    archive::grace(args.opt("--archive-grace-secs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_parsed_or_refused_with_a_reason() {
        let (s, q, c) = parse_position("AAPL=10@150.5").unwrap();
        assert_eq!(
            (s.as_str(), q, c),
            ("AAPL", Decimal::from(10), Decimal::from_str("150.5").unwrap())
        );
        for (spec, why) in [
            ("AAPL10@150", "is not SYMBOL=QTY@COST"),
            ("AAPL=10", "is not SYMBOL=QTY@COST"),
            ("AAPL=0@150", "QTY must be more than 0"),
            ("AAPL=-1@150", "QTY must be more than 0"),
            ("AAPL=1@-2", "COST must be zero or more"),
            ("AAPL=x@2", "QTY must be a decimal"),
        ] {
            let e = format!("{:#}", parse_position(spec).unwrap_err());
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn the_operator_is_named_and_checked() {
        assert_eq!(operator_name(Some("jane.doe")).unwrap(), "jane.doe");
        assert!(operator_name(Some("a b")).is_err());
        assert!(operator_name(Some("")).is_err());
        assert!(!operator_name(None).unwrap().is_empty());
    }
}
