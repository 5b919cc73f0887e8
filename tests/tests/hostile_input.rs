//! Hostile input (issue 6, scenario 5): no 5xx, no panic, every refusal a specific
//! problem+json naming the field at fault.
//!
//! In process (runs in `cargo test`): proptest throws arbitrary bytes, JSON shapes,
//! nasty field values, header values, order ids, query strings and route keys at the
//! submit, cancel and query handlers over in-memory ports, plus the fixed catalogue of
//! `e2e::hostile::submit_catalogue`. Over HTTP (`#[ignore]`, needs the local stack):
//! the same catalogue and nasty paths, queries and headers through the gateway.

#[path = "hostile/in_process.rs"]
mod in_process;
#[path = "hostile/over_http.rs"]
mod over_http;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use e2e::hostile::{check_answer, fields, order_with, submit_catalogue};
use e2e::report::Row;
use in_process::{InProcess, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Cases per property; `HOSTILE_CASES` raises it for a longer run.
fn cases() -> u32 {
    std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Counts over the whole run, for the reliability row.
#[derive(Default)]
struct Tally {
    operations: AtomicU64,
    server_errors: AtomicU64,
    panics: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    /// Counts one answer and checks the error contract on it.
    fn check(&self, what: &str, outcome: &Outcome) -> Result<Option<Value>, String> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Panicked(p) => {
                self.panics.fetch_add(1, Ordering::Relaxed);
                Err(format!("{what}: the handler panicked: {p}"))
            }
            Outcome::Answered { status, .. } if *status >= 500 => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                Err(format!("{what}: {outcome:?}"))
            }
            Outcome::Answered {
                status,
                content_type,
                body,
            } => check_answer(*status, content_type, body).map_err(|e| format!("{what}: {e}")),
        }
    }

    /// Runs one property for `cases()` cases; a failure is kept (shrunk) for the end.
    fn property<S: Strategy>(&self, name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), String>) {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, |v| test(v).map_err(TestCaseError::fail)) {
            self.failures.lock().unwrap().push(format!("{name}: {e}"));
        }
    }
}

/// Strings with what breaks naive parsers: RTL overrides, zero-width and combining
/// marks, emoji, full-width and Arabic-Indic digits, NUL, quotes, very long runs.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9A-Za-z._/@:|+-]{0,140}",
        "[\u{202e}\u{200b}\u{301}\u{1f4b0}\u{ff10}-\u{ff19}\u{660}-\u{669}\u{0}\"\\\\ a-zA-Z0-9.eE+-]{0,40}",
        (1usize..20_000).prop_map(|n| "9".repeat(n)),
        Just(String::new()),
        prop::sample::select(vec![
            "NaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e5",
            "-0",
            "0x1F",
            "1e400",
            "1e-400"
        ])
        .prop_map(str::to_owned),
    ]
}

/// JSON number texts, including ones serde_json refuses (out of f64's range).
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(|n| n.to_string())),
        "-?[0-9]{1,45}(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?",
        any::<i64>().prop_map(|i| i.to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_string().prop_map(Value::String),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "symbol",
            "side",
            "type",
            "quantity",
            "limit_price",
            "stop_price",
            "time_in_force",
            "client_order_id",
        ])
        .prop_map(str::to_owned),
        nasty_string(),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(key.clone(), inner, 0..10).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Raw JSON text for one field's value.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty_string().prop_map(|s| Value::String(s).to_string()),
        number_text(),
        number_text().prop_map(|n| format!("\"{n}\"")),
        json_value().prop_map(|v| v.to_string()),
    ]
}

const FIELDS: [&str; 9] = [
    "symbol",
    "side",
    "type",
    "quantity",
    "limit_price",
    "stop_price",
    "time_in_force",
    "client_order_id",
    "unknown_field",
];

/// A 422 validation error must name the field that was tampered with.
fn names(field: &str, problem: Option<&Value>) -> Result<(), String> {
    match problem {
        Some(p) if p["type"] == "/problems/validation-error" && !fields(p).iter().any(|f| f == field) => {
            Err(format!("the validation error does not name {field}: {p}"))
        }
        Some(p) if p["status"] == 400 && p["type"] != "/problems/malformed-json" => {
            Err(format!("a 400 that is not malformed JSON for a body field: {p}"))
        }
        _ => Ok(()),
    }
}

