//! The live-update ports in memory (issue 18): connections, a pusher that records what
//! each connection got (and can be told a connection is gone or failing), and the
//! orders-by-change-time index.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{Order, OrderId, Timestamp, TraderId};
use crate::ports::{Connections, LiveConnection, OrderChanges, PushError, Pusher, StoreError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connections keyed by (trader, connection id), as the table's key is.
#[derive(Default)]
pub struct MemoryConnections {
    items: Mutex<BTreeMap<(String, String), LiveConnection>>,
    failing: std::sync::atomic::AtomicBool,
}

impl MemoryConnections {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a connection under `key_trader`'s key whatever trader it names: how a
    /// corrupted or hand-edited item looks.
    pub fn insert_under(&self, key_trader: &TraderId, connection: LiveConnection) {
        lock(&self.items).insert((key_trader.to_string(), connection.connection_id.clone()), connection);
    }

    pub fn ids(&self) -> Vec<String> {
        lock(&self.items).keys().map(|(_, c)| c.clone()).collect()
    }

    /// While `on`, reading a trader's connections fails (the table unavailable).
    pub fn fail_reads(&self, on: bool) {
        self.failing.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl Connections for MemoryConnections {
    async fn add(&self, connection: &LiveConnection) -> Result<(), StoreError> {
        self.insert_under(&connection.trader_id, connection.clone());
        Ok(())
    }

    async fn remove(&self, trader: &TraderId, connection_id: &str) -> Result<(), StoreError> {
        lock(&self.items).remove(&(trader.to_string(), connection_id.to_owned()));
        Ok(())
    }

    async fn of_trader(&self, trader: &TraderId) -> Result<Vec<LiveConnection>, StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                service: "DynamoDB",
                detail: "injected: the connections table cannot be read".into(),
            });
        }
        let key = trader.to_string();
        Ok(lock(&self.items)
            .iter()
            .filter(|((t, _), _)| *t == key)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn expired(&self, now: Timestamp) -> Result<Vec<LiveConnection>, StoreError> {
        Ok(lock(&self.items)
            .values()
            .filter(|c| c.expires_at <= now)
            .cloned()
            .collect())
    }
}

/// Records every message per connection; connections can be made gone (410) or failing.
#[derive(Default)]
pub struct MemoryPusher {
    sent: Mutex<BTreeMap<String, Vec<Vec<u8>>>>,
    gone: Mutex<BTreeSet<String>>,
    failing: Mutex<BTreeSet<String>>,
    refusing: Mutex<BTreeSet<String>>,
    closed: Mutex<Vec<String>>,
}

impl MemoryPusher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn make_gone(&self, connection_id: &str) {
        lock(&self.gone).insert(connection_id.to_owned());
    }

    /// Every push to and close of `connection_id` fails (the management API down for it).
    pub fn make_failing(&self, connection_id: &str) {
        lock(&self.failing).insert(connection_id.to_owned());
    }

    /// Pushes to `connection_id` fail (throttled), but it can be closed.
    pub fn refuse_pushes(&self, connection_id: &str) {
        lock(&self.refusing).insert(connection_id.to_owned());
    }

    /// Makes `connection_id` work again.
    pub fn heal(&self, connection_id: &str) {
        lock(&self.failing).remove(connection_id);
        lock(&self.refusing).remove(connection_id);
    }

    /// The messages `connection_id` received, as JSON.
    pub fn received(&self, connection_id: &str) -> Vec<serde_json::Value> {
        lock(&self.sent)
            .get(connection_id)
            .into_iter()
            .flatten()
            .filter_map(|m| serde_json::from_slice(m).ok())
            .collect()
    }

    pub fn closed(&self) -> Vec<String> {
        lock(&self.closed).clone()
    }

    fn refusal(&self, connection_id: &str) -> Option<PushError> {
        if lock(&self.gone).contains(connection_id) {
            Some(PushError::Gone)
        } else if lock(&self.failing).contains(connection_id) {
            Some(PushError::Failed("injected failure".into()))
        } else {
            None
        }
    }
}

#[async_trait]
impl Pusher for MemoryPusher {
    async fn push(&self, connection_id: &str, message: &[u8]) -> Result<(), PushError> {
        if let Some(e) = self.refusal(connection_id) {
            return Err(e);
        }
        if lock(&self.refusing).contains(connection_id) {
            return Err(PushError::Failed("injected refusal (429)".into()));
        }
        lock(&self.sent)
            .entry(connection_id.to_owned())
            .or_default()
            .push(message.to_vec());
        Ok(())
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        if let Some(e) = self.refusal(connection_id) {
            return Err(e);
        }
        lock(&self.closed).push(connection_id.to_owned());
        lock(&self.gone).insert(connection_id.to_owned());
        Ok(())
    }
}

/// Orders by their last change, as the per-trader index of the orders table gives them.
#[derive(Default)]
pub struct MemoryOrderChanges {
    orders: Mutex<BTreeMap<OrderId, Order>>,
}

impl MemoryOrderChanges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the order's current state (replacing an older one).
    pub fn put(&self, order: Order) {
        lock(&self.orders).insert(order.order_id, order);
    }
}

#[async_trait]
impl OrderChanges for MemoryOrderChanges {
    async fn changed_since(&self, trader: &TraderId, since: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        let mut out: Vec<Order> = lock(&self.orders)
            .values()
            .filter(|o| &o.trader_id == trader && o.updated_at >= since)
            .cloned()
            .collect();
        out.sort_by_key(|o| (o.updated_at, o.order_id));
        out.truncate(limit);
        Ok(out)
    }
}
