//! `StatusEvents` in memory: records what was published; can be told to fail, as a
//! whole (the bus down) or entry by entry (PutEvents' `FailedEntryCount`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use crate::ports::{PublishError, ReconciliationEvent, StatusEvent, StatusEvents, TradingStateEvent};

#[derive(Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<StatusEvent>>,
    trading: Mutex<Vec<TradingStateEvent>>,
    reconciled: Mutex<Vec<ReconciliationEvent>>,
    failures_left: AtomicU32,
    refused_next: Mutex<Vec<usize>>,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` publish calls fail as if the bus were down.
    pub fn fail_next(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// The next publish call refuses the entries at these indexes (and publishes
    /// the others), as PutEvents does when some entries fail.
    pub fn refuse_next(&self, indexes: &[usize]) {
        *self.refused_next.lock().unwrap_or_else(|e| e.into_inner()) = indexes.to_vec();
    }

    pub fn published_trading_states(&self) -> Vec<TradingStateEvent> {
        self.trading.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn published_reconciliations(&self) -> Vec<ReconciliationEvent> {
        self.reconciled.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn published(&self) -> Vec<StatusEvent> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl MemoryEvents {
    /// Publishes `events` into `into`, failing as told (`fail_next`, `refuse_next`).
    fn put<T: Clone>(&self, into: &Mutex<Vec<T>>, events: &[T]) -> Result<(), PublishError> {
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(PublishError::Unavailable("injected failure".into()));
        }
        let refused: Vec<usize> = std::mem::take(&mut *self.refused_next.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .filter(|&i| i < events.len())
            .collect();
        let mut published = into.lock().unwrap_or_else(|e| e.into_inner());
        published.extend(
            events
                .iter()
                .enumerate()
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, e)| e.clone()),
        );
        if refused.is_empty() {
            Ok(())
        } else {
            Err(PublishError::Failed {
                failed: refused,
                total: events.len(),
                detail: "InternalFailure: injected entry failure".into(),
            })
        }
    }
}

#[async_trait]
impl StatusEvents for MemoryEvents {
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError> {
        self.put(&self.published, events)
    }

    async fn publish_reconciliations(&self, events: &[ReconciliationEvent]) -> Result<(), PublishError> {
        self.put(&self.reconciled, events)
    }

    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError> {
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(PublishError::Unavailable("injected failure".into()));
        }
        self.trading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(events.iter().cloned());
        Ok(())
    }
}
