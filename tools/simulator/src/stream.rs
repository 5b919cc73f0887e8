//! `GET /stream`: Alpaca's account stream over WebSocket. The client sends
//! `{"action": "auth", "key": ..., "secret": ...}` and is answered on the
//! `authorization` stream; then `{"action": "listen", "data": {"streams":
//! ["trade_updates"]}}`, answered on `listening`; then every trade update comes as
//! `{"stream": "trade_updates", "data": {"event": ..., "order": {...}, ...}}`, in
//! binary frames as on Alpaca's paper endpoint. Nothing is replayed: what happened
//! before `listen` or while disconnected is read from the activities endpoint.
//!
//! Knobs: `stream_delay_ms` delays every update; `POST /_sim/stream/drop` closes
//! every open stream connection at once.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::wire::trade_update_json;

pub async fn stream(State(app): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve(app, socket))
}

fn text(v: &Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

fn binary(v: &Value) -> Message {
    Message::Binary(v.to_string().into_bytes().into())
}

/// What a client message asks for.
enum Ask {
    Auth { ok: bool },
    Listen(Vec<String>),
    Unknown(String),
}

fn read(message: &Message) -> Option<Ask> {
    let raw = match message {
        Message::Text(t) => t.as_bytes().to_vec(),
        Message::Binary(b) => b.to_vec(),
        _ => return None,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&raw) else {
        return Some(Ask::Unknown("message is not JSON".into()));
    };
    match v["action"].as_str() {
        // Current form, and the older `authenticate` with `data.key_id`/`secret_key`.
        Some("auth") => Some(Ask::Auth {
            ok: v["key"].as_str().is_some_and(|k| !k.is_empty()) && v["secret"].as_str().is_some_and(|s| !s.is_empty()),
        }),
        Some("authenticate") => Some(Ask::Auth {
            ok: v["data"]["key_id"].as_str().is_some_and(|k| !k.is_empty())
                && v["data"]["secret_key"].as_str().is_some_and(|s| !s.is_empty()),
        }),
        Some("listen") => Some(Ask::Listen(
            v["data"]["streams"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        )),
        other => Some(Ask::Unknown(format!("unknown action {other:?}"))),
    }
}

async fn serve(app: AppState, mut socket: WebSocket) {
    let mut drops = app.drops.subscribe();
    let mut authorized = false;
    let mut updates = None;
    loop {
        tokio::select! {
            _ = drops.changed() => return,
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let reply = match read(&message) {
                    None => continue,
                    Some(Ask::Auth { ok }) => {
                        authorized = ok;
                        let status = if ok { "authorized" } else { "unauthorized" };
                        json!({"stream": "authorization", "data": {"action": "authenticate", "status": status}})
                    }
                    Some(Ask::Listen(_)) if !authorized => {
                        json!({"stream": "authorization", "data": {"action": "listen", "status": "unauthorized"}})
                    }
                    Some(Ask::Listen(streams)) => {
                        let listening: Vec<&String> = streams.iter().filter(|s| *s == "trade_updates").collect();
                        updates = (!listening.is_empty()).then(|| app.lock().subscribe());
                        json!({"stream": "listening", "data": {"streams": listening}})
                    }
                    Some(Ask::Unknown(why)) => json!({"stream": "listening", "data": {"error": why}}),
                };
                if socket.send(text(&reply)).await.is_err() {
                    return;
                }
            }
            update = next_update(&mut updates) => {
                let update = match update {
                    Ok(u) => u,
                    // Fell too far behind: cut off, as a real venue would.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                };
                let delay = app.lock().knobs.stream_delay_ms;
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                if socket.send(binary(&trade_update_json(&update))).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn next_update(
    updates: &mut Option<tokio::sync::broadcast::Receiver<crate::state::TradeUpdate>>,
) -> Result<crate::state::TradeUpdate, RecvError> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
