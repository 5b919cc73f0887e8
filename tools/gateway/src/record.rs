//! `--record FILE`: every exchange through the gateway as one JSON line, so the
//! OpenAPI check (`tools/check_openapi.py`) can hold the document to the real
//! responses of a test run:
//! `{"method", "path", "route" (the template's route key, or null), "status",
//!   "headers" (lower-case names, string values), "body" (JSON, a string, or null)}`.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::event::Reply;

#[derive(Serialize)]
pub struct Exchange<'a> {
    method: &'a str,
    path: &'a str,
    route: Option<&'a str>,
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Value,
}

impl<'a> Exchange<'a> {
    pub fn new(method: &'a str, path: &'a str, route: Option<&'a str>, reply: &Reply) -> Self {
        let mut headers = serde_json::Map::new();
        for (k, v) in &reply.headers {
            headers
                .entry(k.to_ascii_lowercase())
                .or_insert_with(|| Value::String(v.clone()));
        }
        let body = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.body).into_owned()))
        };
        Self {
            method,
            path,
            route,
            status: reply.status,
            headers,
            body,
        }
    }
}

pub struct Recorder(Mutex<std::fs::File>);

impl Recorder {
    pub fn append_to(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self(Mutex::new(file)))
    }

    /// One line per exchange; a failed write is logged, never fatal to the request.
    pub fn write(&self, exchange: &Exchange<'_>) {
        let Ok(mut line) = serde_json::to_string(exchange) else {
            return;
        };
        line.push('\n');
        let result = match self.0.lock() {
            Ok(mut f) => f.write_all(line.as_bytes()),
            Err(poisoned) => poisoned.into_inner().write_all(line.as_bytes()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the exchange");
        }
    }
}
