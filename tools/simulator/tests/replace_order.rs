//! `PATCH /v2/orders/{order_id}`, Alpaca's replace (issue 20), as the published
//! document says: each given field overrides the working order's, the rest stay; the
//! old order becomes `replaced` naming the new one, which `replaces` it; an order that
//! is not working cannot be replaced.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Harness, Simulated, simulated_with};

async fn call(s: &Simulated, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = s
        .http
        .request(method, s.url(path))
        .header("APCA-API-KEY-ID", "key")
        .header("APCA-API-SECRET-KEY", "secret");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("sim reachable");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn patch(s: &Simulated, id: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::PATCH, &format!("/v2/orders/{id}"), Some(body)).await
}

async fn get(s: &Simulated, path: &str) -> Value {
    call(s, reqwest::Method::GET, path, None).await.1
}

async fn until_status(s: &Simulated, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let o = get(s, &format!("/v2/orders/{id}")).await;
        if o["status"] == status {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("order {id} never became {status}");
}

#[tokio::test]
async fn a_patch_replaces_the_working_order_with_the_changes() {
    let s = simulated_with(support::alpaca_config()).await;
    s.set_price("AAPL", "190").await;
    let (_, placed) = call(
        &s,
        reqwest::Method::POST,
        "/v2/orders",
        Some(
            json!({"symbol": "AAPL", "qty": "10", "side": "buy", "type": "limit", "time_in_force": "day",
            "limit_price": "150", "client_order_id": "p-1"}),
        ),
    )
    .await;
    let old = placed["id"].as_str().expect("id").to_owned();
    // Not working yet (`accepted`): Alpaca refuses the replace.
    let (early, _) = patch(&s, &old, json!({"limit_price": "155"})).await;
    assert_eq!(early, 422, "an accepted order cannot be replaced");
    until_status(&s, &old, "new").await;

    let (status, new) = patch(
        &s,
        &old,
        json!({"qty": "4", "limit_price": "155", "time_in_force": "gtc", "client_order_id": "p-1-r"}),
    )
    .await;
    assert_eq!(status, 200, "{new}");
    let new_id = new["id"].as_str().expect("id").to_owned();
    assert_ne!(new_id, old);
    assert_eq!(
        (
            &new["replaces"],
            &new["qty"],
            &new["limit_price"],
            &new["time_in_force"],
            &new["client_order_id"]
        ),
        (&json!(old), &json!("4"), &json!("155"), &json!("gtc"), &json!("p-1-r"))
    );
    assert_eq!((&new["side"], &new["type"]), (&json!("buy"), &json!("limit")));
    let replaced = get(&s, &format!("/v2/orders/{old}")).await;
    assert_eq!(
        (&replaced["status"], &replaced["replaced_by"]),
        (&json!("replaced"), &json!(new_id))
    );

    // The replaced order is final; an unknown one is not found; a bad field is refused.
    assert_eq!(patch(&s, &old, json!({"qty": "5"})).await.0, 422);
    assert_eq!(
        patch(&s, "00000000-0000-4000-8000-000000000000", json!({"qty": "5"}))
            .await
            .0,
        404
    );
    assert_eq!(patch(&s, &new_id, json!({"time_in_force": "forever"})).await.0, 422);
    assert_eq!(patch(&s, &new_id, json!({"qty": "-1"})).await.0, 422);

    // Unchanged fields stay: the replacement of the replacement keeps qty 4 and gtc.
    until_status(&s, &new_id, "new").await;
    let (status, third) = patch(&s, &new_id, json!({"limit_price": "160"})).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(
        (&third["qty"], &third["limit_price"], &third["time_in_force"]),
        (&json!("4"), &json!("160"), &json!("gtc"))
    );
}

/// The Alpaca adapter's `Venue::replace` against the simulator: the new version's id
/// is the replacing order's client order id, and `find` shows the old one replaced.
#[tokio::test]
async fn the_alpaca_adapter_replaces_under_the_new_versions_id() {
    use shared::domain::OrderId;
    use shared::ports::{Venue, VenueError, VenueReplace, VenueStatus};
    let s = support::simulated().await;
    s.set_price("AAPL", "190").await;
    let order = support::order(json!({"type": "limit", "limit_price": "150", "time_in_force": "gtc"}));
    let placed = s.adapter.place(&order).await.expect("placed");
    let next = OrderId::new();
    let changes = VenueReplace {
        client_order_id: next,
        qty: Some(support::dec("4")),
        limit_price: Some(support::dec("155")),
        stop_price: None,
        time_in_force: None,
    };
    let new = s
        .adapter
        .replace(&placed.venue_order_id, &changes)
        .await
        .expect("replaced");
    assert_eq!((new.client_order_id, &new.status), (next, &VenueStatus::New));
    assert_ne!(new.venue_order_id, placed.venue_order_id);
    let old = s.adapter.find(&order.order_id).await.expect("found").expect("an order");
    assert_eq!(
        (old.status, old.replaced_by.as_deref()),
        (VenueStatus::Replaced, Some(new.venue_order_id.as_str()))
    );
    let again = s.adapter.replace(&placed.venue_order_id, &changes).await;
    assert!(matches!(again, Err(VenueError::NotCancelable(_))), "{again:?}");
    let unknown = s
        .adapter
        .replace("00000000-0000-4000-8000-000000000000", &changes)
        .await;
    assert_eq!(unknown, Err(VenueError::NotFound));
}
