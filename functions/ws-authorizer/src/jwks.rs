//! The issuer's signing keys (its JWKS), fetched once and kept for `ttl`; a token
//! naming a key the cache does not hold refetches at most once a `refetch_after`
//! (the issuer rotated its keys), so forged `kid`s cannot make every connect call the
//! issuer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};

use crate::Refusal;

/// Where the keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The key named `kid` (or the only key, when the token names none and the set has one).
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, Refusal>;
}

/// Fetches a JWKS document.
#[async_trait]
pub trait JwksFetch: Send + Sync {
    async fn fetch(&self) -> Result<JwkSet, String>;
}

/// The issuer's JWKS over HTTPS.
pub struct HttpJwks {
    pub client: reqwest::Client,
    pub url: String,
}

#[async_trait]
impl JwksFetch for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("{} answered {}", self.url, response.status()));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("{}: not a JWKS: {e}", self.url))
    }
}

struct Cached {
    set: JwkSet,
    fetched: Instant,
}

pub struct JwksCache<F> {
    fetch: F,
    ttl: Duration,
    refetch_after: Duration,
    cached: Mutex<Option<Cached>>,
}

impl<F: JwksFetch> JwksCache<F> {
    pub fn new(fetch: F, ttl: Duration, refetch_after: Duration) -> Self {
        Self {
            fetch,
            ttl,
            refetch_after,
            cached: Mutex::new(None),
        }
    }

    fn find(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
        match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        }
    }

    fn lookup(&self, kid: Option<&str>) -> (Option<Jwk>, bool) {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            None => (None, true),
            Some(c) => {
                let age = c.fetched.elapsed();
                let found = Self::find(&c.set, kid);
                let stale = age >= self.ttl;
                let may_refetch = found.is_none() && age >= self.refetch_after;
                (found.filter(|_| !stale), stale || may_refetch)
            }
        }
    }
}

#[async_trait]
impl<F: JwksFetch> KeySource for JwksCache<F> {
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, Refusal> {
        let (found, refetch) = self.lookup(kid);
        if let Some(jwk) = found {
            return Ok(jwk);
        }
        if !refetch {
            return Err(Refusal::UnknownKey);
        }
        let set = self.fetch.fetch().await.map_err(Refusal::Keys)?;
        let found = Self::find(&set, kid);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            set,
            fetched: Instant::now(),
        });
        found.ok_or(Refusal::UnknownKey)
    }
}
