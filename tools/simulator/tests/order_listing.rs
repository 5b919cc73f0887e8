//! `GET /v2/orders` as Alpaca's Trading API document ("Trading API" 2.0.1) has it:
//! `status` (open by default), `limit` (50 by default, at most 500), `after` /
//! `until` and `after_order_id` / `before_order_id` (exclusive), `direction` (desc
//! by default), `symbols`, `side`, `nested`, `asset_class`; a bad parameter is 422
//! with Alpaca's error body.

mod support;

use serde_json::{Value, json};
use support::{Simulated, simulated};

async fn list(s: &Simulated, query: &str) -> (u16, Value) {
    let response = s
        .http
        .get(s.url(&format!("/v2/orders{query}")))
        .header("APCA-API-KEY-ID", "key")
        .header("APCA-API-SECRET-KEY", "secret")
        .send()
        .await
        .expect("sim reachable");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn ids(s: &Simulated, query: &str) -> Vec<String> {
    let (status, body) = list(s, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body.as_array()
        .unwrap_or_else(|| panic!("{query}: an array, got {body}"))
        .iter()
        .map(|o| o["client_order_id"].as_str().expect("client_order_id").to_owned())
        .collect()
}

async fn place(s: &Simulated, client: &str, symbol: &str, side: &str, limit: &str) {
    let response = s
        .http
        .post(s.url("/v2/orders"))
        .header("APCA-API-KEY-ID", "key")
        .header("APCA-API-SECRET-KEY", "secret")
        .json(
            &json!({"symbol": symbol, "qty": "1", "side": side, "type": "limit", "time_in_force": "gtc",
            "limit_price": limit, "client_order_id": client}),
        )
        .send()
        .await
        .expect("sim reachable");
    assert_eq!(response.status(), 200, "place {client}");
    // Distinct submission times, so the order by time is the order placed.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

#[tokio::test]
async fn open_orders_are_listed_newest_first_by_default_and_closed_ones_on_request() {
    let s = simulated().await;
    s.post("/_sim/prices", json!({"AAPL": "190", "MSFT": "400"})).await;
    place(&s, "a", "AAPL", "buy", "150").await;
    place(&s, "b", "MSFT", "buy", "300").await;
    place(&s, "c", "AAPL", "sell", "250").await;
    // "filled": a marketable buy fills at once and is no longer open.
    place(&s, "filled", "AAPL", "buy", "200").await;
    assert_eq!(
        ids(&s, "").await,
        ["c", "b", "a"],
        "status=open and desc are the defaults"
    );
    assert_eq!(ids(&s, "?status=open&direction=asc").await, ["a", "b", "c"]);
    assert_eq!(ids(&s, "?status=closed").await, ["filled"]);
    assert_eq!(ids(&s, "?status=all&direction=asc").await, ["a", "b", "c", "filled"]);
    assert_eq!(ids(&s, "?symbols=AAPL&direction=asc").await, ["a", "c"]);
    assert_eq!(ids(&s, "?symbols=MSFT,TSLA").await, ["b"]);
    assert_eq!(ids(&s, "?side=sell").await, ["c"]);
    assert_eq!(ids(&s, "?asset_class=us_option").await, Vec::<String>::new());
    assert_eq!(
        ids(&s, "?asset_class=us_equity&nested=true&direction=asc").await,
        ["a", "b", "c"]
    );
    let (_, body) = list(&s, "?status=all&direction=asc").await;
    let filled = &body[3];
    assert_eq!(filled["status"], "filled");
    assert_eq!(filled["filled_qty"], "1");
}

#[tokio::test]
async fn pages_by_limit_submission_time_and_order_id_with_nothing_missed_or_doubled() {
    let s = simulated().await;
    s.post("/_sim/prices", json!({"AAPL": "190"})).await;
    let names: Vec<String> = (0..7).map(|i| format!("o{i}")).collect();
    for name in &names {
        place(&s, name, "AAPL", "buy", "150").await;
    }
    let (_, all) = list(&s, "?direction=asc&limit=500").await;
    let all = all.as_array().cloned().expect("orders");
    assert_eq!(all.len(), 7);
    // By order id: after_order_id is exclusive, ascending pages of 3.
    let mut seen = Vec::new();
    let mut query = "?direction=asc&limit=3".to_owned();
    loop {
        let (status, page) = list(&s, &query).await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().cloned().expect("page");
        seen.extend(
            page.iter()
                .map(|o| o["client_order_id"].as_str().expect("id").to_owned()),
        );
        if page.len() < 3 {
            break;
        }
        let last = page[2]["id"].as_str().expect("id");
        query = format!("?direction=asc&limit=3&after_order_id={last}");
    }
    assert_eq!(seen, names, "every order once, in submission order");
    // before_order_id, newest first: the ones before the fourth.
    let fourth = all[3]["id"].as_str().expect("id");
    assert_eq!(ids(&s, &format!("?before_order_id={fourth}")).await, ["o2", "o1", "o0"]);
    // after / until on submission times, both exclusive.
    let at = |i: usize| all[i]["submitted_at"].as_str().expect("submitted_at").to_owned();
    let window = format!("?direction=asc&after={}&until={}", at(1), at(5));
    assert_eq!(ids(&s, &window).await, ["o2", "o3", "o4"]);
    // The default limit is 50.
    for i in 7..55 {
        place(&s, &format!("o{i}"), "AAPL", "buy", "150").await;
    }
    assert_eq!(ids(&s, "").await.len(), 50);
    assert_eq!(ids(&s, "?limit=500").await.len(), 55);
}

#[tokio::test]
async fn bad_parameters_are_refused_with_422_naming_them() {
    let s = simulated().await;
    place(&s, "a", "AAPL", "buy", "1").await;
    let (_, one) = list(&s, "").await;
    let id = one[0]["id"].as_str().expect("id").to_owned();
    for (query, names) in [
        ("?status=working", "status"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?direction=up", "direction"),
        ("?after=yesterday", "after"),
        ("?until=2026-13-01", "until"),
        ("?side=short", "side"),
        ("?nested=maybe", "nested"),
        ("?asset_class=stocks", "asset_class"),
        ("?after_order_id=nope", "after_order_id"),
        (
            &*format!("?after_order_id={id}&before_order_id={id}"),
            "before_order_id",
        ),
        (&*format!("?after_order_id={id}&after=2026-01-01"), "after"),
    ] {
        let (status, body) = list(&s, query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["code"], 42210000, "{query}: Alpaca's code: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{query}: the message names {names}: {message}");
    }
}
