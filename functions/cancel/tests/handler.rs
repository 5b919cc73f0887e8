//! The cancel handler on the sample event (`events/cancel-order.json`), in-memory ports.

use std::sync::Arc;

use cancel::{Cancel, CancelFunction, Operator};
use lambda_http::Body;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::adapters::memory::MemoryStore;
use shared::app::fixtures::place_limit_buy;
use shared::domain::TraderId;
use shared::ports::{OrderStore, SystemClock};

const EVENT: &str = include_str!("../../../events/cancel-order.json");

fn event(id: &str, sub: &str) -> lambda_http::Request {
    let mut v: Value = serde_json::from_str(EVENT).unwrap();
    v["pathParameters"]["id"] = id.into();
    v["rawPath"] = format!("/api/v1/orders/{id}/cancel").into();
    v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub.into();
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn text(body: &Body) -> String {
    match body {
        Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn cancels_the_callers_pending_order_and_hides_it_from_others() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    let id = place_limit_buy(store.as_ref(), &demo, "1", "10")
        .await
        .order_id
        .to_string();
    let h = Cancel {
        store: store.clone(),
        clock: Arc::new(SystemClock),
        queue: None,
    };

    let other = h.handle(event(&id, "mallory")).await;
    assert_eq!(other.status(), 404);
    let resp = h.handle(event(&id, "demo")).await;
    assert_eq!(resp.status(), 200);
    let order: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(order["status"], "CANCELLED");
    let again = h.handle(event(&id, "demo")).await;
    assert_eq!(again.status(), 409);
    let p: Value = serde_json::from_str(&text(again.body())).unwrap();
    assert_eq!(
        p["detail"],
        "Cannot cancel order in CANCELLED status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."
    );
}

fn sample(name: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn handler(store: &Arc<MemoryStore>) -> CancelFunction {
    CancelFunction {
        operator: Operator {
            cancel: Cancel {
                store: store.clone(),
                clock: Arc::new(SystemClock),
                queue: None,
            },
            controls: store.clone(),
            audit: store.clone(),
            attention: store.clone(),
            dead_letters: None,
            operator_scope: "orders/operate".into(),
        },
    }
}

#[tokio::test]
async fn cancel_all_cancels_the_callers_open_orders_of_the_symbol() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    for _ in 0..3 {
        place_limit_buy(store.as_ref(), &demo, "1", "10").await;
    }
    let h = handler(&store);
    let resp = h.handle(sample("cancel-all-orders.json", |_| {})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(v["orders"].as_array().unwrap().len(), 3);
    assert_eq!(v["more"], false);
    assert!(
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "CANCELLED")
    );
    // A bad symbol is a 400 naming the parameter.
    let bad = h
        .handle(sample("cancel-all-orders.json", |v| {
            v["queryStringParameters"]["symbol"] = "aapl".into();
            v["rawQueryString"] = "symbol=aapl".into();
        }))
        .await;
    assert_eq!(bad.status(), 400);
    let p: Value = serde_json::from_str(&text(bad.body())).unwrap();
    assert_eq!(p["errors"][0]["field"], "symbol");
}

#[tokio::test]
async fn operator_routes_refuse_a_traders_token_with_403() {
    let store = Arc::new(MemoryStore::new());
    let h = handler(&store);
    for name in [
        "set-trading-state.json",
        "set-trader-trading-state.json",
        "operator-cancel-all.json",
    ] {
        let resp = h
            .handle(sample(name, |v| {
                v["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "orders/trade".into();
            }))
            .await;
        assert_eq!(resp.status(), 403, "{name}");
        let p: Value = serde_json::from_str(&text(resp.body())).unwrap();
        assert_eq!(
            p["detail"],
            "This route is for operators: the token must carry the orders/operate scope"
        );
    }
    assert_eq!(
        shared::ports::TradingControls::trading_state(store.as_ref(), &shared::domain::TradingScope::Deployment)
            .await
            .unwrap(),
        shared::domain::TradingState::Active
    );
}

#[tokio::test]
async fn an_operator_halts_the_deployment_and_reduces_a_trader_cancelling_their_orders() {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    store.fund_account(&demo, Decimal::from(10_000), None).await.unwrap();
    place_limit_buy(store.as_ref(), &demo, "1", "10").await;
    let h = handler(&store);
    let resp = h.handle(sample("set-trading-state.json", |_| {})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(
        (v["scope"].as_str(), v["previous_state"].as_str(), v["state"].as_str()),
        (Some("deployment"), Some("active"), Some("halted"))
    );

    let resp = h.handle(sample("set-trader-trading-state.json", |_| {})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(v["state"], "reducing");
    assert_eq!(v["cancelled"]["orders"].as_array().unwrap().len(), 1);
    assert_eq!(v["cancelled"]["orders"][0]["status"], "CANCELLED");

    // An unknown trader is 404; a reserved principal is not a trader.
    for who in ["nobody", "@deployment"] {
        let resp = h
            .handle(sample("set-trader-trading-state.json", |v| {
                v["pathParameters"]["trader"] = who.into();
            }))
            .await;
        assert_eq!(resp.status(), 404, "{who}");
    }
    // The deployment principal is never a caller.
    let resp = h
        .handle(sample("cancel-all-orders.json", |v| {
            v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "@deployment".into();
        }))
        .await;
    assert_eq!(resp.status(), 401);
}

/// The operator sample re-aimed at another route (issue 22's operator routes).
fn operator_request(method: &str, route: &str, query: &str, scope: &str) -> lambda_http::Request {
    let path = route.to_owned();
    let (method, route, query, scope) = (method.to_owned(), route.to_owned(), query.to_owned(), scope.to_owned());
    sample("operator-cancel-all.json", move |v| {
        let key = format!("{method} {route}");
        v["routeKey"] = key.clone().into();
        v["requestContext"]["routeKey"] = key.into();
        v["rawPath"] = path.clone().into();
        v["requestContext"]["http"]["path"] = path.into();
        v["requestContext"]["http"]["method"] = method.into();
        v["rawQueryString"] = query.clone().into();
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, val)| (k.to_owned(), Value::from(val)))
            .collect();
        v["queryStringParameters"] = params.into();
        v["pathParameters"] = Value::Null;
        v["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = scope.into();
    })
}

#[tokio::test]
async fn the_attention_and_dead_letter_routes_answer_operators_only() {
    use shared::adapters::memory::{MemoryDeadLetters, MemoryQueue};
    use shared::ports::WorkMessage;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let dlq = Arc::new(MemoryDeadLetters::new(queue.clone()));
    dlq.dead_letter(WorkMessage::Execute {
        trader_id: TraderId::parse("demo").unwrap(),
        order_id: shared::domain::OrderId::new(),
    });
    let mut h = handler(&store);
    let routes = [
        ("GET", "/api/v1/operator/attention", "kind=stalled"),
        ("GET", "/api/v1/operator/dead-letters", ""),
        ("POST", "/api/v1/operator/dead-letters/redrive", ""),
    ];
    // Without a dead-letter queue configured: 503.
    let resp = h
        .handle(operator_request("GET", routes[1].1, "", "orders/operate"))
        .await;
    assert_eq!(resp.status(), 503);
    h.operator.dead_letters = Some(dlq.clone());
    for (method, route, query) in routes {
        let resp = h.handle(operator_request(method, route, query, "orders/trade")).await;
        assert_eq!(resp.status(), 403, "{method} {route}");
    }
    assert_eq!(queue.len(), 0, "a trader moved nothing");

    let resp = h
        .handle(operator_request("GET", routes[0].1, "kind=stalled", "orders/operate"))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["records"].as_array().map(Vec::len)),
        (Some("stalled"), Some(0))
    );
    let resp = h
        .handle(operator_request("GET", routes[0].1, "kind=stuck", "orders/operate"))
        .await;
    assert_eq!(resp.status(), 400);
    let p: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert!(p.to_string().contains("kind"), "{p}");

    let resp = h
        .handle(operator_request("GET", routes[1].1, "", "orders/operate"))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(v, serde_json::json!({"messages": 1, "in_flight": 0}));
    let resp = h
        .handle(operator_request("POST", routes[2].1, "", "orders/operate"))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(v, serde_json::json!({"moved": 1, "more": false}));
    assert_eq!(queue.len(), 1, "back in the work queue");
}
