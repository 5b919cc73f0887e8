//! `orders-admin trading-state` and `orders-admin cancel-all` (issue 19): the
//! operators' market access controls from the command line, through the same use
//! cases as the operator routes (`shared::app::controls`, `shared::app::cancel_all`).
//! `cancel-all --all` walks every account (the orders table's account items), one
//! page of orders a call per trader until none remains open: the mass cancel for
//! everyone that the API does per trader.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::aws::DynamoStore;
use shared::adapters::aws::items::{ACCOUNT_SK, PK, SK};
use shared::app::{AuditContext, CancelDeps, ControlsDeps, cancel_all, set_trading_state};
use shared::domain::{TraderId, TradingScope};
use shared::ports::{SystemClock, WorkQueue};

/// Every trader with an account item (the deployment's `@` principals left out).
async fn traders(client: &Client, table: &str) -> anyhow::Result<BTreeSet<TraderId>> {
    let mut out = BTreeSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("#sk = :account")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":account", AttributeValue::S(ACCOUNT_SK.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
            .with_context(|| format!("scanning {table} for accounts"))?;
        for item in page.items() {
            let pk = item.get(PK).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
            if let Some(t) = pk.strip_prefix("TRADER#").filter(|t| !t.starts_with('@')) {
                out.extend(TraderId::parse(t).ok());
            }
        }
        start = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// `trading-state --state S [--trader ID] [--reason R] [--cancel-open-orders]`.
pub async fn trading_state(
    store: &DynamoStore,
    queue: &dyn WorkQueue,
    operator: &str,
    state: &str,
    trader: Option<&str>,
    reason: Option<&str>,
    cancel_open: bool,
) -> anyhow::Result<()> {
    let scope = match trader {
        Some(t) => TradingScope::Trader(TraderId::parse(t)?),
        None => TradingScope::Deployment,
    };
    let body =
        serde_json::json!({"state": state, "reason": reason, "cancel_open_orders": cancel_open && trader.is_some()});
    let body = serde_json::to_vec(&body)?;
    let deps = ControlsDeps {
        cancel: CancelDeps {
            store,
            clock: &SystemClock,
            queue: Some(queue),
        },
        controls: store,
    };
    let reply = set_trading_state(&deps, &TraderId::parse(operator)?, scope, &body, None, None).await?;
    println!(
        "{}: {} -> {} (operator:{operator}, operation {}, audit record {})",
        reply.scope, reply.previous_state, reply.state, reply.operation_id, reply.audit_sequence
    );
    Ok(())
}

/// `cancel-all --trader ID | --all`: every open order of the trader(s), as the
/// operator, until none remains.
pub async fn cancel_everything(
    client: &Client,
    table: &str,
    store: &DynamoStore,
    queue: &dyn WorkQueue,
    operator: &str,
    trader: Option<&str>,
) -> anyhow::Result<()> {
    let targets = match trader {
        Some(t) => BTreeSet::from([TraderId::parse(t)?]),
        None => traders(client, table).await?,
    };
    let deps = CancelDeps {
        store,
        clock: &SystemClock,
        queue: Some(queue),
    };
    let ctx = AuditContext {
        actor: format!("operator:{operator}"),
        ..AuditContext::default()
    };
    let mut total = 0;
    for t in &targets {
        let mut calls = 0;
        loop {
            let page = cancel_all(&deps, t, None, &ctx).await?;
            total += page.orders.len();
            calls += 1;
            if !page.more {
                break;
            }
            if calls > 10_000 {
                bail!("trader {t}: open orders keep coming; halt the trader first");
            }
        }
    }
    println!(
        "asked {total} order(s) of {} trader(s) to cancel (operator:{operator})",
        targets.len()
    );
    Ok(())
}
