//! `local-gateway watch`: a trader's live order stream (`make watch TRADER=x`), one
//! line per message, from the running stack's WebSocket API, with a dev token made for
//! the trader; `--cursor` resumes (a `subscribe` with it first).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// One line for a message: `14:34:23.77 01M89... demo v3 SUBMITTED→FILLED filled 10 @ 190.06`.
pub fn line(m: &Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("-").to_owned();
    match m["type"].as_str() {
        Some("order_update") => {
            let time = s("timestamp");
            let time = time.split('T').nth(1).unwrap_or(&time).trim_end_matches('Z').to_owned();
            format!(
                "{time} {} {} v{} {}→{} filled {} @ {}{}  cursor {}",
                s("order_id"),
                s("trader_id"),
                m["version"],
                s("previous_status"),
                s("new_status"),
                s("filled_quantity"),
                s("average_price"),
                if m["replay"] == true { " (replay)" } else { "" },
                s("cursor"),
            )
        }
        Some("subscribed") => format!(
            "subscribed: {} replayed, complete {}, cursor {}",
            m["replayed"], m["complete"], m["cursor"]
        ),
        _ => m.to_string(),
    }
}

pub async fn watch(url: &str, token: &str, cursor: Option<&str>) -> anyhow::Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e} (is the stack up? make dev)"))?;
    eprintln!("watch: connected to {url} (Ctrl-C to stop)");
    if let Some(c) = cursor {
        let subscribe = json!({"action": "subscribe", "cursor": c}).to_string();
        socket.send(Message::Text(subscribe.into())).await?;
    }
    while let Some(frame) = socket.next().await {
        match frame? {
            Message::Text(text) => match serde_json::from_str::<Value>(&text) {
                Ok(m) => println!("{}", line(&m)),
                Err(_) => println!("{text}"),
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    eprintln!("watch: the connection closed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_one_readable_line() {
        let m = json!({"type": "order_update", "replay": false, "cursor": "2026-11-27T14:34:23.77Z",
            "order_id": "01M89J23XKDGYB4S95H9EVZAKH", "trader_id": "demo", "previous_status": "SUBMITTED",
            "new_status": "FILLED", "filled_quantity": "10", "average_price": "190.06", "version": 3,
            "timestamp": "2026-11-27T14:34:23.77Z"});
        assert_eq!(
            line(&m),
            "14:34:23.77 01M89J23XKDGYB4S95H9EVZAKH demo v3 SUBMITTED→FILLED filled 10 @ 190.06  cursor 2026-11-27T14:34:23.77Z"
        );
    }
}
