//! Test-only stand-in for the execute and publish Lambdas that dies the way a killed
//! process does (exit status 137) right after a chosen step committed (issue 6,
//! scenario 1: crash points). It runs the REAL handlers (`execute::Execute`,
//! `publish::Publish`) over the real adapters (DynamoDB, SQS, EventBridge, the
//! Alpaca client pointed at `VENUE_BASE_URL`), wrapped by delegating ports that
//! call `std::process::exit(137)` as soon as the chosen call returned Ok: nothing
//! after it runs, no reply is written, exactly as if the sandbox were killed.
//!
//! ```text
//! crash-point execute after-claim|after-place < sqs-event.json
//! crash-point intake after-fill ORDER_ID
//! crash-point publish < dynamodb-stream-event.json
//! ```
//! `intake after-fill ORDER_ID` makes one pass of the real venue intake (the fills
//! are its to write: execute books none) and dies right after the fill that
//! completed ORDER_ID committed, before the cursor moved past it.
//!
//! Exit status: 137 at the crash point; 0 when the run finished without reaching it
//! (the reply is printed); 1 when setup or the event failed.

use std::io::Read;
use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use rust_decimal::Decimal;
use shared::adapters::aws::{DynamoStore, EventBridgePublisher, Resources, SqsQueue, sdk_config};
use shared::adapters::venue::{AlpacaConfig, AlpacaVenue};
use shared::domain::{
    Account, AuditRecord, Fill, IdempotencyKey, Order, OrderId, OrderStatus, RiskLimits, Symbol, Timestamp, TraderId,
};
use shared::ports::{
    IdempotencyRecord, NewOrder, OrderPage, OrderStore, RateDecision, StoreError, SystemClock, TransitionWrite, Venue,
    VenueError, VenueOrder,
};

/// What a killed process reports (128 + SIGKILL).
const KILLED: i32 = 137;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashAfter {
    /// The claim (PENDING -> SUBMITTED) committed; the venue was not called.
    Claim,
    /// The venue accepted the order; nothing recorded about it.
    Place,
    /// The fill that completed this order committed (FILLED).
    Fill(OrderId),
}

fn die(point: &str, order: &OrderId) -> ! {
    eprintln!("crash-point: killed {point} of order {order}");
    std::process::exit(KILLED)
}

struct CrashingStore {
    inner: DynamoStore,
    at: CrashAfter,
}

#[async_trait]
impl OrderStore for CrashingStore {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError> {
        self.inner.get_account(trader).await
    }
    async fn fund_account(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
    ) -> Result<Account, StoreError> {
        self.inner.fund_account(trader, cash, limits).await
    }
    async fn deposit_position(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
    ) -> Result<(), StoreError> {
        self.inner
            .deposit_position(trader, symbol, quantity, average_cost)
            .await
    }
    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError> {
        self.inner.create_order(new).await
    }
    async fn get_order(&self, trader: &TraderId, order: &OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.get_order(trader, order).await
    }
    async fn request_replace(&self, write: TransitionWrite) -> Result<(), StoreError> {
        self.inner.request_replace(write).await
    }

    async fn transition(&self, write: TransitionWrite) -> Result<(), StoreError> {
        let (from, to, id) = (write.before.status, write.after.status, write.after.order_id);
        self.inner.transition(write).await?;
        match self.at {
            CrashAfter::Claim if from == OrderStatus::Pending && to == OrderStatus::Submitted => {
                die("after the claim", &id)
            }
            CrashAfter::Fill(order) if to == OrderStatus::Filled && order == id => die("after the fill write", &id),
            _ => Ok(()),
        }
    }
    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        self.inner.list_orders(trader, status, limit, after).await
    }
    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &shared::ports::OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        self.inner.filter_orders(trader, filter, limit, after).await
    }
    async fn order_by_client_order_id(
        &self,
        trader: &TraderId,
        client_order_id: &shared::domain::ClientOrderId,
    ) -> Result<Option<Order>, StoreError> {
        self.inner.order_by_client_order_id(trader, client_order_id).await
    }
    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError> {
        self.inner.fills(trader, order).await
    }
    async fn idempotency(
        &self,
        trader: &TraderId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(trader, key, now).await
    }
    async fn record_rejection(
        &self,
        audit: AuditRecord,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.inner.record_rejection(audit, idempotency).await
    }
    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError> {
        self.inner.take_rate_token(trader, limit, now).await
    }

    async fn notional_window(&self, trader: &TraderId) -> Result<shared::domain::NotionalWindow, StoreError> {
        self.inner.notional_window(trader).await
    }
}

struct CrashingVenue {
    inner: AlpacaVenue,
    at: CrashAfter,
}

