// Long because: one suite for the controls of issue 19 (states, kill switch, cancel all, erroneous orders) over one
// in-memory world.
//! Market access controls over the in-memory adapters (issue 19): the deployment's and
//! a trader's trading state as submit sees them, the operator's audited change, the
//! kill switch against concurrent submits, and cancel-all in pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rust_decimal::Decimal;
use serde_json::Value;

use shared::adapters::memory::{FixedClock, MemoryStore};
use shared::app::{AuditContext, CANCEL_ALL_PAGE, CancelDeps, ControlsDeps, SubmitDeps, SubmitRequest, cancel_all};
use shared::domain::{
    OrderStatus, Pricing, RiskLimits, SET_TRADING_STATE, Symbol, Timestamp, TraderId, TradingScope, TradingState,
    verify_account_chain,
};
use shared::http::submit::{Reply, submit};
use shared::ports::{AccountAdmin, OrderStore, TradingControls, deployment_principal};

struct World {
    store: Arc<MemoryStore>,
    clock: Arc<FixedClock>,
    pricing: Pricing,
}

fn t(id: &str) -> TraderId {
    TraderId::parse(id).unwrap()
}

impl World {
    async fn new(traders: &[&str]) -> Self {
        let store = Arc::new(MemoryStore::new());
        for id in traders {
            let limits = RiskLimits {
                orders_per_minute: 100_000,
                max_open_orders: 1_000,
                ..RiskLimits::default()
            };
            store
                .fund_account(&t(id), Decimal::from(1_000_000), Some(limits))
                .await
                .unwrap();
            store
                .deposit_position(
                    &t(id),
                    &Symbol::parse("AAPL").unwrap(),
                    Decimal::from(10),
                    Decimal::from(150),
                )
                .await
                .unwrap();
        }
        let at = Timestamp::from_unix_millis(1_789_999_990_000).unwrap();
        Self {
            store,
            clock: Arc::new(FixedClock::new(at)),
            pricing: Pricing::default(),
        }
    }

    async fn submit(&self, trader: &str, body: &str) -> Reply {
        let deps = SubmitDeps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            pricing: &self.pricing,
            market_data: None,
            queue: None,
        };
        let req = SubmitRequest {
            trader: t(trader),
            body: body.as_bytes(),
            idempotency_key: None,
            request_id: None,
            confirm_duplicate: None,
        };
        submit(&deps, req).await.unwrap()
    }

    async fn set(
        &self,
        scope: TradingScope,
        body: &str,
        key: Option<&str>,
    ) -> Result<shared::app::StateReply, shared::app::AppError> {
        let deps = ControlsDeps {
            cancel: CancelDeps {
                store: self.store.as_ref(),
                clock: self.clock.as_ref(),
                queue: None,
            },
            controls: self.store.as_ref(),
        };
        shared::app::set_trading_state(&deps, &t("jane"), scope, body.as_bytes(), key, None).await
    }

    async fn open_orders(&self, trader: &str) -> usize {
        let page = self.store.list_orders(&t(trader), None, 10_000, None).await.unwrap();
        page.orders.iter().filter(|o| o.status.is_cancellable()).count()
    }
}

const BUY: &str = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"}"#;
const SELL_5: &str = r#"{"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "5", "limit_price": "100"}"#;
const SELL_11: &str = r#"{"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "11", "limit_price": "100"}"#;

