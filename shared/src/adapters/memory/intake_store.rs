//! `IntakeStore` in memory: the feed cursor (conditional on its version, as the
//! DynamoDB item is), the order locators, the venue aliases and the working index.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{OrderId, TraderId};
use crate::ports::{FeedPosition, IntakeStore, StoreError, StoredCursor, WorkingOrder};

#[derive(Default)]
struct Inner {
    cursors: HashMap<String, StoredCursor>,
    refs: HashMap<OrderId, TraderId>,
    aliases: HashMap<String, OrderId>,
    working: std::collections::BTreeMap<OrderId, WorkingOrder>,
    unavailable: bool,
    fail_next_advance: bool,
}

#[derive(Default)]
pub struct MemoryIntakeStore {
    inner: Mutex<Inner>,
}

impl MemoryIntakeStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.unavailable {
            return Err(StoreError::Unavailable {
                service: "memory intake store",
                detail: "switched off by the test".into(),
            });
        }
        Ok(inner)
    }

    /// The next `advance_feed_cursor` fails with `Unavailable` (a crash between
    /// booking a page and moving the cursor past it).
    pub fn fail_next_advance(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).fail_next_advance = true;
    }

    /// When on, every call fails with `Unavailable` (a crash of the caller midway).
    pub fn set_unavailable(&self, on: bool) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).unavailable = on;
    }
}

#[async_trait]
impl IntakeStore for MemoryIntakeStore {
    async fn feed_cursor(&self, feed: &str) -> Result<Option<StoredCursor>, StoreError> {
        Ok(self.lock()?.cursors.get(feed).cloned())
    }

    async fn advance_feed_cursor(&self, feed: &str, expected: u64, to: &FeedPosition) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if std::mem::take(&mut inner.fail_next_advance) {
            return Err(StoreError::Unavailable {
                service: "memory intake store",
                detail: "the cursor write was lost".into(),
            });
        }
        let version = inner.cursors.get(feed).map_or(0, |c| c.version);
        if version != expected {
            return Err(StoreError::Conflict);
        }
        inner.cursors.insert(
            feed.to_owned(),
            StoredCursor {
                position: to.clone(),
                version: version + 1,
            },
        );
        Ok(())
    }

    async fn put_order_ref(&self, order: &OrderId, trader: &TraderId) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        match inner.refs.get(order) {
            Some(t) if t != trader => Err(StoreError::AlreadyExists),
            _ => {
                inner.refs.insert(*order, trader.clone());
                Ok(())
            }
        }
    }

    async fn order_trader(&self, order: &OrderId) -> Result<Option<TraderId>, StoreError> {
        Ok(self.lock()?.refs.get(order).cloned())
    }

    async fn put_venue_alias(&self, venue_order_id: &str, order: &OrderId) -> Result<(), StoreError> {
        self.lock()?.aliases.insert(venue_order_id.to_owned(), *order);
        Ok(())
    }

    async fn venue_alias(&self, venue_order_id: &str) -> Result<Option<OrderId>, StoreError> {
        Ok(self.lock()?.aliases.get(venue_order_id).copied())
    }

    async fn put_working(&self, order: &WorkingOrder) -> Result<(), StoreError> {
        self.lock()?.working.insert(order.order_id, order.clone());
        Ok(())
    }

    async fn working_orders(&self) -> Result<Vec<WorkingOrder>, StoreError> {
        Ok(self.lock()?.working.values().cloned().collect())
    }

    async fn is_working(&self, order: &OrderId) -> Result<bool, StoreError> {
        Ok(self.lock()?.working.contains_key(order))
    }

    async fn cancel_done(&self, order: &OrderId) -> Result<bool, StoreError> {
        Ok(self.lock()?.working.get(order).is_some_and(|w| w.cancel_done))
    }

    async fn remove_working(&self, order: &OrderId) -> Result<(), StoreError> {
        self.lock()?.working.remove(order);
        Ok(())
    }
}
