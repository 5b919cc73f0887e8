//! The submit handler on the sample API Gateway v2 event (`events/submit-order.json`),
//! over in-memory ports.

use std::sync::Arc;

use lambda_http::Body;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::adapters::memory::MemoryStore;
use shared::domain::{Pricing, TraderId};
use shared::ports::{OrderStore, SystemClock};
use submit::Submit;

const EVENT: &str = include_str!("../../../events/submit-order.json");

async fn handler(cash: i64) -> Submit {
    let store = Arc::new(MemoryStore::new());
    store
        .fund_account(&TraderId::parse("demo").unwrap(), Decimal::from(cash), None)
        .await
        .unwrap();
    Submit {
        store,
        clock: Arc::new(SystemClock),
        pricing: Pricing::default(),
        market_data: None,
        queue: None,
    }
}

fn event(edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let mut v: Value = serde_json::from_str(EVENT).unwrap();
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn text(body: &Body) -> String {
    match body {
        Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn the_sample_event_creates_an_order_and_its_retry_replays() {
    let h = handler(100_000).await;
    let first = h.handle(event(|_| {})).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["content-type"], "application/json");
    let order: Value = serde_json::from_str(&text(first.body())).unwrap();
    assert_eq!(
        (order["status"].as_str(), order["client_order_id"].as_str()),
        (Some("PENDING"), Some("my-first-order"))
    );
    let again = h.handle(event(|_| {})).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(text(again.body()), text(first.body()));
}

#[tokio::test]
async fn a_request_without_verified_claims_is_401() {
    let h = handler(100_000).await;
    let resp = h
        .handle(event(|v| v["requestContext"]["authorizer"] = Value::Null))
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = h
        .handle(event(|v| {
            v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "a#b".into()
        }))
        .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn malformed_json_is_400_and_a_risk_refusal_is_422() {
    let h = handler(100).await;
    let resp = h.handle(event(|v| v["body"] = "{\"symbol\":".into())).await;
    assert_eq!(resp.status(), 400);
    let resp = h.handle(event(|_| {})).await;
    assert_eq!(resp.status(), 422);
    let p: Value = serde_json::from_str(&text(resp.body())).unwrap();
    assert_eq!(
        p["detail"],
        "Insufficient funds for $1,502.50 order; available: $100.00"
    );
}

#[tokio::test]
async fn counted_answers_carry_the_rate_budget_and_uncounted_ones_do_not() {
    let h = handler(100_000).await;
    let header =
        |r: &lambda_http::Response<Body>, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let first = h.handle(event(|_| {})).await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "x-ratelimit-limit").as_deref(), Some("100"));
    assert_eq!(header(&first, "x-ratelimit-remaining").as_deref(), Some("99"));
    let reset: i64 = header(&first, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert_eq!(reset % 60, 0, "the next whole minute");
    let replay = h.handle(event(|_| {})).await;
    assert_eq!(header(&replay, "x-ratelimit-remaining").as_deref(), Some("98"));
    let malformed = h.handle(event(|v| v["body"] = "{not json".into())).await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(header(&malformed, "x-ratelimit-limit"), None);
}

#[tokio::test]
async fn the_close_position_sample_sells_half_and_its_retry_replays() {
    let mut h = handler(1_000).await;
    h.pricing.reference.insert(
        shared::domain::Symbol::parse("AAPL").unwrap(),
        shared::domain::Price::parse(Decimal::from(150)).unwrap(),
    );
    let demo = TraderId::parse("demo").unwrap();
    let aapl = shared::domain::Symbol::parse("AAPL").unwrap();
    h.store
        .deposit_position(&demo, &aapl, Decimal::from(3), Decimal::from(150))
        .await
        .unwrap();
    let close = || {
        let v: Value = serde_json::from_str(include_str!("../../../events/close-position.json")).unwrap();
        lambda_http::request::from_str(&v.to_string()).unwrap()
    };
    let first = h.handle(close()).await;
    assert_eq!(first.status(), 201, "{}", text(first.body()));
    let order: Value = serde_json::from_str(&text(first.body())).unwrap();
    assert_eq!(
        (
            order["side"].as_str(),
            order["type"].as_str(),
            order["quantity"].as_str()
        ),
        (Some("sell"), Some("market"), Some("1.5"))
    );
    let account = h.store.get_account(&demo).await.unwrap().unwrap();
    assert_eq!(account.position(&aapl).unwrap().reserved, Decimal::new(15, 1));
    let again = h.handle(close()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(text(again.body()), text(first.body()));
}

const REPLACE: &str = include_str!("../../../events/replace-order.json");

#[tokio::test]
async fn the_replace_sample_event_replaces_a_working_order_and_its_retry_replays() {
    use shared::app::{AuditContext, plan_transition};
    use shared::domain::{OrderEvent, OrderId, Timestamp};
    let h = handler(100_000).await;
    // The sample's order does not exist: 404.
    let replace = |id: &str| {
        let mut v: Value = serde_json::from_str(REPLACE).unwrap();
        v["pathParameters"]["id"] = id.into();
        v["rawPath"] = format!("/api/v1/orders/{id}").into();
        lambda_http::request::from_str(&v.to_string()).unwrap()
    };
    let missing = h.handle(replace("01JDZ8Q4Y6P7X2M3N4B5C6D7E8")).await;
    assert_eq!(missing.status(), 404);
    // An order the venue works (claimed): the replace is accepted, and its retry replays.
    let created = h.handle(event(|_| {})).await;
    let order: Value = serde_json::from_str(&text(created.body())).unwrap();
    let id = order["order_id"].as_str().unwrap().to_owned();
    let trader = TraderId::parse("demo").unwrap();
    let stored = h
        .store
        .get_order(&trader, &OrderId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let claim = plan_transition(
        &stored,
        &OrderEvent::Claim,
        None,
        &AuditContext::system("t"),
        Timestamp::now(),
    )
    .unwrap();
    h.store.transition(claim).await.unwrap();
    let first = h.handle(replace(&id)).await;
    assert_eq!(first.status(), 200, "{}", text(first.body()));
    let replaced: Value = serde_json::from_str(&text(first.body())).unwrap();
    assert_eq!(replaced["status"], "REPLACE_REQUESTED");
    assert_eq!(replaced["pending_replace"]["limit_price"], "151.10");
    let again = h.handle(replace(&id)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(text(again.body()), text(first.body()));
}