#[test]
fn handlers_survive_hostile_input_in_process() {
    let w = InProcess::new();
    let t = Tally::default();

    for c in submit_catalogue() {
        let headers: Vec<(&str, &[u8])> = c
            .content_type
            .map(|ct| ("content-type", ct.as_bytes()))
            .into_iter()
            .collect();
        let out = w.submit(&headers, &c.body);
        let checked = t
            .check(&c.name, &out)
            .and_then(|p| c.expect.matches(out.status(), p.as_ref()));
        if let Err(e) = checked {
            t.failures.lock().unwrap().push(format!("catalogue {}: {e}", c.name));
        }
    }
    t.property("arbitrary bytes", prop::collection::vec(any::<u8>(), 0..4096), |body| {
        t.check("bytes", &w.submit(&[], &body)).map(drop)
    });
    t.property("arbitrary JSON", json_value(), |v| {
        t.check("json", &w.submit(&[], v.to_string().as_bytes())).map(drop)
    });
    t.property(
        "one field replaced",
        (prop::sample::select(FIELDS.to_vec()), field_value()),
        |(field, value)| {
            let out = w.submit(&[], order_with(field, &value).as_bytes());
            names(field, t.check(field, &out)?.as_ref())
        },
    );
    t.property(
        "header values",
        (
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(any::<u8>(), 0..100),
        ),
        |(key, content_type)| {
            let body = order_with("symbol", "\"AAPL\"");
            let out = w.submit(
                &[("idempotency-key", &key), ("content-type", &content_type)],
                body.as_bytes(),
            );
            let p = t.check("headers", &out)?;
            let sent = lambda_http::http::HeaderValue::from_bytes(&key).is_ok();
            let valid = (1..=128).contains(&key.len())
                && key.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.@:|+".contains(b));
            match (sent && !valid, out.status()) {
                (false, 201) => Ok(()),
                (true, 400) if p.as_ref().is_some_and(|p| fields(p) == ["Idempotency-Key"]) => Ok(()),
                (bad, s) => Err(format!("key {key:?} (invalid: {bad}) got {s}: {p:?}")),
            }
        },
    );
    let ids = prop_oneof![nasty_string(), "[0-9A-Za-z]{26}"];
    t.property("order ids", (ids, 0usize..4), |(id, route)| {
        let out = match route {
            0 => w.cancel(&id),
            r => w.query(
                [
                    "GET /api/v1/orders/{id}",
                    "GET /api/v1/orders/{id}/fills",
                    "GET /api/v1/orders/{id}/audit",
                ][r - 1],
                Some(&id),
                &[],
            ),
        };
        let p = t.check(&id, &out)?;
        if out.status() == 404 && p.is_some_and(|p| p["type"] == "/problems/not-found") {
            Ok(())
        } else {
            Err(format!("id {id:?} on route {route}: {out:?}"))
        }
    });
    let param = prop::option::of(prop_oneof![nasty_string(), "[0-9]{1,4}", "(pending|FILLED|Cancelled)"]);
    t.property(
        "list query",
        (param.clone(), param.clone(), param),
        |(status, limit, cursor)| {
            let given: Vec<(&str, String)> = [("status", status), ("limit", limit), ("cursor", cursor)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            let out = w.query("GET /api/v1/orders", None, &given);
            let p = t.check("list", &out)?;
            match (out.status(), p) {
                (200, _) => Ok(()),
                (400, Some(p)) if fields(&p).iter().all(|f| given.iter().any(|(k, _)| k == f)) => Ok(()),
                (s, p) => Err(format!("{given:?}: {s} {p:?}")),
            }
        },
    );
    t.property("route keys", nasty_string(), |route| {
        let out = w.query(&route, Some("01JDZ8Q4Y6P7X2M3N4B5C6D7E8"), &[]);
        t.check(&route, &out).map(drop)
    });

    let mut row = Row::new(
        5,
        "in-process fuzz of submit/cancel/query handlers",
        "proptest: bytes, JSON shapes, nasty values, headers, ids, queries",
    );
    row.operations = t.operations.load(Ordering::Relaxed);
    row.server_errors = t.server_errors.load(Ordering::Relaxed);
    row.panics = t.panics.load(Ordering::Relaxed);
    let failures = t.failures.into_inner().unwrap();
    row.notes = format!(
        "{} catalogue bodies; {} cases per property; contract violations: {}",
        submit_catalogue().len(),
        cases(),
        failures.len()
    );
    row.record_and_check();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
