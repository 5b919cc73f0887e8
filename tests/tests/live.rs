// Long because: the live stream's end-to-end scenarios (auth, order, resume, Gone, expiry, load, bad input) share one
// client harness (connect, next, collect, the AsyncAPI record).
//! Live order updates end to end (issue 18): WebSocket clients of the local gateway's
//! `/live`, the `$connect` authorizer and routes (`ws-authorizer`, `live`), the orders
//! table's stream delivered to the fan-out (tools/mapper's stream mapping), the
//! management API's `@connections`. Every message received is appended to
//! `$STACK_LOG_DIR/live-messages.jsonl` for tools/check_asyncapi.py.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use futures::{SinkExt, StreamExt};
use local_mappings::stages::{self, Arrival};
use serde_json::{Value, json};
use shared::adapters::aws::DynamoConnections;
use shared::domain::{Timestamp, TraderId};
use shared::ports::{Connections, LiveConnection};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(60);

async fn stack() -> Stack {
    Stack::from_env().await.expect("the local stack's environment")
}

fn live_url(token: Option<&str>) -> String {
    let api = std::env::var("API_URL").expect("API_URL");
    let base = api.replace("http://", "ws://").replace("/api/v1", "/live");
    match token {
        Some(t) => format!("{base}?token={t}"),
        None => base,
    }
}

fn record(direction: &str, message: &Value) {
    let Ok(dir) = std::env::var("STACK_LOG_DIR") else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/live-messages.jsonl"))
    {
        // One write per line: O_APPEND keeps the lines of concurrent clients whole.
        let line = format!("{}\n", json!({"direction": direction, "message": message}));
        let _ = f.write_all(line.as_bytes());
    }
}

/// Connects, or the HTTP status the handshake was refused with.
async fn connect(token: Option<&str>) -> Result<Socket, u16> {
    let request = live_url(token).into_client_request().map_err(|_| 0u16)?;
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

/// The next JSON message within `within`, or None.
async fn next(socket: &mut Socket, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(&text).expect("a JSON message");
                record("receive", &v);
                return Some(v);
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads until every order of `expected` reached its version; returns all updates.
async fn collect(socket: &mut Socket, expected: &BTreeMap<String, u64>) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut highest: BTreeMap<String, u64> = BTreeMap::new();
    while expected
        .iter()
        .any(|(id, v)| highest.get(id).copied().unwrap_or(0) < *v)
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(m) = next(socket, left).await else {
            panic!("timed out: got {highest:?}, want {expected:?}");
        };
        if m["type"] == "order_update" {
            let id = m["order_id"].as_str().unwrap_or_default().to_owned();
            let v = m["version"].as_u64().unwrap_or(0);
            let h = highest.entry(id).or_insert(0);
            *h = (*h).max(v);
        }
        got.push(m);
    }
    got
}

fn limit(symbol: &str) -> Value {
    json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": "2", "limit_price": "1000"})
}

async fn submit(s: &Stack, t: &TraderId, symbol: &str) -> String {
    let r = s.submit(&s.token(t), None, &limit(symbol)).await.unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["order_id"].as_str().unwrap().to_owned()
}

async fn submit_filled(s: &Stack, t: &TraderId, symbol: &str) -> String {
    let id = submit(s, t, symbol).await;
    s.wait_for_status(t, &id, &["FILLED"], WAIT).await.unwrap();
    id
}

/// Connects as `t`, subscribes with `cursor` and reads the replay to its `subscribed`:
/// the highest (version, status) replayed per order, every update being `t`'s.
async fn resume(s: &Stack, t: &TraderId, cursor: &str) -> BTreeMap<String, (u64, String)> {
    let mut socket = connect(Some(&s.token(t))).await.unwrap();
    let subscribe = json!({"action": "subscribe", "cursor": cursor});
    record("send", &subscribe);
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let mut state: BTreeMap<String, (u64, String)> = BTreeMap::new();
    loop {
        let m = next(&mut socket, WAIT).await.expect("the replay ends with subscribed");
        if m["type"] == "subscribed" {
            assert_eq!(m["complete"], true);
            return state;
        }
        assert_eq!(m["type"], "order_update", "{m}");
        assert_eq!(m["trader_id"], t.as_str());
        let id = m["order_id"].as_str().unwrap().to_owned();
        let v = m["version"].as_u64().unwrap();
        let e = state.entry(id).or_insert((0, String::new()));
        if v > e.0 {
            *e = (v, m["new_status"].as_str().unwrap().to_owned());
        }
    }
}

