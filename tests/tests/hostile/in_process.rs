//! The API handlers in process, for `hostile_input.rs`: submit, cancel and query over
//! one in-memory store, requests built as API Gateway hands them over (the verified
//! claims in the request context), and a panic caught and reported as an outcome
//! rather than unwinding through the property runner.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use cancel::Cancel;
use futures::FutureExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use query::Query;
use rust_decimal::Decimal;
use shared::adapters::memory::MemoryStore;
use shared::domain::{Pricing, RiskLimits, TraderId};
use shared::ports::{OrderStore, SystemClock};
use submit::Submit;

const TRADER: &str = "hostile";

/// What a handler did with one request.
#[derive(Debug)]
pub enum Outcome {
    Answered {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    Panicked(String),
}

impl Outcome {
    /// The status, 0 for a panic.
    pub fn status(&self) -> u16 {
        match self {
            Self::Answered { status, .. } => *status,
            Self::Panicked(_) => 0,
        }
    }
}

pub struct InProcess {
    rt: tokio::runtime::Runtime,
    submit: Submit,
    cancel: Cancel,
    query: Query,
}

fn request(method: &str, route: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Request {
    let ctx: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
        "routeKey": route,
        "requestId": "req-hostile",
        "stage": "$default",
        "authorizer": {"jwt": {"claims": {"sub": TRADER}, "scopes": null}},
        "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
    }))
    .expect("a request context");
    let mut builder = lambda_http::http::Request::builder().method(method).uri("/");
    for (name, value) in headers {
        // What HTTP cannot carry (CR, LF, NUL) never reaches a function.
        if let Ok(v) = HeaderValue::from_bytes(value) {
            builder = builder.header(*name, v);
        }
    }
    let body = match body {
        [] => Body::Empty,
        bytes => match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        },
    };
    builder
        .body(body)
        .expect("a request")
        .with_request_context(RequestContext::ApiGatewayV2(ctx))
}

fn answered(resp: Response<Body>) -> Outcome {
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match resp.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    };
    Outcome::Answered {
        status: resp.status().as_u16(),
        content_type,
        body,
    }
}

impl InProcess {
    /// A store with one funded trader whose rate and open-order limits never bind, so
    /// every refusal the properties see is about the input.
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let store = Arc::new(MemoryStore::new());
        let limits = RiskLimits {
            orders_per_minute: u32::MAX,
            max_open_orders: u32::MAX,
            ..RiskLimits::default()
        };
        let trader = TraderId::parse(TRADER).expect("a trader id");
        rt.block_on(store.fund_account(&trader, Decimal::from(1_000_000_000), Some(limits)))
            .expect("funded");
        let clock = Arc::new(SystemClock);
        Self {
            submit: Submit {
                store: store.clone(),
                clock: clock.clone(),
                pricing: Pricing::default(),
                market_data: None,
                queue: None,
            },
            cancel: Cancel {
                store: store.clone(),
                clock: clock.clone(),
                queue: None,
            },
            query: Query {
                store: store.clone(),
                audit: store,
                clock,
            },
            rt,
        }
    }

    fn run(&self, fut: impl Future<Output = Response<Body>>) -> Outcome {
        match self.rt.block_on(AssertUnwindSafe(fut).catch_unwind()) {
            Ok(resp) => answered(resp),
            Err(panic) => Outcome::Panicked(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            ),
        }
    }

    pub fn submit(&self, headers: &[(&str, &[u8])], body: &[u8]) -> Outcome {
        self.run(
            self.submit
                .handle(request("POST", "POST /api/v1/orders", headers, body)),
        )
    }

    pub fn cancel(&self, id: &str) -> Outcome {
        let req = request("POST", "POST /api/v1/orders/{id}/cancel", &[], &[])
            .with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())]));
        self.run(self.cancel.handle(req))
    }

    /// A read route by its route key, with the `{id}` path parameter and query.
    pub fn query(&self, route: &str, id: Option<&str>, params: &[(&str, String)]) -> Outcome {
        let mut req = request("GET", route, &[], &[]);
        if let Some(id) = id {
            req = req.with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())]));
        }
        if !params.is_empty() {
            let q: HashMap<String, String> = params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            req = req.with_query_string_parameters(q);
        }
        self.run(self.query.handle(req))
    }
}
