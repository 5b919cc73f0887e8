//! Harness for the end-to-end tests: the local stack that `make test` starts (the
//! emulator, the functions under `cargo lambda watch`, the local gateway), reached
//! over real HTTP at `API_URL`; dev tokens signed with the gateway's secret; and
//! accounts arranged through the same DynamoDB adapter the functions use.
//!
//! Every test makes its own traders (`e2e-<ulid>`), so tests run in parallel and
//! against a stack that already holds other data.

pub mod bus;
pub mod crash;
pub mod execution;
pub mod hostile;
pub mod report;
pub mod tally;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use serde_json::Value;
use shared::adapters::aws::{DynamoStore, Resources, sdk_config};
use shared::app::{AuditContext, plan_transition};
use shared::domain::{Order, OrderEvent, OrderId, RiskLimits, Timestamp, TraderId};
use shared::ports::OrderStore;

pub struct Stack {
    pub api: String,
    pub http: reqwest::Client,
    pub store: DynamoStore,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub resources: Resources,
    secret: Vec<u8>,
    issuer: String,
    audience: String,
}

/// One HTTP answer, with lower-case header names and the body parsed when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The `detail` of a problem+json body.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }

    /// The fields named by a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["field"].as_str().map(str::to_owned))
            .collect()
    }
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{name} is not set: the end-to-end tests run against the stack `make test` starts"))
}

impl Stack {
    pub async fn from_env() -> anyhow::Result<Self> {
        let api = env("API_URL")?;
        let secret_file = env("LOCAL_JWT_SECRET_FILE")?;
        let secret = std::fs::read(&secret_file)
            .with_context(|| format!("LOCAL_JWT_SECRET_FILE={secret_file}"))?
            .trim_ascii()
            .to_vec();
        let resources = Resources::from_env()?;
        let sdk = sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let store = DynamoStore::new(dynamo.clone(), &resources.orders_table, &resources.audit_table);
        Ok(Self {
            api,
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
            store,
            dynamo,
            resources,
            secret,
            issuer: std::env::var("LOCAL_JWT_ISSUER").unwrap_or_else(|_| "orders-local".into()),
            audience: std::env::var("LOCAL_JWT_AUDIENCE").unwrap_or_else(|_| "orders-api".into()),
        })
    }

    /// A token the gateway accepts for `trader`.
    pub fn token(&self, trader: &TraderId) -> String {
        self.token_with(serde_json::json!({"sub": trader.as_str()}), 600)
    }

    /// A token with `claims` over the standard ones (`iss`, `aud`, `exp` in `ttl` s, `scope`).
    pub fn token_with(&self, claims: Value, ttl: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // `scope`: the trader routes require the template's TraderScope (default orders/trade).
        let mut all = serde_json::json!({"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl,
            "scope": "orders/trade"});
        if let (Some(all), Some(extra)) = (all.as_object_mut(), claims.as_object()) {
            all.extend(extra.clone());
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &all,
            &jsonwebtoken::EncodingKey::from_secret(&self.secret),
        )
        .unwrap_or_default()
    }

    /// A new trader with `cash`, and `limits` if given (defaults otherwise).
    pub async fn trader(&self, cash: &str, limits: Option<RiskLimits>) -> anyhow::Result<TraderId> {
        let id = TraderId::parse(&format!("e2e-{}", ulid::Ulid::new().to_string().to_lowercase()))?;
        let cash: Decimal = cash.parse()?;
        self.store.fund_account(&id, cash, limits).await?;
        Ok(id)
    }

    /// A new trader whose per-minute submit budget is `per_minute`.
    pub async fn trader_with_rate(&self, cash: &str, per_minute: u32) -> anyhow::Result<TraderId> {
        let limits = RiskLimits {
            orders_per_minute: per_minute,
            ..RiskLimits::default()
        };
        self.trader(cash, Some(limits)).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> anyhow::Result<Answer> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = res.bytes().await?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Answer { status, headers, body })
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.send("GET", path, Some(token), &[], None).await
    }

    /// `POST /orders` with `body`, and the `Idempotency-Key` when given.
    pub async fn submit(&self, token: &str, key: Option<&str>, body: &Value) -> anyhow::Result<Answer> {
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        self.send("POST", "/orders", Some(token), &headers, Some(body.to_string()))
            .await
    }

    pub async fn cancel(&self, token: &str, order_id: &str) -> anyhow::Result<Answer> {
        self.send("POST", &format!("/orders/{order_id}/cancel"), Some(token), &[], None)
            .await
    }

    /// Plays the venue's part on a stored order: claims it and fills it completely at
    /// `price`, through the same planning and store transitions execution uses.
    pub async fn fill_completely(&self, trader: &TraderId, order_id: &str, price: &str) -> anyhow::Result<Order> {
        let id = OrderId::parse(order_id)?;
        let ctx = AuditContext::system("e2e-venue");
        let order = self.order(trader, &id).await?;
        let claim = plan_transition(&order, &OrderEvent::Claim, None, &ctx, Timestamp::now())?;
        let claimed = claim.after.clone();
        self.store.transition(claim).await?;
        let account = self.store.get_account(trader).await?.context("no account")?;
        let fill = OrderEvent::Fill {
            execution_id: format!("e2e-{}", ulid::Ulid::new()),
            quantity: claimed.quantity.get(),
            price: price.parse()?,
        };
        let write = plan_transition(&claimed, &fill, Some(&account), &ctx, Timestamp::now())?;
        let filled = write.after.clone();
        self.store.transition(write).await?;
        Ok(filled)
    }

    pub async fn order(&self, trader: &TraderId, id: &OrderId) -> anyhow::Result<Order> {
        match self.store.get_order(trader, id).await? {
            Some(o) => Ok(o),
            None => bail!("order {id} of {trader} is not in the store"),
        }
    }

    /// The actions of every audit record written for `trader` (a scan: tests only).
    pub async fn audit_actions(&self, trader: &TraderId) -> anyhow::Result<Vec<String>> {
        let mut actions = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .scan()
                .table_name(&self.resources.audit_table)
                .filter_expression("trader_id = :t")
                .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S(trader.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in page.items() {
                if let Some(Ok(a)) = item.get("action").map(|v| v.as_s()) {
                    actions.push(a.clone());
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(actions);
            }
        }
    }
}

/// A limit buy of `quantity` AAPL at `price`.
pub fn limit_buy(quantity: &str, price: &str) -> Value {
    serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": quantity,
        "limit_price": price, "time_in_force": "day"})
}