/// Counts into `row` each of `orders` whose replayed state is not the API's (a lost
/// event) and each 5xx of the API.
async fn compare_with_api(
    s: &Stack,
    t: &TraderId,
    orders: &[String],
    state: &BTreeMap<String, (u64, String)>,
    row: &mut Row,
) {
    for id in orders {
        let api = s.get(&format!("/orders/{id}"), &s.token(t)).await.unwrap();
        row.server_errors += u64::from(api.status >= 500);
        let want = (
            api.body["version"].as_u64().unwrap_or(0),
            api.body["status"].as_str().unwrap_or("?").to_owned(),
        );
        if state.get(id) != Some(&want) {
            eprintln!("{id}: replayed {:?}, the API has {want:?}", state.get(id));
            row.lost_events += 1;
        }
    }
}

mod live {
    use super::*;

    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn missing_forged_expired_and_wrong_audience_tokens_are_refused_at_connect() {
        let panics = panics_so_far();
        let s = stack().await;
        let t = s.trader("1000", None).await.unwrap();
        assert_eq!(connect(None).await.err(), Some(401), "missing");
        let forged = {
            let good = s.token(&t);
            let (head, _) = good.rsplit_once('.').unwrap();
            format!("{head}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        };
        let expired = s.token_with(json!({"sub": t.as_str()}), -120);
        let audience = s.token_with(json!({"sub": t.as_str(), "aud": "someone-else"}), 600);
        let no_scope = s.token_with(json!({"sub": t.as_str(), "scope": "orders/read"}), 600);
        for (name, token) in [
            ("forged", forged),
            ("expired", expired),
            ("audience", audience),
            ("scope", no_scope),
        ] {
            assert_eq!(connect(Some(&token)).await.err(), Some(403), "{name}");
        }
        assert!(connect(Some(&s.token(&t))).await.is_ok(), "a valid token connects");
        let mut row = Row::new(
            6,
            "live: auth attacks on connect",
            "missing, forged, expired, wrong-audience and scope-less tokens at the WebSocket $connect",
        );
        row.operations = 6;
        row.panics = panics_so_far() - panics;
        row.notes = "missing: 401; forged, expired, wrong audience, no scope: 403; none connected".into();
        row.record_and_check();
    }

    /// A connection whose token expires is closed at expiry by the fan-out's scheduled
    /// sweep (within its period: `LIVE_SWEEP_SCHEDULE_SECS`, the template's minute by
    /// default), though its trader has no event, and its record is forgotten.
    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_connection_whose_token_expires_is_closed_by_the_sweep_without_any_event() {
        let panics = panics_so_far();
        let s = stack().await;
        let t = s.trader("1000", None).await.unwrap();
        let lifetime = 6;
        let token = s.token_with(json!({"sub": t.as_str()}), lifetime);
        let mut socket = connect(Some(&token)).await.unwrap();
        let connected = tokio::time::Instant::now();
        let period: u64 = std::env::var("LIVE_SWEEP_SCHEDULE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let within = Duration::from_secs(lifetime as u64 + period + 15);
        let ended = match tokio::time::timeout_at(connected + within, socket.next()).await {
            Err(_) => None,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => Some(connected.elapsed()),
            Ok(Some(Ok(m))) => panic!("a message on a connection with no events: {m:?}"),
        };
        let ended = ended.unwrap_or_else(|| panic!("still open {within:?} after connecting with a {lifetime} s token"));
        // The token's `exp` is in whole seconds: not closed before it.
        assert!(
            ended >= Duration::from_secs(lifetime as u64 - 1),
            "closed {ended:?} after connecting, before the token expired"
        );
        // The sweep closes the connection, then forgets it: the client may see the close
        // a moment before the record goes.
        let table = std::env::var("CONNECTIONS_TABLE_NAME").expect("CONNECTIONS_TABLE_NAME");
        let connections = DynamoConnections::new(s.dynamo.clone(), table);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = connections.of_trader(&t).await.unwrap();
            if left.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the expired connection is forgotten within 10 s of its close: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut row = Row::new(
            6,
            "live: token expiry closes the connection",
            "a connection whose token expires, its trader without events",
        );
        row.operations = 1;
        row.panics = panics_so_far() - panics;
        row.notes = format!(
            "closed {:.0} s after connecting with a {lifetime} s token (sweep every {period} s); record forgotten",
            ended.as_secs_f64()
        );
        row.record_and_check();
    }

    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn each_client_gets_its_traders_events_in_version_order_and_nothing_of_others() {
        let s = stack().await;
        let (a, b) = (
            s.trader("100000", None).await.unwrap(),
            s.trader("100000", None).await.unwrap(),
        );
        let mut sa = connect(Some(&s.token(&a))).await.unwrap();
        let mut sb = connect(Some(&s.token(&b))).await.unwrap();
        let ida = submit_filled(&s, &a, "LIVA").await;
        let idb = submit_filled(&s, &b, "LIVB").await;
        let got_a = collect(&mut sa, &BTreeMap::from([(ida.clone(), 3)])).await;
        let got_b = collect(&mut sb, &BTreeMap::from([(idb.clone(), 3)])).await;
        for (got, trader, id) in [(&got_a, &a, &ida), (&got_b, &b, &idb)] {
            assert!(
                got.iter().all(|m| m["trader_id"] == trader.as_str()),
                "another trader's event: {got:?}"
            );
            let mut versions: Vec<u64> = got
                .iter()
                .filter(|m| m["order_id"] == id.as_str())
                .filter_map(|m| m["version"].as_u64())
                .collect();
            versions.dedup();
            assert_eq!(versions, vec![1, 2, 3], "in version order: {got:?}");
            assert!(got.iter().all(|m| m["cursor"].is_string()));
        }
    }

    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_client_away_30_s_during_fills_resumes_with_its_cursor_and_ends_with_the_apis_states() {
        let panics = panics_so_far();
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let mut socket = connect(Some(&s.token(&t))).await.unwrap();
        let first = submit_filled(&s, &t, "LIVR").await;
        let seen = collect(&mut socket, &BTreeMap::from([(first.clone(), 3)])).await;
        let cursor = seen.last().unwrap()["cursor"].as_str().unwrap().to_owned();
        socket.close(None).await.unwrap();
        let away = tokio::time::Instant::now();
        // Disconnected for 30 s (LIVE_DISCONNECT_SECS), while two more orders fill.
        let mut missed = Vec::new();
        for _ in 0..2 {
            missed.push(submit_filled(&s, &t, "LIVR").await);
        }
        let secs = std::env::var("LIVE_DISCONNECT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        tokio::time::sleep_until(away + Duration::from_secs(secs)).await;
        let state = resume(&s, &t, &cursor).await;
        let panics = panics_so_far() - panics;
        let mut row = Row::new(
            4,
            "live: disconnect 30 s / resume",
            "a client away 30 s while 2 orders fill, back with its cursor",
        );
        compare_with_api(&s, &t, &missed, &state, &mut row).await;
        row.operations = missed.len() as u64 + 1;
        row.panics = panics;
        row.notes = format!("{} orders replayed; the client's states equal the API's", state.len());
        row.record_and_check();
    }

    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_connection_that_answers_gone_is_forgotten_and_the_live_one_still_served() {
        let panics = panics_so_far();
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let table = std::env::var("CONNECTIONS_TABLE_NAME").expect("CONNECTIONS_TABLE_NAME");
        let connections = DynamoConnections::new(s.dynamo.clone(), table);
        // A connection API Gateway no longer has (closed without $disconnect reaching us).
        let now = Timestamp::now();
        let stale = LiveConnection {
            connection_id: "gone-connection".into(),
            trader_id: t.clone(),
            connected_at: now,
            expires_at: now.plus_seconds(600),
        };
        connections.add(&stale).await.unwrap();
        let mut socket = connect(Some(&s.token(&t))).await.unwrap();
        let id = submit_filled(&s, &t, "LIVG").await;
        collect(&mut socket, &BTreeMap::from([(id, 3)])).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = connections.of_trader(&t).await.unwrap();
            if left.iter().all(|c| c.connection_id != "gone-connection") {
                assert_eq!(left.len(), 1, "the live connection stays: {left:?}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Gone connection was never forgotten"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut row = Row::new(
            4,
            "live: fan-out to a Gone connection",
            "a recorded connection API Gateway no longer has (410 Gone)",
        );
        row.operations = 3;
        row.panics = panics_so_far() - panics;
        row.notes = "the Gone connection forgotten; the live one got versions 1-3".into();
        row.record_and_check();
    }

    /// The connection's id, as the connections table has it (the trader has one).
    async fn only_connection(t: &TraderId) -> String {
        let table = std::env::var("CONNECTIONS_TABLE_NAME").expect("CONNECTIONS_TABLE_NAME");
        let s = stack().await;
        let all = DynamoConnections::new(s.dynamo.clone(), table)
            .of_trader(t)
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].connection_id.clone()
    }

    /// Makes the local management API refuse (429) a connection's POSTs and / or DELETEs.
    async fn fault(s: &Stack, connection: &str, posts: bool, deletes: bool) {
        let base = std::env::var("API_URL").expect("API_URL").replace("/api/v1", "");
        let url = format!("{base}/_faults/connections/{connection}");
        let r = if posts || deletes {
            s.http
                .put(&url)
                .json(&json!({"refuse_posts": posts, "refuse_deletes": deletes}))
                .send()
                .await
        } else {
            s.http.delete(&url).send().await
        };
        assert_eq!(r.unwrap().status().as_u16(), 204);
    }

    /// The versions of each order, in the order received.
    fn versions_by_order(got: &[Value]) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for m in got.iter().filter(|m| m["type"] == "order_update") {
            out.entry(m["order_id"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(m["version"].as_u64().unwrap_or(0));
        }
        out
    }

    /// The management API throttles one connection (429 after the SDK's retries): the
    /// fan-out closes it rather than send it the later events; its client reconnects with
    /// its last cursor and the replay gives it the API's states, nothing missing.
    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_throttled_connection_is_closed_and_its_client_resumes_with_nothing_missing() {
        let panics = panics_so_far();
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let mut socket = connect(Some(&s.token(&t))).await.unwrap();
        let first = submit_filled(&s, &t, "LIVT").await;
        let seen = collect(&mut socket, &BTreeMap::from([(first, 3)])).await;
        let cursor = seen.last().unwrap()["cursor"].as_str().unwrap().to_owned();
        let id = only_connection(&t).await;
        fault(&s, &id, true, false).await;
        let mut missed = Vec::new();
        for _ in 0..2 {
            missed.push(submit_filled(&s, &t, "LIVT").await);
        }
        // Closed by the fan-out, with no update after the first it could not send.
        let mut after = Vec::new();
        let closed = loop {
            match tokio::time::timeout(WAIT, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => after.push(serde_json::from_str::<Value>(&text).unwrap()),
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break true,
                Ok(Some(Ok(_))) => {}
                Err(_) => break false,
            }
        };
        assert!(closed, "the throttled connection was never closed");
        assert!(
            after.is_empty(),
            "updates reached a connection whose posts were refused: {after:?}"
        );
        fault(&s, &id, false, false).await;
        let state = resume(&s, &t, &cursor).await;
        let mut row = Row::new(
            4,
            "live: fan-out to a throttled connection",
            "the management API answers one connection's POSTs 429 while 2 orders fill",
        );
        compare_with_api(&s, &t, &missed, &state, &mut row).await;
        row.operations = missed.len() as u64 + 1;
        row.panics = panics_so_far() - panics;
        row.notes = "closed by the fan-out with nothing sent after the refused update; resumed with its cursor, \
                     the replay equals the API's states"
            .into();
        row.record_and_check();
    }

    /// A connection the management API will neither post to nor close: the fan-out stops
    /// the batch at its trader's event and Lambda retries from that record; another
    /// trader's client is served meanwhile (the retries carry the records after it), and
    /// once the API answers again the stuck client gets every version, in order.
    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_connection_neither_sent_to_nor_closed_holds_its_events_until_it_heals_then_gets_them_in_order() {
        let panics = panics_so_far();
        let s = stack().await;
        let (t, u) = (
            s.trader("100000", None).await.unwrap(),
            s.trader("100000", None).await.unwrap(),
        );
        let mut stuck = connect(Some(&s.token(&t))).await.unwrap();
        let mut other = connect(Some(&s.token(&u))).await.unwrap();
        let id = only_connection(&t).await;
        fault(&s, &id, true, true).await;
        let held = submit_filled(&s, &t, "LIVH").await;
        let served = submit_filled(&s, &u, "LIVH").await;
        let got_other = collect(&mut other, &BTreeMap::from([(served.clone(), 3)])).await;
        assert!(
            next(&mut stuck, Duration::from_secs(1)).await.is_none(),
            "the refused connection got an update"
        );
        // Posts heal first: a retry whose posts all failed just before would otherwise
        // close the connection (by design: its client would resume) instead of sending.
        fault(&s, &id, false, true).await;
        let got = collect(&mut stuck, &BTreeMap::from([(held.clone(), 3)])).await;
        fault(&s, &id, false, false).await;
        let mut row = Row::new(
            4,
            "live: fan-out stopped by a connection",
            "one connection's POSTs and DELETEs refused (429) while its order and another trader's fill",
        );
        for (got, id) in [(&got, &held), (&got_other, &served)] {
            let versions = versions_by_order(got).remove(id.as_str()).unwrap_or_default();
            // A retried batch repeats what the client had (dropped by order id and
            // version): each version's first arrival must come in version order.
            let mut first = Vec::new();
            for v in &versions {
                if !first.contains(v) {
                    first.push(*v);
                }
            }
            if first != vec![1, 2, 3] {
                eprintln!("{id}: versions received {versions:?}");
                row.lost_events += 1;
            }
        }
        row.operations = 2;
        row.panics = panics_so_far() - panics;
        row.notes = format!(
            "the other trader's client got versions 1-3 while the batch was retried; the healed one {:?}",
            versions_by_order(&got).remove(held.as_str()).unwrap_or_default()
        );
        row.record_and_check();
    }

    /// 10 traders with 2 clients each while their orders fill: every client gets every
    /// event of its trader's orders and nothing else; commit → client latency (the
    /// event's timestamp, the commit's time, to its arrival) is printed as p50 / p99.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn ten_traders_two_clients_each_get_all_their_events_with_latency_reported() {
        let s = std::sync::Arc::new(stack().await);
        let mut traders = Vec::new();
        for _ in 0..10 {
            traders.push(s.trader("100000", None).await.unwrap());
        }
        let mut tasks = Vec::new();
        for (n, t) in traders.iter().enumerate() {
            for _ in 0..2 {
                let (s, t) = (s.clone(), t.clone());
                let mut socket = connect(Some(&s.token(&t))).await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut seen = std::collections::BTreeSet::new();
                    // Until the submitter below says which orders to expect, then until all came.
                    let deadline = tokio::time::Instant::now() + WAIT;
                    while seen.len() < 9 {
                        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                        let Some(m) = next(&mut socket, left).await else { break };
                        if m["type"] != "order_update" {
                            continue;
                        }
                        assert_eq!(m["trader_id"], t.as_str(), "another trader's event");
                        let at = Timestamp::parse(m["timestamp"].as_str().unwrap()).unwrap();
                        let (order_id, version) = (
                            m["order_id"].as_str().unwrap().to_owned(),
                            m["version"].as_u64().unwrap(),
                        );
                        latencies.push(Arrival {
                            order_id: order_id.clone(),
                            version,
                            commit_ms: at.unix_millis(),
                            received_ms: Timestamp::now().unix_millis(),
                        });
                        seen.insert((order_id, version));
                    }
                    (n, seen, latencies)
                }));
            }
        }
        let mut submitted: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut fills = Vec::new();
        for (n, t) in traders.iter().enumerate() {
            for _ in 0..3 {
                let (s, t) = (s.clone(), t.clone());
                // Submitted only: the clients see them fill. (Polling each order's
                // status until FILLED would load the emulator with reads no client makes.)
                fills.push(tokio::spawn(async move { (n, submit(&s, &t, "LIVL").await) }));
            }
        }
        for f in fills {
            let (n, id) = f.await.unwrap();
            submitted.entry(n).or_default().push(id);
        }
        let mut all = Vec::new();
        for task in tasks {
            let (n, seen, latencies) = task.await.unwrap();
            let want: std::collections::BTreeSet<_> = submitted[&n]
                .iter()
                .flat_map(|id| (1..=3).map(move |v| (id.clone(), v)))
                .collect();
            assert_eq!(seen, want, "trader {n}: every event of its orders");
            all.extend(latencies);
        }
        let log = stages::read(&stages::StageLog::from_env()).unwrap_or_default();
        let rows = stages::breakdown(&log, &all);
        println!(
            "live latency by stage, 10 traders x 2 clients, {} events received:\n{}",
            all.len(),
            stages::table(&rows)
        );
    }

    #[tokio::test]
    #[ignore = "needs the local stack with its mappings (API_URL): scripts/stack.sh"]
    async fn a_subscribe_with_a_bad_cursor_is_answered_with_an_error_saying_what_to_send() {
        let s = stack().await;
        let t = s.trader("1000", None).await.unwrap();
        let mut socket = connect(Some(&s.token(&t))).await.unwrap();
        let bad = json!({"action": "subscribe", "cursor": "yesterday"});
        record("send", &bad);
        socket.send(Message::Text(bad.to_string().into())).await.unwrap();
        let m = next(&mut socket, WAIT).await.expect("an answer");
        assert_eq!(m["type"], "error", "{m}");
        assert!(
            m["detail"]
                .as_str()
                .unwrap()
                .contains("cursor `yesterday` is not one this stream sent"),
            "{m}"
        );
    }
}
