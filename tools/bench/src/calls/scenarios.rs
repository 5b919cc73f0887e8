//! The order lifecycles `orders-bench calls` drives, phase by phase, as the service
//! runs them: execute places and books no fill; the venue intake (`functions/intake`)
//! books the venue's executions and its reconciliation sweep ends what the venue
//! ended. One intake pass covers every order that changed at the venue since the last
//! one, so a pass's calls are booked to its phase once and shared by the scenario's
//! orders (the per-order figures divide every phase by the orders): the run places
//! all of a scenario's orders, then passes until every one is where it should be.

use std::time::Duration;

use anyhow::ensure;
use serde_json::{Value, json};
use shared::domain::OrderStatus;

use super::Bench;

fn limit_buy(symbol: &str, price: &str) -> Value {
    json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": "1", "limit_price": price, "time_in_force": "day"})
}

pub const MARKETABLE: &str = "marketable limit order, filled at once";
pub const RESTING: &str = "resting limit order, filled later";
pub const CANCELLED: &str = "resting limit order, cancelled";
/// The intake's passes when nothing happened: a fixed cost of the deployment, not of
/// an order (billed per pass, `Sum::of`).
pub const INTAKE_FIXED: &str = "the venue intake with nothing to do (per pass)";

/// The outbox's phase: every version an order's steps committed, as the orders table's
/// stream brings them to publish after the fast path's message was taken (the stream
/// is polled about four times a second; SQS hands the fast path's message over in
/// milliseconds): its events, and for a PENDING insert or a move into CANCEL_REQUESTED,
/// the read that finds the work done and sends no backstop.
pub(super) const PUBLISH: &str = "publish the versions (stream → publish)";

/// The sweep phase billed per resting order and sweep (a resting order is in every
/// sweep's working index read while it rests).
pub const STILL_RESTING: &str = "intake sweep, still resting (per order and sweep)";
/// Sweeps measured while the resting orders rest.
const RESTING_SWEEPS: u32 = 3;
/// Passes measured with nothing to do, with and without the sweep.
const IDLE_PASSES: u32 = 5;

/// A little time for the venue to move (the simulator shows `accepted`, then
/// `pending_new`, then `new` within about 50 ms, and cancels in about 50 ms).
async fn let_the_venue_move() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

pub(super) async fn marketable(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("AAPL", "190").await?;
    let mut orders = Vec::new();
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(MARKETABLE, &trader, limit_buy("AAPL", "1000")).await?;
        let kind = b
            .execute(MARKETABLE, |_| "execute: claim, place (fast path: SQS → execute)")
            .await?;
        ensure!(kind == "execute", "a marketable order left a `{kind}` message");
        b.publish(MARKETABLE, PUBLISH).await?;
        orders.push((trader, id));
    }
    let_the_venue_move().await;
    b.intake_until(
        MARKETABLE,
        "intake: book the fills, sweep (passes ÷ orders)",
        &orders,
        OrderStatus::Filled,
    )
    .await?;
    Ok(())
}

pub(super) async fn resting(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("MSFT", "410").await?;
    let mut orders = Vec::new();
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(RESTING, &trader, limit_buy("MSFT", "300")).await?;
        let kind = b
            .execute(RESTING, |_| "execute: claim, place, rests (fast path)")
            .await?;
        ensure!(kind == "execute", "a resting order left a `{kind}` message");
        b.publish(RESTING, PUBLISH).await?;
        orders.push((trader, id));
    }
    let_the_venue_move().await;
    // While they rest: every sweep reads the working index and lists the venue's open
    // orders; nothing to correct, no lookup of any order.
    for _ in 0..RESTING_SWEEPS {
        let report = b.intake_pass(RESTING, STILL_RESTING, true).await?;
        ensure!(
            report.looked_up == 0 && report.ended == 0 && report.booked == 0,
            "a sweep while {n} orders rest looked up, ended or booked something: {report:?}"
        );
        b.publish(RESTING, STILL_RESTING).await?;
    }
    b.set_price("MSFT", "290").await?;
    let_the_venue_move().await;
    b.intake_until(
        RESTING,
        "intake: book the fills, sweep (passes ÷ orders)",
        &orders,
        OrderStatus::Filled,
    )
    .await?;
    Ok(())
}

pub(super) async fn cancelled(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    b.set_price("MSFT", "410").await?;
    let mut orders = Vec::new();
    for _ in 0..n {
        let trader = b.trader().await?;
        let id = b.submit(CANCELLED, &trader, limit_buy("MSFT", "300")).await?;
        let kind = b
            .execute(CANCELLED, |_| "execute: claim, place, rests (fast path)")
            .await?;
        ensure!(kind == "execute", "a resting order left a `{kind}` message");
        b.publish(CANCELLED, PUBLISH).await?;
        b.cancel(CANCELLED, &trader, &id).await?;
        let kind = b
            .execute(CANCELLED, |_| "execute the cancel (fast path: venue cancel, look)")
            .await?;
        ensure!(kind == "cancel", "the cancel left a `{kind}` message");
        b.publish(CANCELLED, PUBLISH).await?;
        orders.push((trader, id));
    }
    let_the_venue_move().await;
    // The venue ends each order after its cancel (`pending_cancel`, then `canceled`):
    // the sweep finds it gone from the open list, looks it up and confirms the cancel.
    b.intake_until(
        CANCELLED,
        "intake: sweep confirms the cancels (passes ÷ orders)",
        &orders,
        OrderStatus::Cancelled,
    )
    .await?;
    Ok(())
}

/// The intake's cost when nothing happens: a pass reads its cursor and one page of
/// the venue's executions; a sweep also reads the (empty) working index.
pub(super) async fn intake_fixed(b: &mut Bench) -> anyhow::Result<()> {
    for _ in 0..IDLE_PASSES {
        b.intake_pass(INTAKE_FIXED, "pass, no sweep", false).await?;
        b.publish(INTAKE_FIXED, "pass, no sweep").await?;
        b.intake_pass(INTAKE_FIXED, "pass with the sweep, nothing working", true)
            .await?;
        b.publish(INTAKE_FIXED, "pass with the sweep, nothing working").await?;
    }
    Ok(())
}
