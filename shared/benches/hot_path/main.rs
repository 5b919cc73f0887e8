//! In-process hot path benchmarks (issue 7 part 1): validation, the state machine,
//! JSON in and out, and whole submit and cancel handlers over the in-memory ports.
//! `make bench` runs them short and renders medians and p99s into BENCHMARKS.md
//! (`tools/bench_hot_path.py`); `cargo bench -p shared --bench hot_path` runs them
//! at criterion's defaults.
//!
//! The handlers are async, but the in-memory ports never wait, so each call is
//! driven by `futures::executor::block_on` (a few hundred ns of the figure).

mod profile;
mod world;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use futures::executor::block_on;
use rust_decimal::Decimal;
use serde_json::Value;

use shared::app::{AuditContext, CancelDeps, cancel, plan_transition};
use shared::domain::status::next;
use shared::domain::{Account, EventKind, OrderEvent, OrderStatus, validate_order};
use shared::ports::StatusEvent;
use world::{
    INVALID, LIMIT_BUY, MARKET_SELL, SUBMIT_EVENT, SUBMIT_EVENT_CLIENT_ORDER_ID, World, chunked, distinct_buys, now,
    pending_order,
};

fn validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validation");
    for (name, raw) in [("limit_buy", LIMIT_BUY), ("market_sell", MARKET_SELL)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let body: Value = serde_json::from_slice(black_box(raw.as_bytes())).expect("bench body is JSON");
                validate_order(&body).expect("bench body is valid")
            })
        });
    }
    g.bench_function("invalid_every_field", |b| {
        b.iter(|| {
            let body: Value = serde_json::from_slice(black_box(INVALID.as_bytes())).expect("bench body is JSON");
            validate_order(&body).expect_err("bench body is invalid")
        })
    });
    g.finish();
}

fn transition(c: &mut Criterion) {
    let mut g = c.benchmark_group("transition");
    g.bench_function("status_table", |b| {
        b.iter(|| next(black_box(OrderStatus::PartiallyFilled), black_box(EventKind::FinalFill)))
    });
    let pending = pending_order();
    let submitted = pending.apply(&OrderEvent::Claim, now()).expect("claim").order;
    let fill = OrderEvent::Fill {
        execution_id: "exec-1".into(),
        quantity: Decimal::from(4),
        price: Decimal::new(15010, 2),
    };
    g.bench_function("order_apply_fill", |b| {
        b.iter(|| submitted.apply(black_box(&fill), now()).expect("fill applies"))
    });
    let ctx = AuditContext::system("execute");
    g.bench_function("plan_claim", |b| {
        b.iter(|| plan_transition(black_box(&pending), &OrderEvent::Claim, None, &ctx, now()).expect("claim plans"))
    });
    let account = Account::new(pending.trader_id.clone(), Decimal::from(1_000_000));
    g.bench_function("plan_fill", |b| {
        b.iter(|| plan_transition(black_box(&submitted), &fill, Some(&account), &ctx, now()).expect("fill plans"))
    });
    g.finish();
}

fn json(c: &mut Criterion) {
    let mut g = c.benchmark_group("json");
    g.bench_function("submit_body_in", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(LIMIT_BUY.as_bytes())).expect("bench body is JSON"))
    });
    g.bench_function("apigw_event_in", |b| {
        b.iter(|| lambda_http::request::from_str(black_box(SUBMIT_EVENT)).expect("sample event parses"))
    });
    let order = pending_order();
    g.bench_function("order_out", |b| {
        b.iter(|| serde_json::to_string(black_box(&order)).expect("order serializes"))
    });
    g.bench_function("status_event_out", |b| {
        b.iter(|| serde_json::to_string(&StatusEvent::of(None, black_box(&order))).expect("event serializes"))
    });
    g.finish();
}

/// Distinct idempotency keys for one chunk, made outside the timed loop.
fn keys(prefix: &str, n: u64) -> Vec<String> {
    let run = ulid::Ulid::new();
    (0..n).map(|i| format!("{prefix}-{run}-{i}")).collect()
}

