// Long because: one scenario per behaviour of Alpaca's published document, each short; a suite read as one list.
//! The simulator answers as Alpaca's published Trading API document ("Trading API"
//! 2.0.1, `tools/simulator/spec/trading-api.json`) and Alpaca's streaming docs say:
//! error codes, the rate limit, `accepted` before `new`, asynchronous cancels,
//! `done_for_day`, replaced orders, the FILL activities and the `trade_updates`
//! stream. Everything here goes over HTTP (or WebSocket), as a client would.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::ports::{Venue, VenueError};
use support::{Harness, Simulated, dec, simulated_with};
use tokio_tungstenite::tungstenite::Message;

/// The knobs' defaults (the Alpaca timings, the rate limit), on a frozen clock.
async fn alpaca() -> Simulated {
    simulated_with(support::alpaca_config()).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(s: &Simulated, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
    let mut request = s
        .http
        .request(method, s.url(path))
        .header("APCA-API-KEY-ID", key)
        .header("APCA-API-SECRET-KEY", "secret");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sim reachable");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer { status, headers, body }
}

async fn get(s: &Simulated, path: &str) -> Answer {
    call(s, "key", reqwest::Method::GET, path, None).await
}

async fn post_order(s: &Simulated, body: Value) -> Answer {
    call(s, "key", reqwest::Method::POST, "/v2/orders", Some(body)).await
}

async fn delete(s: &Simulated, path: &str) -> Answer {
    call(s, "key", reqwest::Method::DELETE, path, None).await
}

fn limit_buy(client: &str, qty: &str, price: &str) -> Value {
    json!({"symbol": "AAPL", "qty": qty, "side": "buy", "type": "limit", "time_in_force": "gtc",
           "limit_price": price, "client_order_id": client})
}

fn market_buy(client: &str, qty: &str) -> Value {
    json!({"symbol": "AAPL", "qty": qty, "side": "buy", "type": "market", "time_in_force": "day",
           "client_order_id": client})
}

fn header(a: &Answer, name: &str) -> Option<i64> {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Polls `GET /v2/orders/{id}` until its status is `status` (or fails after 3 s).
async fn until_status(s: &Simulated, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let a = get(s, &format!("/v2/orders/{id}")).await;
        if a.body["status"] == status {
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("order {id} never became {status}");
}

#[tokio::test]
async fn errors_are_alpacas_body_with_alpacas_codes() {
    let s = alpaca().await;
    let missing = get(&s, "/v2/orders/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(
        (missing.status, &missing.body["code"]),
        (404, &json!(40410000)),
        "{}",
        missing.body
    );
    let invalid = post_order(
        &s,
        json!({"symbol": "AAPL", "qty": "0", "side": "buy", "type": "market",
        "time_in_force": "day"}),
    )
    .await;
    assert_eq!(
        (invalid.status, &invalid.body["code"]),
        (422, &json!(42210000)),
        "{}",
        invalid.body
    );
    let unauthorized = s.http.get(s.url("/v2/orders/x")).send().await.expect("sim reachable");
    assert_eq!(unauthorized.status().as_u16(), 401);
    assert_eq!(
        unauthorized.json::<Value>().await.expect("json")["code"],
        json!(40110000)
    );

    s.post("/_sim/config", json!({"buying_power": "1000"})).await;
    let rests = post_order(&s, limit_buy("bp-1", "6", "150")).await;
    assert_eq!(rests.status, 200, "900 of 1000: {}", rests.body);
    let refused = post_order(&s, limit_buy("bp-2", "1", "150")).await;
    assert_eq!(
        (refused.status, &refused.body["code"]),
        (403, &json!(40310000)),
        "{}",
        refused.body
    );
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("buying power"))
    );
    let sells = post_order(
        &s,
        json!({"symbol": "AAPL", "qty": "1", "side": "sell", "type": "market",
        "time_in_force": "day", "client_order_id": "bp-3"}),
    )
    .await;
    assert_eq!(sells.status, 200, "sells need no buying power: {}", sells.body);
    let sub_penny = post_order(&s, limit_buy("sp-1", "1", "150.001")).await;
    assert_eq!((sub_penny.status, &sub_penny.body["code"]), (422, &json!(42210000)));
}

#[tokio::test]
async fn the_rate_limit_is_per_key_with_alpacas_headers() {
    let s = alpaca().await;
    s.post("/_sim/config", json!({"rate_limit_per_min": 3})).await;
    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    for remaining in [2, 1, 0] {
        let a = get(&s, "/v2/orders/x").await;
        assert_eq!(a.status, 404);
        assert_eq!(
            (header(&a, "x-ratelimit-limit"), header(&a, "x-ratelimit-remaining")),
            (Some(3), Some(remaining))
        );
    }
    let limited = get(&s, "/v2/orders/x").await;
    assert_eq!(
        (limited.status, &limited.body["code"]),
        (429, &json!(42910000)),
        "{}",
        limited.body
    );
    assert_eq!(header(&limited, "x-ratelimit-remaining"), Some(0));
    let reset = header(&limited, "x-ratelimit-reset").expect("reset");
    assert!(reset > started && reset <= started + 61, "reset {reset}, now {started}");
    let other = call(&s, "another-key", reqwest::Method::GET, "/v2/orders/x", None).await;
    assert_eq!(other.status, 404, "the limit is per APCA-API-KEY-ID");
    assert_eq!(
        s.get("/_sim/config").await["rate_limit_per_min"],
        json!(3),
        "the admin endpoints are not limited"
    );
    let documented = support::alpaca_config().knobs.rate_limit_per_min;
    assert_eq!(documented, 200, "Alpaca's 200 a minute by default");
}

#[tokio::test]
async fn the_adapter_hands_the_rate_limits_reset_to_its_caller() {
    let s = alpaca().await;
    s.post("/_sim/config", json!({"rate_limit_per_min": 1})).await;
    let id = shared::domain::OrderId::new();
    assert_eq!(s.adapter.find(&id).await, Ok(None), "the minute's one request");
    match s.adapter.find(&id).await {
        Err(
            e @ VenueError::RateLimited {
                retry_after: Some(wait),
                ..
            },
        ) => {
            assert!(e.is_transient());
            assert!(
                wait >= Duration::from_secs(1) && wait <= Duration::from_secs(61),
                "{wait:?}"
            );
        }
        other => panic!("expected a rate limit with its wait, got {other:?}"),
    }
}

#[tokio::test]
async fn an_order_is_accepted_then_pending_new_before_it_works() {
    let s = alpaca().await;
    s.set_price("AAPL", "190.25").await;
    let placed = post_order(&s, market_buy("acc-1", "2")).await;
    assert_eq!(placed.status, 200);
    assert_eq!(
        (&placed.body["status"], &placed.body["filled_qty"]),
        (&json!("accepted"), &json!("0"))
    );
    for field in [
        "notional",
        "replaced_by",
        "replaces",
        "replaced_at",
        "filled_avg_price",
        "legs",
    ] {
        assert!(
            placed.body.get(field).is_some_and(Value::is_null),
            "{field}: {}",
            placed.body
        );
    }
    let id = placed.body["id"].as_str().expect("id").to_owned();
    let filled = until_status(&s, &id, "filled").await;
    assert_eq!(
        (&filled.body_str("filled_qty"), &filled.body_str("filled_avg_price")),
        (&"2".to_owned(), &"190.25".to_owned())
    );
}

#[tokio::test]
async fn a_cancel_answers_204_and_goes_through_pending_cancel() {
    let s = alpaca().await;
    s.post("/_sim/config", json!({"cancel_ms": 300})).await;
    s.set_price("AAPL", "190").await;
    let placed = post_order(&s, limit_buy("c-1", "3", "100")).await;
    let id = placed.body["id"].as_str().expect("id").to_owned();
    until_status(&s, &id, "new").await;
    let first = delete(&s, &format!("/v2/orders/{id}")).await;
    assert_eq!((first.status, &first.body), (204, &Value::Null));
    assert_eq!(
        get(&s, &format!("/v2/orders/{id}")).await.body["status"],
        "pending_cancel"
    );
    let again = delete(&s, &format!("/v2/orders/{id}")).await;
    assert_eq!(again.status, 204, "still cancelable while pending_cancel");
    let done = until_status(&s, &id, "canceled").await;
    assert!(done["canceled_at"].is_string());
    let late = delete(&s, &format!("/v2/orders/{id}")).await;
    assert_eq!((late.status, &late.body["code"]), (422, &json!(42210000)));
}

#[tokio::test]
async fn outside_the_session_orders_wait_accepted_and_working_ones_are_done_for_day() {
    let s = alpaca().await;
    s.set_price("AAPL", "190").await;
    let resting = post_order(&s, limit_buy("d-1", "1", "180")).await;
    let resting = resting.body["id"].as_str().expect("id").to_owned();
    until_status(&s, &resting, "new").await;
    s.post("/_sim/config", json!({"market_open": false})).await;
    assert_eq!(
        get(&s, &format!("/v2/orders/{resting}")).await.body["status"],
        "done_for_day"
    );
    let waiting = post_order(&s, market_buy("d-2", "1")).await;
    let waiting = waiting.body["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        get(&s, &format!("/v2/orders/{waiting}")).await.body["status"],
        "accepted"
    );
    s.set_price("AAPL", "170").await;
    let closed = get(&s, &format!("/v2/orders/{resting}")).await.body;
    assert_eq!(
        (&closed["status"], &closed["filled_qty"]),
        (&json!("done_for_day"), &json!("0"))
    );
    s.post("/_sim/config", json!({"market_open": true})).await;
    until_status(&s, &waiting, "filled").await;
    s.set_price("AAPL", "179.5").await;
    let opened = until_status(&s, &resting, "filled").await;
    assert_eq!(opened["filled_avg_price"], "179.5");
}

#[tokio::test]
async fn a_replaced_order_names_its_replacement_which_works_on() {
    let s = alpaca().await;
    s.set_price("AAPL", "190").await;
    let placed = post_order(&s, limit_buy("r-1", "10", "150")).await;
    let old = placed.body["id"].as_str().expect("id").to_owned();
    until_status(&s, &old, "new").await;
    let new = s
        .post("/_sim/replace", json!({"client_order_id": "r-1", "limit_price": "75"}))
        .await;
    let new_id = new["id"].as_str().expect("id").to_owned();
    assert_ne!(new_id, old);
    assert_eq!(new["replaces"], json!(old));
    assert_ne!(
        new["client_order_id"], "r-1",
        "a replacement has its own client order id"
    );
    assert_eq!((&new["qty"], &new["limit_price"]), (&json!("10"), &json!("75")));
    let by_client = get(&s, "/v2/orders:by_client_order_id?client_order_id=r-1").await.body;
    assert_eq!(
        (&by_client["id"], &by_client["status"], &by_client["replaced_by"]),
        (&json!(old), &json!("replaced"), &json!(new_id))
    );
    assert!(by_client["replaced_at"].is_string());
    let cancel_old = delete(&s, &format!("/v2/orders/{old}")).await;
    assert_eq!(cancel_old.status, 422, "a replaced order is final");
    s.set_price("AAPL", "74.5").await;
    let filled = until_status(&s, &new_id, "filled").await;
    assert_eq!(filled["filled_avg_price"], "74.5");
    assert_eq!(get(&s, &format!("/v2/orders/{old}")).await.body["filled_qty"], "0");
}

/// Every page of `path` (which has its query started) followed by `page_token`.
async fn all_pages(s: &Simulated, path: &str, page_size: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let url = match &token {
            None => format!("{path}&page_size={page_size}"),
            Some(t) => format!("{path}&page_size={page_size}&page_token={t}"),
        };
        let page = get(s, &url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.body);
        let items = page.body.as_array().cloned().expect("an array");
        assert!(items.len() <= page_size);
        let Some(last) = items.last() else { return out };
        token = last["id"].as_str().map(str::to_owned);
        out.extend(items);
    }
    panic!("paging never ended");
}

