//! The simulator's own behaviour over HTTP: auth, bad input, knobs, the price path
//! and its clock, the listing, reset, and its state file across restarts.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use shared::ports::{Venue, VenueError, VenueStatus};
use support::{Harness, Simulated, adapter_for, dec, frozen_config, order, simulated, simulated_with};

async fn raw(s: &Simulated, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = s
        .http
        .request(method, s.url(path))
        .header("APCA-API-KEY-ID", "k")
        .header("APCA-API-SECRET-KEY", "s");
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.expect("sim reachable");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn is_alpaca_error(v: &Value) -> bool {
    v["code"].is_u64() && v["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[tokio::test]
async fn requests_without_the_key_headers_get_401_in_alpacas_shape() {
    let s = simulated().await;
    let response = s
        .http
        .get(s.url("/v2/orders:by_client_order_id?client_order_id=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(is_alpaca_error(&response.json().await.unwrap()));
    let only_id = s
        .http
        .post(s.url("/v2/orders"))
        .header("APCA-API-KEY-ID", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(only_id.status().as_u16(), 401);
}

#[tokio::test]
async fn bad_input_is_a_json_400_or_422_and_places_nothing() {
    let s = simulated().await;
    let post = reqwest::Method::POST;
    for (body, status) in [
        ("{not json", 400),
        ("null", 400),
        (
            r#"{"symbol":"no good","qty":"1","side":"buy","type":"market","time_in_force":"day"}"#,
            422,
        ),
        (
            r#"{"symbol":"AAPL","qty":"0","side":"buy","type":"market","time_in_force":"day"}"#,
            422,
        ),
        (
            r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"day"}"#,
            422,
        ),
    ] {
        let (got, answer) = raw(&s, post.clone(), "/v2/orders", Some(body)).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(is_alpaca_error(&answer), "{answer}");
    }
    assert_eq!(s.get("/_sim/orders").await["orders"].as_array().map(Vec::len), Some(0));
    let (got, answer) = raw(&s, reqwest::Method::GET, "/v2/orders:by_client_order_id", None).await;
    assert_eq!((got, is_alpaca_error(&answer)), (422, true), "client_order_id missing");
    let (got, _) = raw(&s, reqwest::Method::GET, "/nowhere", None).await;
    assert_eq!(got, 404);
    let (got, answer) = raw(&s, post, "/_sim/config", Some(r#"{"error_rate": 3}"#)).await;
    assert_eq!((got, is_alpaca_error(&answer)), (422, true));
    assert_eq!(
        s.get("/_sim/config").await["error_rate"],
        json!(0.0),
        "a refused patch changes nothing"
    );
}

#[tokio::test]
async fn knobs_update_partially_and_errors_are_500_or_503() {
    let s = simulated().await;
    let before = s.get("/_sim/config").await;
    let after = s
        .post("/_sim/config", json!({"error_rate": 1.0, "latency_ms": 5}))
        .await;
    assert_eq!(
        (after["error_rate"].as_f64(), after["latency_ms"].as_u64()),
        (Some(1.0), Some(5))
    );
    assert_eq!(after["day_ms"], before["day_ms"], "untouched knobs stay");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (status, answer) = raw(&s, reqwest::Method::GET, "/v2/orders/x", None).await;
        assert!(is_alpaca_error(&answer));
        seen.insert(status);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![500, 503]);
}

#[tokio::test]
async fn a_dropped_answer_is_a_transport_error_not_a_status() {
    let s = simulated().await;
    s.post("/_sim/config", json!({"drop_response_rate": 1.0})).await;
    let body =
        r#"{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":"d1"}"#;
    let sent = s
        .http
        .post(s.url("/v2/orders"))
        .header("APCA-API-KEY-ID", "k")
        .header("APCA-API-SECRET-KEY", "s")
        .body(body)
        .send()
        .await;
    let outcome = match sent {
        Err(e) => Err(e),
        Ok(response) => response.bytes().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "nothing readable came back");
    assert_eq!(
        s.get("/_sim/orders?client_order_id=d1").await["orders"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn the_price_path_is_seeded_and_resting_orders_fill_where_it_crosses() {
    let (a, b) = (simulated().await, simulated().await);
    let o = order(json!({"type": "limit", "limit_price": "99.95", "time_in_force": "gtc"}));
    a.adapter.place(&o).await.expect("placed at 100");
    b.set_price("AAPL", "100").await;
    let mut crossed = false;
    for _ in 0..3000 {
        let (pa, pb) = (
            a.post("/_sim/tick", json!({})).await,
            b.post("/_sim/tick", json!({})).await,
        );
        assert_eq!(pa["prices"], pb["prices"], "same seed, same path");
        let price = dec(pa["prices"]["AAPL"].as_str().expect("AAPL priced"));
        let found = a.adapter.find(&o.order_id).await.expect("find").expect("found");
        if price <= dec("99.95") {
            assert_eq!(found.status, VenueStatus::Filled);
            assert_eq!(found.average_fill_price, Some(price), "filled at the crossing price");
            crossed = true;
            break;
        }
        assert_eq!(found.status, VenueStatus::New, "at {price}");
    }
    assert!(crossed, "the walk never reached the limit");
    let mut other = frozen_config();
    other.seed = 7;
    let c = simulated_with(other).await;
    c.set_price("AAPL", "100").await;
    let (pb, pc) = (
        b.post("/_sim/tick", json!({"ticks": 50})).await,
        c.post("/_sim/tick", json!({"ticks": 50})).await,
    );
    assert_ne!(pb["prices"], pc["prices"], "another seed, another path");
}

#[tokio::test]
async fn the_clock_ticks_on_its_own_and_a_stop_triggers_when_crossed() {
    let mut config = frozen_config();
    config.knobs.tick_ms = 5;
    let s = simulated_with(config).await;
    s.set_price("AAPL", "100").await;
    let stop = order(json!({"side": "sell", "type": "stop", "stop_price": "0.01", "time_in_force": "gtc"}));
    let placed = s.adapter.place(&stop).await.expect("placed");
    assert_eq!(placed.status, VenueStatus::New);
    let before = s.get("/_sim/health").await["ticks"].as_u64();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = s.get("/_sim/health").await["ticks"].as_u64();
    assert!(after > before, "{before:?} -> {after:?}");
    s.set_price("AAPL", "0.01").await;
    let found = s.adapter.find(&stop.order_id).await.expect("find").expect("found");
    assert_eq!(found.status, VenueStatus::Filled, "the stop triggered and sold");
}

#[tokio::test]
async fn reset_forgets_every_order() {
    let s = simulated().await;
    let o = order(json!({}));
    s.adapter.place(&o).await.expect("placed");
    assert_eq!(s.get("/_sim/health").await["orders"], json!(1));
    s.post("/_sim/reset", json!({})).await;
    assert_eq!(s.get("/_sim/health").await["orders"], json!(0));
    assert_eq!(s.adapter.find(&o.order_id).await, Ok(None));
}

#[tokio::test]
async fn orders_survive_a_restart_with_a_state_file() {
    let dir = std::env::temp_dir().join(format!("venue-sim-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("state.json");
    let mut config = frozen_config();
    config.state_file = Some(file.clone());
    let (resting, filled) = (
        order(json!({"type": "limit", "limit_price": "1", "time_in_force": "gtc"})),
        order(json!({"quantity": "3"})),
    );
    let first = simulated_with(config.clone()).await;
    first.set_price("AAPL", "123.45").await;
    let kept = first.adapter.place(&resting).await.expect("placed");
    first.adapter.place(&filled).await.expect("placed");
    drop(first);

    let second = venue_simulator::spawn(config).await.expect("restarts on its file");
    let adapter = adapter_for(&second);
    let found = adapter.find(&resting.order_id).await.expect("find").expect("kept");
    assert_eq!(found, kept);
    let found = adapter.find(&filled.order_id).await.expect("find").expect("kept");
    assert_eq!(
        (found.filled_quantity, found.average_fill_price),
        (dec("3"), Some(dec("123.45")))
    );
    assert!(
        matches!(adapter.place(&resting).await, Err(VenueError::Rejected(_))),
        "still a duplicate"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
