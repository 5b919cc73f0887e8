//! Market access controls over HTTP (issue 19): operator routes behind the operator
//! scope, a trader's and the deployment's trading state as submit answers them, and
//! cancel all. The deployment's state is global: the one test that sets it holds
//! `DEPLOYMENT` for writing (the others for reading) and puts it back to `active`
//! whatever happens (no other binary runs while this one does: cargo runs test
//! binaries one after another).

use std::sync::Arc;

use e2e::{Answer, Stack, limit_buy};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::{Symbol, TraderId};
use shared::ports::OrderStore;

async fn stack() -> Stack {
    Stack::from_env().await.expect("the local stack's environment")
}

fn operator_token(s: &Stack) -> String {
    s.token_with(json!({"sub": "jane", "scope": "orders/operate"}), 600)
}

async fn put_state(s: &Stack, token: Option<&str>, path: &str, body: Value) -> Answer {
    s.send("PUT", path, token, &[], Some(body.to_string()))
        .await
        .expect("answered")
}

async fn delete(s: &Stack, token: Option<&str>, path: &str) -> Answer {
    s.send("DELETE", path, token, &[], None).await.expect("answered")
}

async fn with_aapl(s: &Stack, qty: i64) -> TraderId {
    let t = s.trader("100000", None).await.unwrap();
    s.store
        .deposit_position(
            &t,
            &Symbol::parse("AAPL").unwrap(),
            Decimal::from(qty),
            Decimal::from(100),
        )
        .await
        .unwrap();
    t
}

