//! Operator commands against the stack named by the environment (the same variables
//! the functions get; `make dev` writes them to `.local/stack.env`).
//!
//! ```text
//! orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]...
//! orders-admin account --trader ID
//! orders-admin verify-audit --order ORDER_ID | --all
//! orders-admin redrive
//! orders-admin redrive-stream [--slack-secs N]
//! ```

mod audit;
mod redrive;
mod stream_redrive;

use std::str::FromStr;

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use shared::adapters::aws::{DynamoStore, Resources, sdk_config};
use shared::domain::{OrderId, Symbol, TraderId, verify_chain};
use shared::ports::{AuditLog, OrderStore};

const USAGE: &str = "usage:
  orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]...
  orders-admin account --trader ID
  orders-admin verify-audit --order ORDER_ID | --all   (--all: every order's chain; exit 1 naming each broken record)
  orders-admin redrive        (moves the work DLQ back to the work queue)
  orders-admin redrive-stream [--slack-secs N]   (re-queues and re-announces the orders of discarded stream batches)";

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

    match command.as_str() {
        "seed" => {
            let trader = TraderId::parse(args.one("--trader")?)?;
            let cash = Decimal::from_str(args.one("--cash")?).context("--cash must be a decimal amount")?;
            let account = store.fund_account(&trader, cash, None).await?;
            for spec in args.all("--position") {
                let (symbol, rest) = spec.split_once('=').context("--position is SYMBOL=QTY@COST")?;
                let (qty, cost) = rest.split_once('@').context("--position is SYMBOL=QTY@COST")?;
                let symbol = Symbol::parse(symbol)?;
                store
                    .deposit_position(&trader, &symbol, Decimal::from_str(qty)?, Decimal::from_str(cost)?)
                    .await?;
            }
            println!(
                "account {trader}: cash {} buying power {}",
                account.cash,
                account.buying_power()
            );
        }
        "account" => {
            let trader = TraderId::parse(args.one("--trader")?)?;
            match store.get_account(&trader).await? {
                Some(a) => println!("{a:#?}"),
                None => bail!("no account for {trader}"),
            }
        }
        "verify-audit" if args.0.iter().any(|a| a == "--all") => {
            let summary = audit::verify_all(&aws_sdk_dynamodb_client(&config), &resources.audit_table).await?;
            for broken in &summary.broken {
                println!("BROKEN {broken}");
            }
            println!(
                "verified {} audit records of {} orders: {} broken record(s)",
                summary.records,
                summary.orders,
                summary.broken.len()
            );
            if !summary.broken.is_empty() {
                bail!(
                    "the audit trail has {} broken record(s), listed above",
                    summary.broken.len()
                );
            }
        }
        "verify-audit" => {
            let order = OrderId::parse(args.one("--order")?)?;
            let records = store.records(&order).await?;
            match verify_chain(&records) {
                Ok(()) => println!("order {order}: {} audit records, chain intact", records.len()),
                Err(e) => bail!("order {order}: audit chain broken: {e}"),
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

fn aws_sdk_dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
