//! `WriteOnceStore` in memory: objects are never replaced or removed, as in an S3
//! bucket under Object Lock in compliance mode. Can be told to fail a key's writes
//! (S3 unavailable for that request).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{StoreError, WriteOnceStore};

#[derive(Default)]
pub struct MemoryWriteOnce {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    failing: Mutex<BTreeSet<String>>,
}

impl MemoryWriteOnce {
    /// Writes of `key` fail until the store is dropped.
    pub fn fail_key(&self, key: &str) {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
    }
}

#[async_trait]
impl WriteOnceStore for MemoryWriteOnce {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        if self.failing.lock().unwrap_or_else(|p| p.into_inner()).contains(key) {
            return Err(StoreError::Unavailable {
                service: "the write-once store",
                detail: format!("writing {key} failed (test)"),
            });
        }
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        if objects.contains_key(key) {
            return Ok(false);
        }
        objects.insert(key.to_owned(), body);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        Ok(objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}