#[tokio::test]
async fn every_execution_is_a_fill_activity_paged_as_the_document_says() {
    let s = alpaca().await;
    s.post("/_sim/config", json!({"partial_fill_rate": 1.0})).await;
    s.set_price("AAPL", "190").await;
    let placed = post_order(&s, limit_buy("f-1", "9", "150")).await;
    let id = placed.body["id"].as_str().expect("id").to_owned();
    until_status(&s, &id, "new").await;
    // 9 fills in parts: 4 @ 149.99, 2 @ 149.37, 1 @ 148.01, 1 @ 148.02, 1 @ 148.03.
    for price in ["149.99", "149.37", "148.01", "148.02", "148.03"] {
        s.set_price("AAPL", price).await;
    }
    let order = until_status(&s, &id, "filled").await;
    let fills = all_pages(&s, "/v2/account/activities/FILL?direction=asc", 2).await;
    assert_eq!(fills.len(), 5, "{fills:?}");
    let ids: BTreeSet<&str> = fills.iter().filter_map(|f| f["id"].as_str()).collect();
    assert_eq!(ids.len(), 5, "each execution has its own id");
    let (mut cum, mut notional) = (Decimal::ZERO, Decimal::ZERO);
    for f in &fills {
        let (qty, price) = (
            dec(f["qty"].as_str().expect("qty")),
            dec(f["price"].as_str().expect("price")),
        );
        cum += qty;
        notional += qty * price;
        assert_eq!(price, price.round_dp(2), "whole cents above $1");
        assert_eq!(dec(f["cum_qty"].as_str().expect("cum_qty")), cum);
        assert_eq!(dec(f["leaves_qty"].as_str().expect("leaves")), dec("9") - cum);
        assert_eq!(
            (&f["order_id"], &f["side"], &f["symbol"]),
            (&json!(id), &json!("buy"), &json!("AAPL"))
        );
        assert_eq!(f["activity_type"], "FILL");
        let kind = if cum == dec("9") { "fill" } else { "partial_fill" };
        assert_eq!(f["type"], kind);
        assert!(f["transaction_time"].is_string());
        let activity_id = f["id"].as_str().expect("id");
        assert!(activity_id.contains("::"), "Alpaca's `<time>::<id>`: {activity_id}");
    }
    assert_eq!(cum, dec(order["filled_qty"].as_str().expect("filled_qty")));
    let average = dec(order["filled_avg_price"].as_str().expect("average"));
    assert_eq!(
        notional / cum,
        average,
        "the order's average derives exactly from its executions"
    );

    let newest_first = all_pages(&s, "/v2/account/activities?activity_types=FILL", 3).await;
    let reversed: Vec<Value> = fills.iter().rev().cloned().collect();
    assert_eq!(newest_first, reversed, "desc by default, the same activities");
    let after = fills[2]["transaction_time"].as_str().expect("time");
    let later = get(&s, &format!("/v2/account/activities/FILL?direction=asc&after={after}")).await;
    let later = later.body.as_array().cloned().expect("array");
    assert!(later.iter().all(|f| f["transaction_time"].as_str() > Some(after)));
    let none = get(&s, "/v2/account/activities/DIV").await;
    assert_eq!((none.status, &none.body), (200, &json!([])));
    for bad in [
        "/v2/account/activities/FILL?direction=up",
        "/v2/account/activities/FILL?page_size=101",
        "/v2/account/activities/FILL?after=yesterday",
        "/v2/account/activities/FILL?page_token=nope",
        "/v2/account/activities/NOPE",
    ] {
        let a = get(&s, bad).await;
        assert_eq!(
            (a.status, &a.body["code"]),
            (400, &json!(40010000)),
            "{bad}: {}",
            a.body
        );
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &Simulated) -> Ws {
    let url = format!("ws://{}/stream", s.sim.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("stream connects");
    ws
}

/// The next JSON message, text or binary; `None` when the connection ends or
/// nothing comes within `wait`.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
        let bytes = match message {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            Message::Close(_) => return None,
            _ => continue,
        };
        return serde_json::from_slice(&bytes).ok();
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("sent");
}

async fn listening(s: &Simulated) -> Ws {
    let mut ws = connect(s).await;
    send(&mut ws, json!({"action": "auth", "key": "key", "secret": "secret"})).await;
    let auth = next_json(&mut ws, Duration::from_secs(2)).await.expect("auth answer");
    assert_eq!(
        (&auth["stream"], &auth["data"]["status"]),
        (&json!("authorization"), &json!("authorized"))
    );
    send(
        &mut ws,
        json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
    )
    .await;
    let ack = next_json(&mut ws, Duration::from_secs(2)).await.expect("listen answer");
    assert_eq!(
        ack,
        json!({"stream": "listening", "data": {"streams": ["trade_updates"]}})
    );
    ws
}

#[tokio::test]
async fn trade_updates_stream_every_event_and_each_execution() {
    let s = alpaca().await;
    s.post("/_sim/config", json!({"partial_fill_rate": 1.0, "cancel_ms": 50}))
        .await;
    s.set_price("AAPL", "190").await;
    let mut ws = listening(&s).await;
    let placed = post_order(&s, limit_buy("s-1", "4", "150")).await;
    let id = placed.body["id"].as_str().expect("id").to_owned();
    until_status(&s, &id, "new").await;
    s.set_price("AAPL", "149.5").await;
    until_status(&s, &id, "partially_filled").await;
    delete(&s, &format!("/v2/orders/{id}")).await;
    until_status(&s, &id, "canceled").await;
    let mut events = Vec::new();
    while let Some(m) = next_json(&mut ws, Duration::from_millis(500)).await {
        assert_eq!(m["stream"], "trade_updates");
        assert_eq!(m["data"]["order"]["id"], json!(id));
        assert!(m["data"]["timestamp"].is_string());
        events.push(m["data"].clone());
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        names,
        vec![
            "accepted",
            "pending_new",
            "new",
            "partial_fill",
            "pending_cancel",
            "canceled"
        ],
        "{events:?}"
    );
    let fill = &events[3];
    assert_eq!(
        (&fill["price"], &fill["qty"], &fill["position_qty"]),
        (&json!("149.5"), &json!("2"), &json!("2"))
    );
    let activity = get(&s, "/v2/account/activities/FILL").await.body;
    let activity_id = activity[0]["id"].as_str().expect("id");
    let execution_id = fill["execution_id"].as_str().expect("execution_id");
    assert!(
        activity_id.ends_with(&format!("::{execution_id}")),
        "the activity names the streamed execution: {activity_id} / {execution_id}"
    );

    let mut refused = connect(&s).await;
    send(&mut refused, json!({"action": "auth", "key": "", "secret": ""})).await;
    let no = next_json(&mut refused, Duration::from_secs(2)).await.expect("answer");
    assert_eq!(no["data"]["status"], "unauthorized");
}

#[tokio::test]
async fn the_stream_can_be_dropped_and_delayed() {
    let s = alpaca().await;
    s.set_price("AAPL", "190").await;
    let mut ws = listening(&s).await;
    s.post("/_sim/stream/drop", json!({})).await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(2)).await,
        None,
        "connection closed"
    );
    let missed = post_order(&s, limit_buy("x-1", "1", "150")).await;
    until_status(&s, missed.body["id"].as_str().expect("id"), "new").await;

    s.post("/_sim/config", json!({"stream_delay_ms": 400})).await;
    let mut ws = listening(&s).await;
    let started = std::time::Instant::now();
    post_order(&s, limit_buy("x-2", "1", "150")).await;
    let first = next_json(&mut ws, Duration::from_secs(3)).await.expect("an update");
    assert_eq!(
        first["data"]["order"]["client_order_id"], "x-2",
        "nothing from before the listen"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

trait BodyStr {
    fn body_str(&self, field: &str) -> String;
}

impl BodyStr for Value {
    fn body_str(&self, field: &str) -> String {
        self[field].as_str().unwrap_or_default().to_owned()
    }
}
