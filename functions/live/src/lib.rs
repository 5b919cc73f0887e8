//! The WebSocket API's routes (issue 18): `$connect` records the connection under the
//! trader the authorizer verified (its context: `trader_id`, `expires_at`),
//! `$disconnect` forgets it, `subscribe` (`{"action": "subscribe", "cursor": "..."}`)
//! replays what changed since the cursor. A bad request gets an `error` message on the
//! connection (and a 400 for the route), never a silent drop.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::app::live::{LiveError, LiveMessage, parse_cursor};
use shared::app::live_routes::{connect, disconnect, subscribe};
use shared::domain::{Timestamp, TraderId};
use shared::ports::{Clock, Connections, OrderChanges, Pusher};

/// The parts of API Gateway's WebSocket proxy event the routes read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsEvent {
    pub request_context: WsContext,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsContext {
    #[serde(default)]
    pub route_key: String,
    #[serde(default)]
    pub connection_id: String,
    /// The authorizer's context (API Gateway passes it on every route of the connection).
    #[serde(default)]
    pub authorizer: Option<serde_json::Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    pub status_code: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeRequest {
    #[allow(dead_code)]
    action: String,
    #[serde(default)]
    cursor: Option<String>,
}

pub struct Live {
    pub connections: Arc<dyn Connections>,
    pub orders: Arc<dyn OrderChanges>,
    pub pusher: Arc<dyn Pusher>,
    pub clock: Arc<dyn Clock>,
}

/// The trader and token expiry the authorizer put in the context (a string or a
/// number: API Gateway may pass either).
fn authorized(context: &WsContext) -> Option<(TraderId, Option<Timestamp>)> {
    let auth = context.authorizer.as_ref()?;
    let trader = auth.get("trader_id").and_then(Value::as_str)?;
    let trader = TraderId::parse(trader).ok()?;
    let expires = match auth.get("expires_at") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .and_then(|secs: i64| Timestamp::from_unix_millis(secs.saturating_mul(1000)));
    Some((trader, expires))
}

const OK: WsResponse = WsResponse { status_code: 200 };

impl Live {
    #[tracing::instrument(skip_all, fields(route = %event.request_context.route_key, connection_id = %event.request_context.connection_id))]
    pub async fn handle(&self, event: WsEvent) -> WsResponse {
        let context = &event.request_context;
        let Some((trader, expires)) = authorized(context) else {
            tracing::error!("no trader in the authorizer context: is the route behind the authorizer?");
            return WsResponse { status_code: 403 };
        };
        let connection_id = context.connection_id.as_str();
        match context.route_key.as_str() {
            "$connect" => match connect(
                self.connections.as_ref(),
                &trader,
                connection_id,
                expires,
                self.clock.now(),
            )
            .await
            {
                Ok(_) => OK,
                Err(e) => {
                    tracing::error!(error = %e, "connection not recorded: refused, the client reconnects");
                    WsResponse { status_code: 500 }
                }
            },
            "$disconnect" => {
                if let Err(e) = disconnect(self.connections.as_ref(), &trader, connection_id).await {
                    tracing::warn!(error = %e, "a closed connection could not be forgotten; its TTL will");
                }
                OK
            }
            "subscribe" => self.subscribe(&trader, connection_id, event.body.as_deref()).await,
            other => {
                self.refuse(
                    connection_id,
                    format!("unknown action `{other}`: send {{\"action\": \"subscribe\"}}"),
                )
                .await
            }
        }
    }

    async fn subscribe(&self, trader: &TraderId, connection_id: &str, body: Option<&str>) -> WsResponse {
        let request: SubscribeRequest = match serde_json::from_str(body.unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => {
                let detail = format!(
                    "the message must be {{\"action\": \"subscribe\", \"cursor\": \"<the last cursor you received>\"}} \
                     (cursor optional): {e}"
                );
                return self.refuse(connection_id, detail).await;
            }
        };
        let cursor = match parse_cursor(request.cursor.as_deref()) {
            Ok(c) => c,
            Err(e) => return self.refuse(connection_id, e.to_string()).await,
        };
        match subscribe(
            self.orders.as_ref(),
            self.pusher.as_ref(),
            trader,
            connection_id,
            cursor,
        )
        .await
        {
            Ok(report) => {
                tracing::info!(trader_id = %trader, replayed = report.replayed, complete = report.complete, "subscribed");
                OK
            }
            Err(e) => {
                tracing::error!(trader_id = %trader, error = %e, "replay failed: the client subscribes again");
                let _ = self
                    .send(connection_id, &LiveMessage::Error { detail: e.to_string() })
                    .await;
                WsResponse { status_code: 500 }
            }
        }
    }

    async fn refuse(&self, connection_id: &str, detail: String) -> WsResponse {
        tracing::warn!(detail = %detail, "request refused");
        if let Err(e) = self.send(connection_id, &LiveMessage::Error { detail }).await {
            tracing::warn!(error = %e, "the refusal could not be sent");
        }
        WsResponse { status_code: 400 }
    }

    async fn send(&self, connection_id: &str, message: &LiveMessage) -> Result<(), LiveError> {
        self.pusher
            .push(connection_id, &message.to_bytes()?)
            .await
            .map_err(|e| LiveError::Undelivered {
                failed: vec![(connection_id.to_owned(), e)],
                delivered: 0,
            })
    }
}
