//! The query handler on the sample events (`events/*.json`), in-memory ports.

use std::sync::Arc;

use lambda_http::Body;
use query::Query;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::adapters::memory::MemoryStore;
use shared::app::fixtures::place_limit_buy;
use shared::domain::{Order, TraderId};
use shared::ports::{OrderStore, SystemClock};

fn event(file: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let path = format!("{}/../../events/{file}.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    // lambda_http reads an HTTP API event's query from `rawQueryString`.
    if let Some(q) = v["queryStringParameters"].as_object() {
        let raw: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        v["rawQueryString"] = raw.join("&").into();
    }
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn with_id(id: &str) -> impl FnOnce(&mut Value) + '_ {
    move |v| v["pathParameters"]["id"] = id.into()
}

async fn body(h: &Query, req: lambda_http::Request) -> (u16, Value) {
    let resp = h.handle(req).await;
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    (resp.status().as_u16(), serde_json::from_str(&text).unwrap())
}

async fn world() -> (Query, Vec<Order>) {
    let store = Arc::new(MemoryStore::new());
    let demo = TraderId::parse("demo").unwrap();
    let mut orders = Vec::new();
    for _ in 0..3 {
        store.fund_account(&demo, Decimal::from(1_000), None).await.unwrap();
        orders.push(place_limit_buy(store.as_ref(), &demo, "1", "10").await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    (
        Query {
            store: store.clone(),
            audit: store,
            clock: Arc::new(SystemClock),
        },
        orders,
    )
}

#[tokio::test]
async fn every_read_route_answers_for_the_owner_only() {
    let (h, orders) = world().await;
    let id = orders[0].order_id.to_string();

    let (status, order) = body(&h, event("get-order", with_id(&id))).await;
    assert_eq!((status, order["order_id"].as_str()), (200, Some(id.as_str())));
    let (status, _) = body(
        &h,
        event("get-order", |v| {
            v["pathParameters"]["id"] = id.clone().into();
            v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "mallory".into();
        }),
    )
    .await;
    assert_eq!(status, 404);

    let (status, fills) = body(&h, event("get-fills", with_id(&id))).await;
    assert_eq!((status, fills), (200, json!({"fills": []})));
    let (status, audit) = body(&h, event("get-audit", with_id(&id))).await;
    assert_eq!(status, 200);
    assert_eq!(audit["records"][0]["action"], "SUBMIT");

    let (status, account) = body(&h, event("get-account", |_| {})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (account["cash"].as_str(), account["reserved"].as_str()),
        (Some("3000"), Some("30.00"))
    );
    assert_eq!(account["buying_power"], "2970.00");

    let (status, health) = body(&h, event("health", |_| {})).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn the_list_pages_newest_first_and_refuses_bad_parameters() {
    let (h, orders) = world().await;
    let (status, page) = body(
        &h,
        event("list-orders", |v| v["queryStringParameters"]["limit"] = "2".into()),
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [orders[2].order_id.to_string(), orders[1].order_id.to_string()]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = body(
        &h,
        event("list-orders", |v| v["queryStringParameters"]["cursor"] = cursor.into()),
    )
    .await;
    assert_eq!(
        rest["orders"][0]["order_id"].as_str(),
        Some(orders[0].order_id.to_string().as_str())
    );
    assert_eq!(rest["next_cursor"], Value::Null);

    for (param, value) in [
        ("limit", "0"),
        ("limit", "abc"),
        ("status", "DONE"),
        ("cursor", "forged"),
        ("after", "yesterday"),
        ("until", "2026-02-30T00:00:00Z"),
        ("symbols", "AAPL,"),
        ("side", "short"),
        ("direction", "sideways"),
    ] {
        let (status, p) = body(
            &h,
            event("list-orders", |v| v["queryStringParameters"][param] = value.into()),
        )
        .await;
        assert_eq!(status, 400, "{param}={value}");
        assert_eq!(p["errors"][0]["field"], param);
    }
}

#[tokio::test]
async fn an_order_is_found_by_its_client_order_id_for_its_owner_only() {
    let (h, _) = world().await;
    let demo = TraderId::parse("demo").unwrap();
    let body_json = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1",
        "limit_price": "10", "client_order_id": "my-first-order"});
    let account = h.store.get_account(&demo).await.unwrap().unwrap();
    let new = shared::app::plan_submit(
        shared::domain::OrderId::new(),
        shared::domain::validate_order(&body_json).unwrap(),
        &account,
        &shared::domain::Pricing::default(),
        &shared::app::AuditContext::system("test"),
        shared::domain::Timestamp::now(),
    )
    .unwrap();
    let placed = new.order.order_id.to_string();
    h.store.create_order(new).await.unwrap();

    let (status, order) = body(&h, event("get-order-by-client-order-id", |_| {})).await;
    assert_eq!((status, order["order_id"].as_str()), (200, Some(placed.as_str())));
    let (status, _) = body(
        &h,
        event("get-order-by-client-order-id", |v| {
            v["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "mallory".into();
        }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, p) = body(
        &h,
        event("get-order-by-client-order-id", |v| {
            v["queryStringParameters"]["client_order_id"] = "".into();
        }),
    )
    .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("client_order_id"))
    );
}
