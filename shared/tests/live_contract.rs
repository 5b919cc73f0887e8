//! The live-update stores (issue 18) held to one contract, in memory and on DynamoDB
//! (the local emulator: `ORDERS_TABLE`, `CONNECTIONS_TABLE_NAME` from the stack env;
//! plain `cargo test` skips the emulator half): a trader's connections are its own;
//! a trader's orders by their last change, oldest first, cut at the limit, including
//! changes within one second (the index's text order is not time order there).

use std::sync::Arc;

use shared::adapters::aws::{DynamoConnections, DynamoOrderChanges, DynamoStore, sdk_config};
use shared::adapters::memory::{MemoryConnections, MemoryOrderChanges, MemoryStore};
use shared::app::fixtures::place_limit_buy;
use shared::domain::{Order, Timestamp, TraderId};
use shared::ports::{Connections, LiveConnection, OrderChanges, OrderStore};

struct Fixture {
    connections: Arc<dyn Connections>,
    changes: Arc<dyn OrderChanges>,
    store: Arc<dyn OrderStore>,
    /// The memory double is fed by hand (the AWS one reads the orders table).
    memory_changes: Option<Arc<MemoryOrderChanges>>,
}

impl Fixture {
    async fn order(&self, trader: &TraderId) -> Order {
        let o = place_limit_buy(self.store.as_ref(), trader, "1", "10").await;
        if let Some(m) = &self.memory_changes {
            m.put(o.clone());
        }
        o
    }
}

fn memory() -> Fixture {
    let changes = Arc::new(MemoryOrderChanges::new());
    Fixture {
        connections: Arc::new(MemoryConnections::new()),
        changes: changes.clone(),
        store: Arc::new(MemoryStore::new()),
        memory_changes: Some(changes),
    }
}

async fn aws() -> Fixture {
    let env = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set: run against the stack env"));
    let sdk = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    Fixture {
        connections: Arc::new(DynamoConnections::new(dynamo.clone(), env("CONNECTIONS_TABLE_NAME"))),
        changes: Arc::new(DynamoOrderChanges::new(dynamo.clone(), env("ORDERS_TABLE"))),
        store: Arc::new(DynamoStore::new(dynamo, env("ORDERS_TABLE"), env("AUDIT_TABLE"))),
        memory_changes: None,
    }
}

fn trader() -> TraderId {
    TraderId::parse(&format!("live-{}", ulid::Ulid::new().to_string().to_lowercase())).unwrap()
}

fn at_second(t: Timestamp) -> Timestamp {
    Timestamp::from_unix_millis(t.unix_seconds() * 1000).unwrap()
}

async fn connections_are_kept_per_trader(f: Fixture) {
    let (a, b) = (trader(), trader());
    let now = at_second(Timestamp::now());
    let conn = |id: &str, t: &TraderId| LiveConnection {
        connection_id: id.into(),
        trader_id: t.clone(),
        connected_at: now,
        expires_at: now.plus_seconds(7200),
    };
    for c in [conn("a1", &a), conn("a2=", &a), conn("b1", &b)] {
        f.connections.add(&c).await.unwrap();
    }
    let mut got = f.connections.of_trader(&a).await.unwrap();
    got.sort_by(|x, y| x.connection_id.cmp(&y.connection_id));
    assert_eq!(got, vec![conn("a1", &a), conn("a2=", &a)]);
    f.connections.remove(&a, "a1").await.unwrap();
    f.connections.remove(&a, "never-there").await.unwrap();
    assert_eq!(f.connections.of_trader(&a).await.unwrap(), vec![conn("a2=", &a)]);
    assert_eq!(f.connections.of_trader(&b).await.unwrap(), vec![conn("b1", &b)]);
}

async fn expired_connections_are_found_whatever_their_trader(f: Fixture) {
    let (a, b) = (trader(), trader());
    let now = at_second(Timestamp::now());
    let conn = |id: &str, t: &TraderId, expires_in: i64| LiveConnection {
        connection_id: id.into(),
        trader_id: t.clone(),
        connected_at: now.plus_seconds(-60),
        expires_at: now.plus_seconds(expires_in),
    };
    let (a_old, a_live, b_old) = (conn("a-old", &a, -5), conn("a-live", &a, 600), conn("b-old", &b, 0));
    for c in [&a_old, &a_live, &b_old] {
        f.connections.add(c).await.unwrap();
    }
    // The table may hold other tests' connections: only these traders' are checked.
    let mut got: Vec<LiveConnection> = f
        .connections
        .expired(now)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.trader_id == a || c.trader_id == b)
        .collect();
    got.sort_by(|x, y| x.connection_id.cmp(&y.connection_id));
    assert_eq!(got, vec![a_old, b_old], "expired at or before now, of any trader");
}

async fn orders_come_by_their_last_change_oldest_first_and_cut_at_the_limit(f: Fixture) {
    let (a, b) = (trader(), trader());
    f.store.fund_account(&a, "100000".parse().unwrap(), None).await.unwrap();
    f.store.fund_account(&b, "100000".parse().unwrap(), None).await.unwrap();
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(f.order(&a).await);
        tokio::time::sleep(std::time::Duration::from_millis(7)).await;
    }
    f.order(&b).await;
    // The stack's pipeline may move these orders on (their updated_at only grows) while
    // the test reads: the checks hold whatever it did in between.
    let ids = |orders: &[Order]| {
        orders
            .iter()
            .map(|o| o.order_id)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let sorted = |orders: &[Order]| {
        orders
            .windows(2)
            .all(|w| (w[0].updated_at, w[0].order_id) <= (w[1].updated_at, w[1].order_id))
    };
    let from = mine[0].updated_at.plus_seconds(-1);
    let all = f.changes.changed_since(&a, from, 10).await.unwrap();
    assert_eq!(ids(&all), ids(&mine), "the trader's orders and no one else's");
    assert!(
        sorted(&all),
        "oldest change first: {:?}",
        all.iter().map(|o| o.updated_at).collect::<Vec<_>>()
    );
    let t = all[2].updated_at;
    let later = f.changes.changed_since(&a, t, 10).await.unwrap();
    assert!(later.iter().all(|o| o.updated_at >= t), "at or after the time given");
    assert!(
        ids(&all[2..]).is_subset(&ids(&later)),
        "every order changed at or after it"
    );
    let cut = f.changes.changed_since(&a, from, 2).await.unwrap();
    assert_eq!(cut.len(), 2);
    assert!(sorted(&cut));
    let fresh = f.changes.changed_since(&a, from, 10).await.unwrap();
    let last = cut[1].updated_at;
    assert!(
        fresh
            .iter()
            .filter(|o| !ids(&cut).contains(&o.order_id))
            .all(|o| o.updated_at >= last),
        "the oldest `limit`"
    );
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::$case(crate::memory()).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test]
                #[ignore = "needs the local AWS emulator: run against scripts/stack.sh's env"]
                async fn $case() {
                    crate::$case(crate::aws().await).await;
                }
            )+
        }
    };
}

contract!(
    connections_are_kept_per_trader,
    expired_connections_are_found_whatever_their_trader,
    orders_come_by_their_last_change_oldest_first_and_cut_at_the_limit,
);