fn sell(qty: &str) -> Value {
    json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": qty, "limit_price": "100"})
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn operator_routes_need_the_operator_scope_and_trader_routes_the_traders() {
    let _deployment = DEPLOYMENT.read().await;
    let s = stack().await;
    let t = s.trader("1000", None).await.unwrap();
    let trader_token = s.token(&t);
    let routes = [
        ("PUT", "/operator/trading-state".to_owned()),
        ("PUT", format!("/operator/traders/{t}/trading-state")),
        ("DELETE", format!("/operator/traders/{t}/orders")),
    ];
    for (method, path) in &routes {
        let body = Some(json!({"state": "halted"}).to_string());
        let a = s
            .send(method, path, Some(&trader_token), &[], body.clone())
            .await
            .unwrap();
        assert_eq!(a.status, 403, "{method} {path}: {:?}", a.body);
        assert_eq!(a.body["type"], "/problems/forbidden");
        let a = s.send(method, path, None, &[], body).await.unwrap();
        assert_eq!(a.status, 401, "{method} {path}");
    }
    // An operator's token is no trader's.
    let a = delete(&s, Some(&operator_token(&s)), "/orders").await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    let a = delete(&s, None, "/orders").await;
    assert_eq!(a.status, 401);
    // Nothing changed.
    let acct = s.store.get_account(&t).await.unwrap().unwrap();
    assert_eq!(acct.trading_state, shared::domain::TradingState::Active);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn cancel_all_cancels_the_callers_open_orders_by_symbol_then_all() {
    let _deployment = DEPLOYMENT.read().await;
    let s = stack().await;
    let t = s.trader("100000", None).await.unwrap();
    let token = s.token(&t);
    let msft = json!({"symbol": "MSFT", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"});
    for body in [limit_buy("1", "10"), limit_buy("2", "10"), msft] {
        assert_eq!(s.submit(&token, None, &body).await.unwrap().status, 201);
    }
    let a = delete(&s, Some(&token), "/orders?symbol=AAPL").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let orders = a.body["orders"].as_array().unwrap();
    assert_eq!((orders.len(), a.body["more"].as_bool()), (2, Some(false)));
    // CANCELLED at once while PENDING; CANCEL_REQUESTED once execution took it (a stack
    // with the mappings running).
    let asked = |o: &Value| o["status"] == "CANCELLED" || o["status"] == "CANCEL_REQUESTED";
    assert!(orders.iter().all(|o| o["symbol"] == "AAPL" && asked(o)), "{orders:?}");
    let a = delete(&s, Some(&token), "/orders").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["orders"].as_array().unwrap().len(), 1);
    let a = delete(&s, Some(&token), "/orders").await;
    assert_eq!(
        (a.body["orders"].as_array().unwrap().len(), a.body["more"].as_bool()),
        (0, Some(false))
    );
    let bad = delete(&s, Some(&token), "/orders?symbol=aapl").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_fields(), vec!["symbol".to_owned()]);
    for status in ["PENDING", "SUBMITTED", "PARTIALLY_FILLED"] {
        let open = s.get(&format!("/orders?status={status}"), &token).await.unwrap();
        assert_eq!(open.body["orders"].as_array().map(Vec::len), Some(0), "{status}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn an_operator_sets_a_traders_state_and_cancels_their_orders() {
    let _deployment = DEPLOYMENT.read().await;
    let s = stack().await;
    let t = with_aapl(&s, 10).await;
    let token = s.token(&t);
    let op = operator_token(&s);
    let path = format!("/operator/traders/{t}/trading-state");

    let a = put_state(
        &s,
        Some(&op),
        &path,
        json!({"state": "reducing", "reason": "margin call"}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        (a.body["previous_state"].as_str(), a.body["state"].as_str()),
        (Some("active"), Some("reducing"))
    );
    let buy = s.submit(&token, None, &limit_buy("1", "10")).await.unwrap();
    assert_eq!(buy.status, 422);
    assert_eq!(
        buy.detail(),
        format!("Trading is reduce-only for trader {t}; only a sell of at most the position held is accepted")
    );
    let over = s.submit(&token, None, &sell("11")).await.unwrap();
    assert_eq!(over.status, 422);
    assert_eq!(
        over.detail(),
        "Insufficient position for sell of 11 AAPL; available: 10"
    );
    assert_eq!(s.submit(&token, None, &sell("4")).await.unwrap().status, 201);

    // Halted, with the open sell cancelled in the same request.
    let a = put_state(
        &s,
        Some(&op),
        &path,
        json!({"state": "halted", "cancel_open_orders": true}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["cancelled"]["orders"].as_array().unwrap().len(), 1);
    let halted = s.submit(&token, None, &sell("1")).await.unwrap();
    assert_eq!(
        halted.detail(),
        format!("Trading is halted for trader {t}; no new orders are accepted")
    );
    assert_eq!(halted.body["type"], "/problems/trading-halted");
    // The records name the operator.
    let actions = s.audit_actions(&t).await.unwrap();
    assert_eq!(actions.iter().filter(|a| *a == "SET_TRADING_STATE").count(), 2);

    // Back to active: a buy goes again; the operator's mass cancel takes it.
    assert_eq!(
        put_state(&s, Some(&op), &path, json!({"state": "active"})).await.status,
        200
    );
    assert_eq!(s.submit(&token, None, &limit_buy("1", "10")).await.unwrap().status, 201);
    let a = delete(&s, Some(&op), &format!("/operator/traders/{t}/orders")).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["orders"].as_array().unwrap().len(), 1);

    // Refusals: an unknown trader, a bad state, a body that is not JSON.
    assert_eq!(
        put_state(
            &s,
            Some(&op),
            "/operator/traders/nobody-at-all/trading-state",
            json!({"state": "halted"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        delete(&s, Some(&op), "/operator/traders/nobody-at-all/orders")
            .await
            .status,
        404
    );
    let bad = put_state(&s, Some(&op), &path, json!({"state": "paused"})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), vec!["state".to_owned()]);
    let a = s.send("PUT", &path, Some(&op), &[], Some("{".into())).await.unwrap();
    assert_eq!(a.status, 400);
}

/// The deployment's state: the kill switch test holds it for writing, every other test
/// of this file (they all submit) for reading, so no submit of theirs meets its halt.
static DEPLOYMENT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs `scenario` with the deployment's state to itself, and puts it back to
/// `active` after, even when the scenario fails.
async fn with_deployment_state<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<Stack>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let _only = DEPLOYMENT.write().await;
    let s = Arc::new(stack().await);
    let result = tokio::spawn(scenario(s.clone())).await;
    let op = operator_token(&s);
    let back = put_state(&s, Some(&op), "/operator/trading-state", json!({"state": "active"})).await;
    assert_eq!(back.status, 200, "{:?}", back.body);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn the_kill_switch_refuses_every_order_until_trading_resumes() {
    with_deployment_state(|s| async move {
        let t = with_aapl(&s, 10).await;
        let token = s.token(&t);
        let op = operator_token(&s);
        let key = format!("halt-{}", ulid::Ulid::new());
        let halt = s
            .send(
                "PUT",
                "/operator/trading-state",
                Some(&op),
                &[("idempotency-key", key.as_str())],
                Some(json!({"state": "halted", "reason": "e2e"}).to_string()),
            )
            .await
            .unwrap();
        assert_eq!(halt.status, 200, "{:?}", halt.body);
        assert_eq!(
            (halt.body["scope"].as_str(), halt.body["state"].as_str()),
            (Some("deployment"), Some("halted"))
        );
        assert_eq!(halt.body["operation_id"], key.as_str());
        for body in [limit_buy("1", "10"), sell("1")] {
            let a = s.submit(&token, None, &body).await.unwrap();
            assert_eq!(a.status, 422, "{:?}", a.body);
            assert_eq!(
                a.detail(),
                "Trading is halted for the deployment; no new orders are accepted"
            );
        }
        // Reducing: a sell goes, a buy does not.
        let a = put_state(&s, Some(&op), "/operator/trading-state", json!({"state": "reducing"})).await;
        assert_eq!(a.status, 200);
        assert_eq!(s.submit(&token, None, &sell("2")).await.unwrap().status, 201);
        let buy = s.submit(&token, None, &limit_buy("1", "10")).await.unwrap();
        assert_eq!(
            buy.detail(),
            "Trading is reduce-only for the deployment; only a sell of at most the position held is accepted"
        );
        // A deployment-wide change does not cancel: that is per trader.
        let a = put_state(
            &s,
            Some(&op),
            "/operator/trading-state",
            json!({"state": "halted", "cancel_open_orders": true}),
        )
        .await;
        assert_eq!(a.status, 422);
        assert_eq!(a.error_fields(), vec!["cancel_open_orders".to_owned()]);
        let a = s
            .send("PUT", "/operator/trading-state", Some(&op), &[], Some("[".into()))
            .await
            .unwrap();
        assert_eq!(a.status, 400);
        assert_eq!(a.body["type"], "/problems/malformed-json");
        let a = put_state(&s, Some(&op), "/operator/trading-state", json!({"state": "active"})).await;
        assert_eq!(a.status, 200);
        assert_eq!(s.submit(&token, None, &limit_buy("1", "10")).await.unwrap().status, 201);
    })
    .await;
}
