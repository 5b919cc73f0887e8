//! `AttentionLog` over the in-memory store (the records share its lock, so a
//! transition's record is all-or-nothing with it), and `DeadLetters` in memory: a
//! dead-letter queue of message bodies in front of a `MemoryQueue`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::Date;

use super::{MemoryQueue, MemoryStore};
use crate::ports::{
    Attention, AttentionKind, AttentionLog, AttentionPage, DeadLetterDepth, DeadLetters, QueueError, Redriven,
    StoreError, WorkMessage, WorkQueue,
};

#[async_trait]
impl AttentionLog for MemoryStore {
    async fn record_attention_once(&self, record: &Attention, once: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if !state.attention_once.insert((record.day(), once.to_owned())) {
            return Ok(false);
        }
        state
            .attention
            .insert((record.kind, record.day(), record.position()), record.clone());
        Ok(true)
    }

    async fn attention_records(
        &self,
        kind: AttentionKind,
        day: Date,
        limit: u32,
        after: Option<&str>,
    ) -> Result<AttentionPage, StoreError> {
        let limit = limit.max(1) as usize;
        let state = self.lock();
        let mut newest_first = state
            .attention
            .range((kind, day, String::new())..)
            .take_while(|((k, d, _), _)| *k == kind && *d == day)
            .filter(|((_, _, position), _)| after.is_none_or(|a| position.as_str() < a))
            .map(|(_, a)| a.clone())
            .collect::<Vec<_>>();
        newest_first.reverse();
        let more = newest_first.len() > limit;
        newest_first.truncate(limit);
        let next = more.then(|| newest_first.last().map(Attention::position)).flatten();
        Ok(AttentionPage {
            records: newest_first,
            next,
        })
    }
}

/// A dead-letter queue in memory whose redrive sends to `work`.
pub struct MemoryDeadLetters {
    work: Arc<MemoryQueue>,
    bodies: Mutex<VecDeque<WorkMessage>>,
}

impl MemoryDeadLetters {
    pub fn new(work: Arc<MemoryQueue>) -> Self {
        Self {
            work,
            bodies: Mutex::new(VecDeque::new()),
        }
    }

    /// What SQS does after a message's last receive: it lands here.
    pub fn dead_letter(&self, message: WorkMessage) {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner()).push_back(message);
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn dead_letter_depth(&self) -> Result<DeadLetterDepth, QueueError> {
        let n = self.bodies.lock().unwrap_or_else(|e| e.into_inner()).len();
        Ok(DeadLetterDepth {
            messages: n as u64,
            in_flight: 0,
        })
    }

    async fn redrive_dead_letters(&self, max: u32) -> Result<Redriven, QueueError> {
        let mut moved = 0;
        while moved < max {
            let Some(message) = self.bodies.lock().unwrap_or_else(|e| e.into_inner()).front().cloned() else {
                return Ok(Redriven { moved, more: false });
            };
            // Sent first, removed after: a failed send leaves it here.
            self.work.send(&message, 0).await?;
            self.bodies.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            moved += 1;
        }
        let more = !self.bodies.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        Ok(Redriven { moved, more })
    }
}
