//! `StatusEvents` in memory: records what was published; can be told to fail.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use crate::ports::{PublishError, StatusEvent, StatusEvents};

#[derive(Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<StatusEvent>>,
    failures_left: AtomicU32,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` publish calls fail as if the bus were down.
    pub fn fail_next(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    pub fn published(&self) -> Vec<StatusEvent> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl StatusEvents for MemoryEvents {
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError> {
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(PublishError::Unavailable("injected failure".into()));
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}
