//! Our submit and cancel handlers in process: the same use cases the functions run
//! (`shared::app::{submit, cancel}` over the DynamoDB adapter), called by N tasks at
//! once against the floor's tables, with no HTTP hop. Next to the floor, this says
//! what our handler code adds to its AWS calls; next to the HTTP figures, what the
//! hops through the local gateway and cargo lambda watch add.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use shared::adapters::aws::DynamoStore;
use shared::app::{CancelDeps, SubmitDeps, SubmitRequest, cancel};
use shared::domain::{Pricing, RiskLimits, TraderId};
use shared::http::submit::submit;
use shared::ports::{OrderStore, SystemClock};

use crate::floor::Floor;
use crate::mix::{Kind, Mix, Rng, body};
use crate::stats::Samples;

#[derive(Debug, Default)]
pub struct InProcResult {
    pub submit: Samples,
    pub cancel: Samples,
    pub accepted: usize,
    pub refused: usize,
}

pub async fn run(floor: &Floor, workers: usize, orders: usize, mix: Mix, seed: u64) -> anyhow::Result<InProcResult> {
    let store = Arc::new(DynamoStore::new(floor.ddb.clone(), &floor.orders, &floor.audit));
    let pricing = Arc::new(pricing()?);
    let counter = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let trader = TraderId::parse(&format!("inproc-{}", ulid::Ulid::new().to_string().to_lowercase()))?;
        let limits = RiskLimits {
            orders_per_minute: 1_000_000,
            max_open_orders: 100_000,
            ..RiskLimits::default()
        };
        store
            .fund_account(&trader, rust_decimal::Decimal::from(100_000_000), Some(limits))
            .await
            .context("funding an in-process trader")?;
        let (store, pricing, counter) = (store.clone(), pricing.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            worker(&store, &pricing, trader, w, orders, &counter, mix, seed).await
        }));
    }
    let mut out = InProcResult::default();
    for t in tasks {
        let r = t.await.context("an in-process worker panicked")?;
        out.submit.extend(&r.submit);
        out.cancel.extend(&r.cancel);
        out.accepted += r.accepted;
        out.refused += r.refused;
    }
    Ok(out)
}

/// The functions' pricing: `REFERENCE_PRICES` / `MARKET_COLLAR` when set (as in the
/// functions' env), else the stack's defaults (scripts/lib.sh `reference_prices`, 5%).
fn pricing() -> anyhow::Result<Pricing> {
    let mut p = shared::config::pricing_from_env().context("REFERENCE_PRICES / MARKET_COLLAR")?;
    if p.reference.is_empty() {
        for (symbol, price) in crate::mix::SYMBOLS {
            let price =
                shared::domain::Price::parse(price.parse()?).map_err(|e| anyhow::anyhow!("{symbol} {price}: {e:?}"))?;
            p.reference.insert(shared::domain::Symbol::parse(symbol)?, price);
        }
    }
    Ok(p)
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    store: &DynamoStore,
    pricing: &Pricing,
    trader: TraderId,
    w: usize,
    orders: usize,
    counter: &AtomicUsize,
    mix: Mix,
    seed: u64,
) -> InProcResult {
    let mut out = InProcResult::default();
    let mut rng = Rng::new(seed ^ 0x1_9A0C ^ (w as u64).wrapping_mul(0x9E37_79B9));
    let clock = SystemClock;
    // No venue behind the floor's tables: the reference prices set the limits.
    let market = crate::mix::reference_market();
    let submit_deps = SubmitDeps {
        store,
        clock: &clock,
        pricing,
        market_data: None,
        queue: None,
    };
    let cancel_deps = CancelDeps {
        store,
        clock: &clock,
        queue: None,
    };
    let mut resting: Option<String> = None;
    loop {
        let more = counter.fetch_add(1, Ordering::Relaxed) < orders;
        if let Some(id) = resting.take() {
            let t0 = Instant::now();
            let r = cancel(&cancel_deps, &trader, &id, None).await;
            out.cancel.push(t0.elapsed());
            if let Err(e) = r {
                eprintln!("orders-load in-process: cancel of {id}: {e}");
            }
        }
        if !more {
            return out;
        }
        let kind = mix.draw(&mut rng);
        let bytes = body(kind, &mut rng, &market).to_string().into_bytes();
        let key = ulid::Ulid::new().to_string();
        let t0 = Instant::now();
        let r = submit(
            &submit_deps,
            SubmitRequest {
                trader: trader.clone(),
                body: &bytes,
                idempotency_key: Some(&key),
                request_id: None,
                confirm_duplicate: None,
            },
        )
        .await;
        out.submit.push(t0.elapsed());
        match r {
            Ok(reply) if reply.status == 201 => {
                out.accepted += 1;
                if kind == Kind::RestingLimit {
                    resting = serde_json::from_str::<serde_json::Value>(&reply.body)
                        .ok()
                        .and_then(|v| v["order_id"].as_str().map(str::to_owned));
                }
            }
            Ok(reply) => {
                out.refused += 1;
                eprintln!(
                    "orders-load in-process: submit answered {}: {}",
                    reply.status, reply.body
                );
            }
            Err(e) => {
                out.refused += 1;
                eprintln!("orders-load in-process: submit failed: {e}");
            }
        }
    }
}
