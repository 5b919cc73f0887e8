//! The three order lifecycles `orders-bench calls` drives, phase by phase.

use anyhow::ensure;
use serde_json::{Value, json};
use shared::domain::OrderStatus;

use super::Bench;

fn limit_buy(symbol: &str, price: &str) -> Value {
    json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": "1", "limit_price": price, "time_in_force": "day"})
}

pub const MARKETABLE: &str = "marketable limit order, filled at once";
pub const RESTING: &str = "resting limit order, filled on a re-check";
pub const CANCELLED: &str = "resting limit order, cancelled";

pub(super) async fn marketable(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("AAPL", "190").await?;
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(MARKETABLE, &trader, limit_buy("AAPL", "1000")).await?;
        b.publish(MARKETABLE, "publish v1 PENDING (stream → publish)").await?;
        let kind = b
            .execute(MARKETABLE, false, |_| "execute: claim, place, fill (SQS → execute)")
            .await?;
        ensure!(kind == "execute", "a marketable order left a `{kind}` message");
        b.publish(MARKETABLE, "publish later versions").await?;
        let status = b.status(&trader, &id).await?;
        ensure!(
            status == OrderStatus::Filled,
            "marketable order {id} is {status}, not FILLED"
        );
    }
    Ok(())
}

/// The re-check phase billed per re-check rather than per order (a resting order is
/// re-checked every `RECHECK_DELAY_SECS` while it rests).
pub const STILL_RESTING: &str = "re-check, still resting (per re-check)";

pub(super) async fn resting(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("MSFT", "410").await?;
    let mut orders = Vec::new();
    // Re-checks of the orders placed before come in between (1 s delay).
    let phase_of = |kind: &str| match kind {
        "recheck" => STILL_RESTING,
        _ => "execute: claim, place, rests",
    };
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(RESTING, &trader, limit_buy("MSFT", "300")).await?;
        b.publish(RESTING, "publish v1 PENDING (stream → publish)").await?;
        // A re-check writes the order (its chain position): a stream record, so a
        // publish invocation, booked to the re-check.
        while b.execute(RESTING, false, phase_of).await? != "execute" {
            b.publish(RESTING, STILL_RESTING).await?;
        }
        b.publish(RESTING, "publish later versions").await?;
        orders.push((trader, id));
    }
    while b.seen(RESTING, "recheck") < n {
        b.execute(RESTING, false, phase_of).await?;
        b.publish(RESTING, STILL_RESTING).await?;
    }
    // Every order has one re-check chain, so n re-checks are queued: each finds its fill.
    b.set_price("MSFT", "290").await?;
    for _ in 0..n {
        b.execute(RESTING, false, |_| "re-check that finds the fill").await?;
        b.publish(RESTING, "publish later versions").await?;
    }
    for (trader, id) in &orders {
        let status = b.status(trader, id).await?;
        ensure!(
            status == OrderStatus::Filled,
            "resting order {id} is {status}, not FILLED after the price move"
        );
    }
    Ok(())
}

pub(super) async fn cancelled(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("MSFT", "410").await?;
    let mut orders = Vec::new();
    // Each order leaves one re-check chain (3 s delay): it comes after the order's
    // cancel (a stale re-check), or races it (and does the venue cancel itself).
    let phase_of = |kind: &str| match kind {
        "cancel" => "execute the cancel (venue cancel + confirm)",
        "recheck" => "re-check after the cancel",
        _ => "execute: claim, place, rests",
    };
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(CANCELLED, &trader, limit_buy("MSFT", "300")).await?;
        b.publish(CANCELLED, "publish v1 PENDING (stream → publish)").await?;
        while b.execute(CANCELLED, true, phase_of).await? != "execute" {
            b.publish(CANCELLED, "publish later versions").await?;
        }
        b.publish(CANCELLED, "publish later versions").await?;
        b.cancel(CANCELLED, &trader, &id).await?;
        b.publish(CANCELLED, "publish later versions").await?;
        while b.execute(CANCELLED, true, phase_of).await? != "cancel" {
            b.publish(CANCELLED, "publish later versions").await?;
        }
        b.publish(CANCELLED, "publish later versions").await?;
        orders.push((trader, id));
    }
    while b.seen(CANCELLED, "recheck") < n {
        b.execute(CANCELLED, true, phase_of).await?;
        b.publish(CANCELLED, "publish later versions").await?;
    }
    for (trader, id) in &orders {
        let status = b.status(trader, id).await?;
        ensure!(
            status == OrderStatus::Cancelled,
            "order {id} is {status}, not CANCELLED"
        );
    }
    Ok(())
}