fn detail(reply: &Reply) -> String {
    let v: Value = serde_json::from_str(&reply.body).unwrap();
    v["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_deployment_halt_refuses_every_order_until_trading_resumes() {
    let w = World::new(&["alice"]).await;
    assert_eq!(w.submit("alice", BUY).await.status, 201);
    let reply = w
        .set(
            TradingScope::Deployment,
            r#"{"state": "halted", "reason": "venue outage"}"#,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (reply.previous_state, reply.state),
        (TradingState::Active, TradingState::Halted)
    );
    for body in [BUY, SELL_5] {
        let refused = w.submit("alice", body).await;
        assert_eq!(refused.status, 422);
        assert_eq!(
            detail(&refused),
            "Trading is halted for the deployment; no new orders are accepted"
        );
        assert!(refused.body.contains("/problems/trading-halted"), "{}", refused.body);
    }
    w.set(TradingScope::Deployment, r#"{"state": "active"}"#, None)
        .await
        .unwrap();
    assert_eq!(w.submit("alice", BUY).await.status, 201);
}

#[tokio::test]
async fn reducing_accepts_a_reducing_sell_and_refuses_a_buy_and_a_sell_past_the_position() {
    for scope in [TradingScope::Trader(t("alice")), TradingScope::Deployment] {
        let w = World::new(&["alice"]).await;
        w.set(scope.clone(), r#"{"state": "reducing"}"#, None).await.unwrap();
        let who = match &scope {
            TradingScope::Deployment => "the deployment".to_owned(),
            TradingScope::Trader(t) => format!("trader {t}"),
        };
        let buy = w.submit("alice", BUY).await;
        assert_eq!(buy.status, 422, "{scope:?}");
        assert_eq!(
            detail(&buy),
            format!("Trading is reduce-only for {who}; only a sell of at most the position held is accepted")
        );
        let over = w.submit("alice", SELL_11).await;
        assert_eq!(over.status, 422);
        assert_eq!(
            detail(&over),
            "Insufficient position for sell of 11 AAPL; available: 10"
        );
        assert_eq!(w.submit("alice", SELL_5).await.status, 201, "{scope:?}");
    }
}

#[tokio::test]
async fn a_trader_halt_stops_that_trader_only() {
    let w = World::new(&["alice", "bob"]).await;
    w.set(TradingScope::Trader(t("alice")), r#"{"state": "halted"}"#, None)
        .await
        .unwrap();
    let refused = w.submit("alice", BUY).await;
    assert_eq!(
        detail(&refused),
        "Trading is halted for trader alice; no new orders are accepted"
    );
    assert_eq!(w.submit("bob", BUY).await.status, 201);
}

#[tokio::test]
async fn each_change_is_an_audited_operator_record_applied_once_per_key() {
    let w = World::new(&["alice"]).await;
    let first = w
        .set(
            TradingScope::Trader(t("alice")),
            r#"{"state": "halted", "reason": "r"}"#,
            Some("op-1"),
        )
        .await
        .unwrap();
    let again = w
        .set(
            TradingScope::Trader(t("alice")),
            r#"{"state": "halted", "reason": "r"}"#,
            Some("op-1"),
        )
        .await
        .unwrap();
    assert_eq!(first, again);
    let records = w.store.account_records(&t("alice")).await.unwrap();
    let state_records: Vec<_> = records.iter().filter(|r| r.action == SET_TRADING_STATE).collect();
    assert_eq!(state_records.len(), 1, "one record per operation id");
    let r = state_records[0];
    assert_eq!(r.actor, "operator:jane");
    assert_eq!(r.operation_id, "op-1");
    assert_eq!(r.before.as_ref().unwrap()["trading_state"], "active");
    assert_eq!(r.after.as_ref().unwrap()["trading_state"], "halted");
    assert_eq!(r.after.as_ref().unwrap()["reason"], "r");
    let anchor = w.store.account_anchor(&t("alice")).await.unwrap();
    assert_eq!(verify_account_chain(&t("alice"), anchor.as_ref(), &records), Ok(()));
    // The deployment's chain is its principal's, verified the same way.
    w.set(TradingScope::Deployment, r#"{"state": "halted"}"#, None)
        .await
        .unwrap();
    let p = deployment_principal();
    let chain = w.store.account_records(&p).await.unwrap();
    let anchor = w.store.account_anchor(&p).await.unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(verify_account_chain(&p, anchor.as_ref(), &chain), Ok(()));
}

#[tokio::test]
async fn bad_operator_requests_get_specific_errors() {
    let w = World::new(&["alice"]).await;
    let e = w
        .set(TradingScope::Deployment, r#"{"state": "paused"}"#, None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The order has 1 invalid field(s): State must be one of: active, reducing, halted (got `paused`)"
    );
    let e = w
        .set(TradingScope::Trader(t("nobody")), r#"{"state": "halted"}"#, None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "Trader nobody has no trading account");
    let e = w.set(TradingScope::Deployment, "{", None).await.unwrap_err();
    assert!(e.to_string().starts_with("The request body is not valid JSON"), "{e}");
    assert_eq!(
        w.store.trading_state(&TradingScope::Deployment).await.unwrap(),
        TradingState::Active
    );
}

/// The kill switch under load: 20 traders submit as fast as they can while an operator
/// halts. Every submit that starts after the halt returned is refused, and every order
/// in the books was answered 201 (none slipped in unanswered).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_order_is_accepted_after_the_halt_committed() {
    let traders: Vec<String> = (0..20).map(|i| format!("trader-{i}")).collect();
    let names: Vec<&str> = traders.iter().map(String::as_str).collect();
    let w = Arc::new(World::new(&names).await);
    let halted = Arc::new(AtomicBool::new(false));
    let (accepted, after_halt) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for trader in traders.clone() {
        let (w, halted, accepted, after_halt) = (w.clone(), halted.clone(), accepted.clone(), after_halt.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..40 {
                let started_after_halt = halted.load(Ordering::SeqCst);
                let reply = w.submit(&trader, BUY).await;
                if reply.status == 201 {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if started_after_halt {
                        after_halt.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::task::yield_now().await;
    w.set(TradingScope::Deployment, r#"{"state": "halted"}"#, None)
        .await
        .unwrap();
    halted.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        after_halt.load(Ordering::SeqCst),
        0,
        "an order was accepted after the halt"
    );
    let mut in_books = 0;
    for trader in &traders {
        in_books += w
            .store
            .list_orders(&t(trader), None, 1000, None)
            .await
            .unwrap()
            .orders
            .len();
    }
    assert_eq!(in_books, accepted.load(Ordering::SeqCst));
    assert!(in_books < 20 * 40, "the halt came before the end");
    // After it, nothing more.
    assert_eq!(w.submit("trader-0", BUY).await.status, 422);
}

#[tokio::test]
async fn cancel_all_works_in_pages_until_nothing_is_open() {
    let w = World::new(&["alice"]).await;
    let n = CANCEL_ALL_PAGE * 2 + 30;
    for _ in 0..n {
        assert_eq!(w.submit("alice", BUY).await.status, 201);
    }
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: w.clock.as_ref(),
        queue: None,
    };
    let ctx = AuditContext {
        actor: "alice".into(),
        ..AuditContext::default()
    };
    let mut calls = 0;
    let mut cancelled = 0;
    loop {
        let page = cancel_all(&deps, &t("alice"), None, &ctx).await.unwrap();
        calls += 1;
        assert!(page.orders.len() <= CANCEL_ALL_PAGE);
        assert!(page.orders.iter().all(|o| o.status == OrderStatus::Cancelled));
        cancelled += page.orders.len();
        if !page.more {
            break;
        }
        assert!(calls < 10, "cancel-all must finish");
    }
    assert_eq!((cancelled, calls), (n, 3));
    assert_eq!(w.open_orders("alice").await, 0);
    let a = w.store.get_account(&t("alice")).await.unwrap().unwrap();
    assert_eq!((a.reserved, a.open_orders), (Decimal::ZERO, 0));
}

#[tokio::test]
async fn cancel_all_by_symbol_leaves_other_symbols_open() {
    let w = World::new(&["alice"]).await;
    let msft = r#"{"symbol": "MSFT", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"}"#;
    for body in [BUY, BUY, msft] {
        assert_eq!(w.submit("alice", body).await.status, 201);
    }
    let deps = CancelDeps {
        store: w.store.as_ref(),
        clock: w.clock.as_ref(),
        queue: None,
    };
    let ctx = AuditContext {
        actor: "alice".into(),
        ..AuditContext::default()
    };
    let page = cancel_all(&deps, &t("alice"), Some(&Symbol::parse("AAPL").unwrap()), &ctx)
        .await
        .unwrap();
    assert_eq!((page.orders.len(), page.more), (2, false));
    assert!(page.orders.iter().all(|o| o.symbol.as_str() == "AAPL"));
    assert_eq!(w.open_orders("alice").await, 1);
}

#[tokio::test]
async fn halting_a_trader_with_cancel_open_orders_cancels_them_as_the_operator() {
    let w = World::new(&["alice"]).await;
    for _ in 0..3 {
        assert_eq!(w.submit("alice", BUY).await.status, 201);
    }
    let reply = w
        .set(
            TradingScope::Trader(t("alice")),
            r#"{"state": "halted", "cancel_open_orders": true}"#,
            None,
        )
        .await
        .unwrap();
    let cancelled = reply.cancelled.unwrap();
    assert_eq!((cancelled.orders.len(), cancelled.more), (3, false));
    assert_eq!(w.open_orders("alice").await, 0);
    let id = cancelled.orders[0].order_id;
    let records = shared::ports::AuditLog::records(w.store.as_ref(), &id).await.unwrap();
    assert_eq!(records.last().unwrap().actor, "operator:jane");
    // Not for the whole deployment: each trader's orders are cancelled on their own.
    let e = w
        .set(
            TradingScope::Deployment,
            r#"{"state": "halted", "cancel_open_orders": true}"#,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cancel_open_orders applies to one trader"),
        "{e}"
    );
}

/// The deployment's erroneous-order checks through submit: just inside accepted, just
/// outside refused with the exact message (and recorded, as every refusal is).
#[tokio::test]
async fn erroneous_orders_are_refused_just_outside_each_setting() {
    use shared::domain::{OrderChecks, Price};
    let mut w = World::new(&["alice"]).await;
    w.pricing.reference.insert(
        Symbol::parse("AAPL").unwrap(),
        Price::parse(Decimal::from(200)).unwrap(),
    );
    w.pricing.checks = OrderChecks {
        price_band: Some(Decimal::new(10, 2)),
        max_quantity: Some(Decimal::from(500)),
        restricted: [Symbol::parse("GME").unwrap()].into(),
    };
    let limit = |sym: &str, qty: &str, price: &str| {
        format!(
            r#"{{"symbol": "{sym}", "side": "buy", "type": "limit", "quantity": "{qty}", "limit_price": "{price}"}}"#
        )
    };
    for body in [
        limit("AAPL", "1", "220"),
        limit("AAPL", "1", "180"),
        limit("AAPL", "500", "200"),
    ] {
        assert_eq!(w.submit("alice", &body).await.status, 201, "{body}");
    }
    let cases = [
        (
            limit("AAPL", "1", "220.01"),
            "/problems/price-band",
            "Limit price $220.01 is more than 10% from the AAPL reference price of $200.00; accepted: $180.00 to $220.00",
        ),
        (
            limit("AAPL", "501", "200"),
            "/problems/order-quantity-limit",
            "Quantity of 501 exceeds the per-order limit of 500",
        ),
        (
            limit("GME", "1", "20"),
            "/problems/restricted-symbol",
            "GME is a restricted symbol; no orders in it are accepted",
        ),
    ];
    for (body, kind, message) in cases {
        let reply = w.submit("alice", &body).await;
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(detail(&reply), message);
        assert!(reply.body.contains(kind), "{}", reply.body);
    }
    let rejected = w.store.audit_order_ids().len().saturating_sub(
        w.store
            .list_orders(&t("alice"), None, 100, None)
            .await
            .unwrap()
            .orders
            .len(),
    );
    assert_eq!(rejected, 3, "each refusal has its SUBMIT_REJECTED record");
}