#[async_trait]
impl Venue for CrashingVenue {
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError> {
        let placed = self.inner.place(order).await?;
        if self.at == CrashAfter::Place {
            die("after the venue accepted", &order.order_id);
        }
        Ok(placed)
    }
    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        self.inner.find(client_order_id).await
    }
    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError> {
        self.inner.cancel(venue_order_id).await
    }
}

fn stdin_json() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the Lambda event from stdin")?;
    Ok(text)
}

/// The venue's settings as the stack gives them to the execute function (the test
/// environment carries only the simulator's URL).
fn venue_config() -> anyhow::Result<AlpacaConfig> {
    let get = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| match name {
                "VENUE_BASE_URL" => std::env::var("SIMULATOR_URL").ok(),
                "VENUE_API_KEY_ID" | "VENUE_API_SECRET_KEY" => Some("local".to_owned()),
                _ => None,
            })
    };
    Ok(AlpacaConfig::from_lookup(get)?)
}

async fn execute(point: CrashAfter) -> anyhow::Result<()> {
    let event: SqsEvent = serde_json::from_str(&stdin_json()?).context("stdin is not an SQS event")?;
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let intake = shared::adapters::aws::DynamoIntakeStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        resources.orders_table.clone(),
    );
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        resources.orders_table,
        resources.audit_table,
    );
    let handler = execute::Execute {
        intake: Arc::new(intake),
        store: Arc::new(CrashingStore {
            inner: store,
            at: point,
        }),
        venue: Arc::new(CrashingVenue {
            inner: AlpacaVenue::new(&venue_config()?)?,
            at: point,
        }),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        clock: Arc::new(SystemClock),
        max_receives: 8,
        backoff_base_ms: execute::BACKOFF_BASE_MS,
        policy: Default::default(),
    };
    let reply = handler.handle(event).await;
    println!("{}", serde_json::to_string(&reply)?);
    Ok(())
}

/// One pass of the venue intake, with its sweep, over a store that dies at `point`;
/// the cursor is the deployed intake's (the digest of the venue key id).
async fn intake(point: CrashAfter) -> anyhow::Result<()> {
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let config = venue_config()?;
    let venue = Arc::new(AlpacaVenue::new(&config)?);
    let key_id = venue.key_id();
    let handler = intake::Intake {
        intake: Arc::new(shared::adapters::aws::DynamoIntakeStore::new(
            dynamo.clone(),
            resources.orders_table.clone(),
        )),
        attention: Arc::new(DynamoStore::new(
            dynamo.clone(),
            resources.orders_table.clone(),
            resources.audit_table.clone(),
        )),
        store: Arc::new(CrashingStore {
            inner: DynamoStore::new(dynamo, resources.orders_table, resources.audit_table),
            at: point,
        }),
        feed: venue.clone(),
        venue,
        clock: Arc::new(SystemClock),
        feed_key: shared::domain::audit::sha256_hex(key_id.as_bytes())[..16].to_owned(),
        poll: std::time::Duration::from_secs(1),
        lookback: std::time::Duration::from_secs(7 * 24 * 3600),
        page_size: 100,
        unknown_status_alarm_secs: 600,
        status_every: 1,
    };
    let report = handler.pass(true).await?;
    println!("{report:?}");
    Ok(())
}

/// Runs the whole batch, then dies before replying: the events were put and the
/// work queued, but the stream mapping never learns it and retries the batch.
async fn publish() -> anyhow::Result<()> {
    let event: Event = serde_json::from_str(&stdin_json()?).context("stdin is not a DynamoDB stream event")?;
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let handler = publish::Publish {
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            resources.event_bus_name,
        )),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.work_queue_url)),
        intake: Arc::new(shared::adapters::aws::DynamoIntakeStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table.clone(),
        )),
        orders: Arc::new(shared::adapters::aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.orders_table,
            resources.audit_table,
        )),
    };
    let reply = handler
        .handle(LambdaEvent::new(event, lambda_runtime::Context::default()))
        .await
        .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?;
    if !reply.batch_item_failures.is_empty() {
        bail!("publish reported failures, so the crash point was not reached: {reply:?}");
    }
    eprintln!("crash-point: killed after PutEvents and the work message, before the reply");
    std::process::exit(KILLED)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["execute", "after-claim"] => execute(CrashAfter::Claim).await,
        ["execute", "after-place"] => execute(CrashAfter::Place).await,
        ["intake", "after-fill", order] => {
            let order = OrderId::parse(order).map_err(|e| anyhow::anyhow!("ORDER_ID {order}: {e}"))?;
            intake(CrashAfter::Fill(order)).await
        }
        ["publish"] => publish().await,
        _ => bail!(
            "usage: crash-point execute after-claim|after-place < sqs-event.json\n       crash-point intake after-fill ORDER_ID\n       crash-point publish < dynamodb-stream-event.json"
        ),
    }
}