fn submit_handler(c: &mut Criterion) {
    let mut g = c.benchmark_group("submit");
    g.bench_function("accept_201", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |n| {
                    let w = World::new();
                    let first = w.submit(LIMIT_BUY, Some("accept-check")).expect("submit answers");
                    world::check_accepted(&first.body);
                    (w, keys("accept", n))
                },
                |(w, keys), i| {
                    let reply = w.submit(LIMIT_BUY, Some(&keys[i])).expect("submit answers");
                    assert_eq!((reply.status, reply.replayed), (201, false), "{}", reply.body);
                },
            )
        })
    });
    g.bench_function("replay_201", |b| {
        let w = World::new();
        let first = w.submit(LIMIT_BUY, Some("replayed-key")).expect("first submit");
        assert_eq!(first.status, 201, "{}", first.body);
        b.iter(|| {
            let reply = w.submit(LIMIT_BUY, Some("replayed-key")).expect("replay answers");
            assert!(reply.replayed && reply.status == 201, "{}", reply.body);
        })
    });
    g.bench_function("reject_422", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |n| (World::new(), keys("reject", n)),
                |(w, keys), i| {
                    let reply = w.submit(INVALID, Some(&keys[i])).expect("submit answers");
                    assert_eq!(reply.status, 422, "{}", reply.body);
                },
            )
        })
    });
    // Issue 19's pre-trade checks: the same unkeyed accepts with every check off, then
    // on (each order distinct, 600 ms apart: a trader at 100 orders a minute, so the
    // rolling-minute window holds about 100 orders).
    for (name, checks) in [("accept_201_unkeyed", false), ("accept_201_unkeyed_all_checks", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    |n| (World::with_checks(checks), distinct_buys(n)),
                    |(w, bodies), i| {
                        let reply = w.submit_unkeyed(&bodies[i], 600).expect("submit answers");
                        assert_eq!(reply.status, 201, "{}", reply.body);
                    },
                )
            })
        });
    }
    // The function's whole handler, as `functions/submit` runs it: the API Gateway
    // event in, the claims and headers read, the use case, the response built.
    g.bench_function("lambda_event_201", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |n| {
                    let events: Vec<String> = keys("event", n)
                        .iter()
                        .map(|k| {
                            SUBMIT_EVENT
                                .replace("demo-order-1", k)
                                .replace(SUBMIT_EVENT_CLIENT_ORDER_ID, "")
                        })
                        .collect();
                    (World::new(), events)
                },
                |(w, events), i| {
                    assert_eq!(profile::lambda_event(w, &events[i]), Ok(201));
                },
            )
        })
    });
    g.finish();
}

fn cancel_handler(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel");
    g.bench_function("pending_200", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |n| {
                    let w = World::new();
                    let ids: Vec<String> = keys("cancel", n)
                        .iter()
                        .map(|k| {
                            let reply = w.submit(LIMIT_BUY, Some(k)).expect("order to cancel");
                            let order: Value = serde_json::from_str(&reply.body).expect("order JSON");
                            order["order_id"].as_str().expect("order id").to_owned()
                        })
                        .collect();
                    (w, ids)
                },
                |(w, ids), i| {
                    let deps = CancelDeps {
                        store: &w.store,
                        clock: &w.clock,
                        queue: None,
                    };
                    let order = block_on(cancel(&deps, &world::trader(), &ids[i], None)).expect("cancel answers");
                    assert_eq!(order.status, OrderStatus::Cancelled);
                },
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = hot_path;
    config = Criterion::default().without_plots();
    targets = validation, transition, json, submit_handler, cancel_handler
}

/// `criterion_main!`, plus the fixed-work mode for callgrind (see `profile`).
fn main() {
    if let Ok(spec) = std::env::var("HOT_PATH_CALLGRIND") {
        if let Err(e) = profile::run(&spec) {
            eprintln!("hot_path: {e}");
            std::process::exit(1);
        }
        return;
    }
    hot_path();
    Criterion::default().configure_from_args().final_summary();
}
