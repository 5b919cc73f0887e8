//! The two adapter sets under test, behind one fixture.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::adapters::aws::{
    DynamoIntakeStore, DynamoStore, DynamoVenueBudget, EventBridgePublisher, SqsDeadLetters, SqsQueue, items,
};
use shared::adapters::memory::{
    MemoryDeadLetters, MemoryEvents, MemoryIntakeStore, MemoryQueue, MemoryStore, MemoryVenueBudget,
};
use shared::domain::{AuditRecord, OrderId, TraderId};
use shared::ports::{
    AccountAdmin, AttentionLog, AuditLog, DeadLetters, IntakeStore, OrderStore, StatusEvent, StatusEvents,
    TradingControls, VenueBudget, WorkMessage, WorkQueue,
};

pub enum Backend {
    Memory {
        store: Arc<MemoryStore>,
        events: Arc<MemoryEvents>,
        dead: Arc<MemoryDeadLetters>,
    },
    Aws {
        dynamo: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        audit_table: String,
        tap_queue_url: String,
        dead_letter_queue_url: String,
    },
}

pub struct Fixture {
    pub store: Arc<dyn OrderStore>,
    pub audit: Arc<dyn AuditLog>,
    pub admin: Arc<dyn AccountAdmin>,
    pub queue: Arc<dyn WorkQueue>,
    pub events: Arc<dyn StatusEvents>,
    pub budget: Arc<dyn VenueBudget>,
    pub intake: Arc<dyn IntakeStore>,
    pub controls: Arc<dyn TradingControls>,
    pub attention: Arc<dyn AttentionLog>,
    /// The dead-letter queue of `queue` (`Fixture::dead_letter` puts a message in it).
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Whose account item holds this fixture's deployment trading state (on AWS one of
    /// the test's own, so a halt here halts no other test sharing the tables).
    pub deployment: TraderId,
    pub backend: Backend,
}

/// A trader id no other test uses, so tests share tables without seeing each other.
pub fn unique_trader() -> TraderId {
    TraderId::parse(&format!("t-{}", ulid::Ulid::new())).expect("valid trader id")
}

pub async fn memory() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let events = Arc::new(MemoryEvents::new());
    let queue = Arc::new(MemoryQueue::new());
    let dead = Arc::new(MemoryDeadLetters::new(queue.clone()));
    Fixture {
        store: store.clone(),
        audit: store.clone(),
        admin: store.clone(),
        attention: store.clone(),
        dead_letters: dead.clone(),
        queue,
        events: events.clone(),
        budget: Arc::new(MemoryVenueBudget::new()),
        intake: Arc::new(MemoryIntakeStore::new()),
        controls: store.clone(),
        deployment: shared::ports::deployment_principal(),
        backend: Backend::Memory { store, events, dead },
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the emulator tests through `make test`"))
}

pub async fn aws() -> Fixture {
    let config = shared::adapters::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = aws_sdk_eventbridge::Client::new(&config);
    let (orders_table, audit_table) = (env("ORDERS_TABLE"), env("AUDIT_TABLE"));
    // A queue of this test's own, so no other test receives its messages.
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("contract-{}", ulid::Ulid::new()))
        .send()
        .await
        .expect("create a test queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    // And a dead-letter queue of its own for it.
    let dead_letter_queue_url = sqs
        .create_queue()
        .queue_name(format!("contract-dlq-{}", ulid::Ulid::new()))
        .send()
        .await
        .expect("create a test dead-letter queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let budget = Arc::new(DynamoVenueBudget::new(dynamo.clone(), orders_table.clone()));
    let intake = Arc::new(DynamoIntakeStore::new(dynamo.clone(), orders_table.clone()));
    let deployment = TraderId::parse(&format!("@deployment-{}", ulid::Ulid::new())).expect("valid principal");
    let store = Arc::new(
        DynamoStore::new(dynamo.clone(), orders_table, audit_table.clone())
            .with_deployment_principal(deployment.clone()),
    );
    Fixture {
        store: store.clone(),
        audit: store.clone(),
        admin: store.clone(),
        attention: store.clone(),
        controls: store,
        deployment,
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            dead_letter_queue_url.clone(),
            queue_url.clone(),
        )),
        queue: Arc::new(SqsQueue::new(sqs.clone(), queue_url)),
        events: Arc::new(EventBridgePublisher::new(bus, env("EVENT_BUS_NAME"))),
        budget,
        intake,
        backend: Backend::Aws {
            dynamo,
            sqs,
            audit_table,
            tap_queue_url: env("STATUS_EVENTS_TAP_QUEUE_URL"),
            dead_letter_queue_url,
        },
    }
}

impl Fixture {
    /// Puts `message` in the dead-letter queue, as SQS does after its last receive.
    pub async fn dead_letter(&self, message: &WorkMessage) {
        match &self.backend {
            Backend::Memory { dead, .. } => dead.dead_letter(message.clone()),
            Backend::Aws {
                sqs,
                dead_letter_queue_url,
                ..
            } => {
                sqs.send_message()
                    .queue_url(dead_letter_queue_url)
                    .message_body(serde_json::to_string(message).expect("encode"))
                    .send()
                    .await
                    .expect("send to the dead-letter queue");
            }
        }
    }

    /// Overwrites a stored audit record behind the adapter's back, as someone with
    /// raw table access could.
    pub async fn tamper_audit(&self, record: AuditRecord) {
        match &self.backend {
            Backend::Memory { store, .. } => store.tamper_audit(record),
            Backend::Aws {
                dynamo, audit_table, ..
            } => {
                dynamo
                    .put_item()
                    .table_name(audit_table)
                    .set_item(Some(items::audit_to_item(&record)))
                    .send()
                    .await
                    .expect("raw put");
            }
        }
    }

    /// The status events delivered for `orders`, waiting until `expected` arrived
    /// (or a timeout). On AWS they are read from the bus's tap queue.
    pub async fn delivered_events(&self, orders: &HashSet<OrderId>, expected: usize) -> Vec<StatusEvent> {
        match &self.backend {
            Backend::Memory { events, .. } => events
                .published()
                .into_iter()
                .filter(|e| orders.contains(&e.order_id))
                .collect(),
            Backend::Aws { sqs, tap_queue_url, .. } => {
                let mut got = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(20);
                while got.len() < expected && Instant::now() < deadline {
                    let out = sqs
                        .receive_message()
                        .queue_url(tap_queue_url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .send()
                        .await
                        .expect("receive from tap");
                    for m in out.messages() {
                        let envelope: serde_json::Value =
                            serde_json::from_str(m.body().unwrap_or_default()).expect("EventBridge envelope");
                        assert_eq!(envelope["source"], "orders");
                        assert_eq!(envelope["detail-type"], "Order Status Changed");
                        let event: StatusEvent =
                            serde_json::from_value(envelope["detail"].clone()).expect("event detail");
                        if orders.contains(&event.order_id) {
                            got.push(event);
                            let receipt = m.receipt_handle().unwrap_or_default();
                            sqs.delete_message()
                                .queue_url(tap_queue_url)
                                .receipt_handle(receipt)
                                .send()
                                .await
                                .ok();
                        }
                    }
                }
                got
            }
        }
    }
}
