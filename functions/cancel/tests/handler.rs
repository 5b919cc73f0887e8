//! The cancel handler on the sample event (`events/cancel-order.json`), in-memory ports.

use std::sync::Arc;

use cancel::Cancel;
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
