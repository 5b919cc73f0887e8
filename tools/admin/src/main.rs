//! Operator commands against the stack named by the environment (the same variables
//! the functions get; `make dev` writes them to `.local/stack.env`).
//!
//! ```text
//! orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]...
//! orders-admin account --trader ID
//! orders-admin verify-audit --order ORDER_ID
//! ```

use std::str::FromStr;

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use shared::adapters::aws::{DynamoStore, Resources, sdk_config};
use shared::domain::{OrderId, Symbol, TraderId, verify_chain};
use shared::ports::{AuditLog, OrderStore};

const USAGE: &str = "usage:
  orders-admin seed --trader ID --cash AMOUNT [--position SYMBOL=QTY@COST]...
  orders-admin account --trader ID
  orders-admin verify-audit --order ORDER_ID";

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
        resources.orders_table,
        resources.audit_table,
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
        "verify-audit" => {
            let order = OrderId::parse(args.one("--order")?)?;
            let records = store.records(&order).await?;
            match verify_chain(&records) {
                Ok(()) => println!("order {order}: {} audit records, chain intact", records.len()),
                Err(e) => bail!("order {order}: audit chain broken: {e}"),
            }
        }
        other => bail!("unknown command {other}\n{USAGE}"),
    }
    Ok(())
}

fn aws_sdk_dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
