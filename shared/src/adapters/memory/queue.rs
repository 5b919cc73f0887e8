//! `WorkQueue` in memory: FIFO, with receive counts and visibility on receive
//! (a received message is invisible until deleted or `release_all` puts it back).

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{QueueError, ReceivedMessage, WorkMessage, WorkQueue};

#[derive(Default)]
struct Inner {
    next_id: u64,
    visible: VecDeque<(String, String, u32)>,
    in_flight: Vec<(String, String, u32)>,
    visibility: Vec<(String, u32)>,
    delays: Vec<u32>,
}

#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every received-but-not-deleted message visible again (a visibility
    /// timeout expiring).
    pub fn release_all(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let in_flight = std::mem::take(&mut inner.in_flight);
        inner.visible.extend(in_flight);
    }

    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.visible.len() + inner.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `change_visibility` so far: (receipt handle, seconds).
    pub fn visibility_changes(&self) -> Vec<(String, u32)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).visibility.clone()
    }

    /// The delay of every `send` so far, in order (this queue delivers at once).
    pub fn send_delays(&self) -> Vec<u32> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).delays.clone()
    }

    /// The bodies of the messages waiting or in flight, decoded.
    pub fn messages(&self) -> Vec<WorkMessage> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .visible
            .iter()
            .chain(inner.in_flight.iter())
            .filter_map(|(_, body, _)| serde_json::from_str(body).ok())
            .collect()
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, message: &WorkMessage, delay_seconds: u32) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError::Encode(e.to_string()))?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.delays.push(delay_seconds);
        inner.next_id += 1;
        let id = format!("m-{}", inner.next_id);
        inner.visible.push_back((id, body, 0));
        Ok(())
    }

    async fn receive(&self, max: u32, _wait_seconds: u32) -> Result<Vec<ReceivedMessage>, QueueError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        while out.len() < max as usize {
            let Some((id, body, count)) = inner.visible.pop_front() else {
                break;
            };
            let count = count + 1;
            out.push(ReceivedMessage {
                message_id: id.clone(),
                receipt_handle: format!("{id}/{count}"),
                body: body.clone(),
                receive_count: count,
            });
            inner.in_flight.push((id, body, count));
        }
        Ok(out)
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = receipt_handle.split('/').next().unwrap_or_default().to_owned();
        inner.in_flight.retain(|(m, _, _)| *m != id);
        Ok(())
    }

    /// Recorded for tests (`visibility_changes`). Zero makes the message visible at
    /// once, as SQS does; any other timeout keeps it in flight until `release_all`.
    async fn change_visibility(&self, receipt_handle: &str, seconds: u32) -> Result<(), QueueError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.visibility.push((receipt_handle.to_owned(), seconds));
        if seconds == 0 {
            let id = receipt_handle.split('/').next().unwrap_or_default();
            if let Some(i) = inner.in_flight.iter().position(|(m, _, _)| m == id) {
                let message = inner.in_flight.remove(i);
                inner.visible.push_back(message);
            }
        }
        Ok(())
    }
}
