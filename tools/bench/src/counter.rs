//! The SDK interceptor that counts AWS calls: attached to each client's config, it
//! reads the service and operation from the config bag's `Metadata` and counts one
//! call per operation (`read_before_serialization`) and one attempt per try on the wire
//! (`read_after_attempt`, so retries show as attempts > calls). For DynamoDB and
//! EventBridge it keeps the JSON bodies of successful attempts: request units and
//! billed events are computed from them (`units`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::Value;

/// `(service, operation)` as the SDK names them, e.g. `("dynamodb", "TransactWriteItems")`.
pub type Op = (String, String);

/// One successful attempt's request and response bodies.
#[derive(Clone, Debug)]
pub struct Captured {
    pub op: Op,
    pub request: Value,
    pub response: Value,
}

/// What the counter saw since it was last taken.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub calls: BTreeMap<Op, u64>,
    pub attempts: BTreeMap<Op, u64>,
    /// Attempts answered with a non-2xx status (throttles, conditional failures).
    pub failed: BTreeMap<Op, u64>,
    pub captured: Vec<Captured>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        for (mine, theirs) in [
            (&mut self.calls, &other.calls),
            (&mut self.attempts, &other.attempts),
            (&mut self.failed, &other.failed),
        ] {
            for (op, n) in theirs {
                *mine.entry(op.clone()).or_default() += n;
            }
        }
        self.captured.extend(other.captured.iter().cloned());
    }
}

/// Counts the calls of every client it is attached to (clone it into each config).
#[derive(Clone, Debug, Default)]
pub struct Counter {
    tally: Arc<Mutex<Tally>>,
    /// Request bodies between `read_before_transmit` and `read_after_attempt` (the
    /// request has been sent, and its body taken, by the time the attempt ends).
    /// Paired by operation: concurrent calls of one operation may swap bodies,
    /// which only matters when they differ in what they bill.
    sent: Arc<Mutex<Vec<(Op, Value)>>>,
}

impl Counter {
    /// Everything counted since the last `take`, leaving the counter empty.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.lock())
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, Vec<(Op, Value)>> {
        self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn op_of(cfg: &ConfigBag) -> Op {
    match cfg.load::<Metadata>() {
        Some(m) => (m.service().to_owned(), m.name().to_owned()),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

fn json_of(bytes: Option<&[u8]>) -> Value {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null)
}

/// Services whose bodies `units` reads.
fn captures(service: &str) -> bool {
    let s = service.to_ascii_lowercase();
    s.contains("dynamodb") || s.contains("eventbridge")
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "orders-bench call counter"
    }

    /// Once per operation, after the operation's config (and its `Metadata`) is loaded.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.lock().calls.entry(op_of(cfg)).or_default() += 1;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_of(cfg);
        if captures(&op.0) {
            let body = json_of(context.request().body().bytes());
            self.sent().push((op, body));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_of(cfg);
        let ok = context.response().is_some_and(|r| r.status().is_success());
        let request = if captures(&op.0) {
            let mut sent = self.sent();
            let at = sent.iter().position(|(o, _)| *o == op);
            at.map(|i| sent.remove(i).1).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let captured = (ok && captures(&op.0)).then(|| Captured {
            op: op.clone(),
            request,
            response: json_of(context.response().and_then(|r| r.body().bytes())),
        });
        let mut tally = self.lock();
        *tally.attempts.entry(op.clone()).or_default() += 1;
        if !ok {
            *tally.failed.entry(op.clone()).or_default() += 1;
        }
        if std::env::var_os("BENCH_DEBUG").is_some() {
            let show = |v: &Value| v.to_string().chars().take(300).collect::<String>();
            eprintln!(
                "{op:?} ok={ok} captured={:?}",
                captured.as_ref().map(|c| (show(&c.request), show(&c.response)))
            );
            if !ok {
                let body = context
                    .response()
                    .and_then(|r| r.body().bytes())
                    .map(String::from_utf8_lossy);
                let error = context
                    .output_or_error()
                    .and_then(|r| r.err())
                    .map(|e| format!("{e:?}"));
                eprintln!(
                    "  failed: {:?} {body:?} {error:?}",
                    context.response().map(|r| r.status().as_u16())
                );
            }
        }
        tally.captured.extend(captured);
        Ok(())
    }
}
