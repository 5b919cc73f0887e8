//! Hostile requests through the local gateway (issue 6, scenario 5), sent byte for
//! byte: the submit catalogue, nasty paths (traversal, encoded NUL, bytes that are not
//! UTF-8, 10 KB and 70 KB ids), query strings and header values. No 5xx, no panic in
//! the stack's logs, each refusal the specific problem it should be; and the trader's
//! account holds exactly the reservations of the orders that were accepted.

use std::collections::BTreeMap;

use e2e::Stack;
use e2e::hostile::{Expect, RawAnswer, check_answer, order_with, raw_request, submit_catalogue};
use e2e::report::{Row, panics_so_far};
use rust_decimal::Decimal;

/// Refusals the HTTP server library makes before the gateway sees the request (a
/// request line that is not UTF-8, a 70 KB URI): a bare status, as API Gateway's own
/// protocol errors are; anything else must be problem+json.
const PROTOCOL_REFUSALS: [u16; 3] = [400, 414, 431];

#[derive(Default)]
struct Run {
    operations: u64,
    server_errors: u64,
    by_status: BTreeMap<u16, u64>,
    protocol_refusals: u64,
    created: Vec<(String, Decimal)>,
    failures: Vec<String>,
}

impl Run {
    fn check(&mut self, what: &str, a: &RawAnswer, expect: &Expect) {
        self.operations += 1;
        *self.by_status.entry(a.status).or_default() += 1;
        if a.status >= 500 {
            self.server_errors += 1;
        }
        if a.body.is_empty() && PROTOCOL_REFUSALS.contains(&a.status) && *expect == Expect::Protocol {
            self.protocol_refusals += 1;
            return;
        }
        let checked = check_answer(a.status, a.header("content-type"), &a.body)
            .and_then(|p| expect.matches(a.status, p.as_ref()));
        if let Err(e) = checked {
            self.failures.push(format!("{what}: {e}"));
        }
        if a.status == 201 {
            let order: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
            let reserved = order["reserved_amount"].as_str().and_then(|r| r.parse().ok());
            match (order["order_id"].as_str(), reserved) {
                (Some(id), Some(r)) => self.created.push((id.to_owned(), r)),
                _ => self
                    .failures
                    .push(format!("{what}: a 201 without order id and reservation")),
            }
        }
    }
}

fn not_found() -> Expect {
    Expect::problem(404, "not-found", None)
}

fn bad(field: &'static str) -> Expect {
    Expect::problem(400, "bad-parameter", Some(field))
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn the_gateway_answers_hostile_requests_specifically() {
    let s = Stack::from_env().await.expect("the local stack's environment");
    let panics_before = panics_so_far();
    let trader = s.trader_with_rate("100000", 100_000).await.unwrap();
    let auth = format!("Bearer {}", s.token(&trader));
    let mut run = Run::default();
    let send = |method: &str, target: &[u8], extra: &[(&str, &[u8])], body: &[u8]| {
        let mut headers: Vec<(&str, &[u8])> = vec![("authorization", auth.as_bytes())];
        headers.extend_from_slice(extra);
        raw_request(&s.api, method, target, &headers, body).expect("an HTTP answer")
    };

    for c in submit_catalogue() {
        let ct: Vec<(&str, &[u8])> = c
            .content_type
            .map(|t| ("content-type", t.as_bytes()))
            .into_iter()
            .collect();
        let a = send("POST", b"/orders", &ct, &c.body);
        run.check(&c.name, &a, &c.expect);
    }

    let id = ulid::Ulid::new().to_string();
    let mut long_id = b"/orders/".to_vec();
    long_id.extend(std::iter::repeat_n(b'A', 10_000));
    let mut huge_id = b"/orders/".to_vec();
    huge_id.extend(std::iter::repeat_n(b'A', 70_000));
    let paths: Vec<(&str, Vec<u8>, &str, Expect)> = vec![
        ("10 KB id", long_id, "GET", not_found()),
        ("70 KB id", huge_id, "GET", Expect::Protocol),
        (
            "raw byte 0xFF in the path",
            b"/orders/\xff".to_vec(),
            "GET",
            Expect::Protocol,
        ),
        ("encoded NUL id", b"/orders/%00".to_vec(), "GET", not_found()),
        (
            "encoded bytes not UTF-8",
            b"/orders/%FF%FE".to_vec(),
            "GET",
            not_found(),
        ),
        (
            "dot-dot to the account",
            b"/orders/../account".to_vec(),
            "GET",
            not_found(),
        ),
        (
            "encoded dot-dot",
            b"/orders/..%2F..%2Faccount".to_vec(),
            "GET",
            not_found(),
        ),
        (
            "dot-dot id on fills",
            b"/orders/%2e%2e/fills".to_vec(),
            "GET",
            not_found(),
        ),
        ("double slash", b"//orders".to_vec(), "GET", not_found()),
        ("upper case", b"/ACCOUNT".to_vec(), "GET", not_found()),
        (
            "trailing segment",
            format!("/orders/{id}/cancel/x").into_bytes(),
            "POST",
            not_found(),
        ),
        (
            "RTL override id",
            "/orders/\u{202e}1".as_bytes().to_vec(),
            "GET",
            Expect::Protocol,
        ),
        (
            "emoji id, encoded",
            b"/orders/%F0%9F%92%B0/audit".to_vec(),
            "GET",
            not_found(),
        ),
        (
            "DELETE an order",
            format!("/orders/{id}").into_bytes(),
            "DELETE",
            not_found(),
        ),
        ("PUT the account", b"/account".to_vec(), "PUT", not_found()),
        (
            "cancel a ULID of nothing",
            format!("/orders/{id}/cancel").into_bytes(),
            "POST",
            not_found(),
        ),
    ];
    for (what, target, method, expect) in &paths {
        let a = send(method, target, &[], b"");
        run.check(what, &a, expect);
    }

    let queries: Vec<(&str, String, Expect)> = vec![
        ("10k-digit limit", format!("limit={}", "9".repeat(10_000)), bad("limit")),
        ("negative limit", "limit=-1".into(), bad("limit")),
        ("scientific limit", "limit=1e2".into(), bad("limit")),
        ("NaN limit", "limit=NaN".into(), bad("limit")),
        ("NUL limit", "limit=%00".into(), bad("limit")),
        ("full-width limit", "limit=%EF%BC%91".into(), bad("limit")),
        // A repeated parameter: the first one counts (lambda_http reads rawQueryString).
        (
            "repeated limit, second bad",
            "limit=1&limit=-2".into(),
            Expect::Success(200),
        ),
        ("repeated limit, first bad", "limit=-1&limit=2".into(), bad("limit")),
        ("RTL status", "status=%E2%80%AEDELLIF".into(), bad("status")),
        ("status with NUL", "status=PENDING%00".into(), bad("status")),
        ("8 KB cursor", format!("cursor=c1{}", "zz".repeat(4_000)), bad("cursor")),
        ("cursor of another shape", "cursor=c1%F0%9F%92%B0".into(), bad("cursor")),
    ];
    for (what, query, expect) in &queries {
        let a = send("GET", format!("/orders?{query}").as_bytes(), &[], b"");
        run.check(what, &a, expect);
    }
    let many = vec!["x=1"; 2_000].join("&");
    let a = send("GET", format!("/orders?{many}").as_bytes(), &[], b"");
    run.check("2000 unknown query parameters", &a, &Expect::Success(200));

    let valid = order_with("symbol", "\"AAPL\"");
    let long_key = "k".repeat(129);
    let keys: Vec<(&str, &[u8])> = vec![
        ("empty key", b""),
        ("129-char key", long_key.as_bytes()),
        ("Cyrillic key", "ключ".as_bytes()),
        ("key with a space", b"a b"),
        ("key of bytes not UTF-8", b"\xff\xfe"),
        ("key with an emoji", "k\u{1f511}".as_bytes()),
    ];
    for (what, key) in keys {
        let a = send("POST", b"/orders", &[("idempotency-key", key)], valid.as_bytes());
        run.check(what, &a, &bad("Idempotency-Key"));
    }

    // Every accepted order is there, and the account holds exactly their reservations.
    let token = s.token(&trader);
    let mut lost = 0;
    for (id, _) in &run.created {
        if s.get(&format!("/orders/{id}"), &token).await.unwrap().status != 200 {
            lost += 1;
        }
    }
    let listed = s.get("/orders?limit=200", &token).await.unwrap();
    let listed = listed.body["orders"].as_array().map_or(0, Vec::len);
    let account = s.get("/account", &token).await.unwrap();
    let dec = |v: &serde_json::Value| v.as_str().and_then(|x| x.parse::<Decimal>().ok());
    let reserved: Decimal = run.created.iter().map(|(_, r)| *r).sum();
    let balances_right = dec(&account.body["cash"]) == Some(Decimal::from(100_000))
        && dec(&account.body["reserved"]) == Some(reserved)
        && listed == run.created.len();

    let mut row = Row::new(
        5,
        "hostile requests through the gateway",
        "oversized/deep/odd JSON, paths, queries, headers",
    );
    row.operations = run.operations;
    row.server_errors = run.server_errors;
    row.lost_orders = lost;
    row.wrong_balances = u64::from(!balances_right);
    row.panics = panics_so_far().saturating_sub(panics_before);
    row.notes = format!(
        "answers by status: {:?}; bare protocol refusals (hyper: 70 KB URI, non-UTF-8 request line): {}; \
         orders accepted: {} (listed {listed}); contract violations: {}",
        run.by_status,
        run.protocol_refusals,
        run.created.len(),
        run.failures.len()
    );
    row.record_and_check();
    assert!(run.failures.is_empty(), "{}", run.failures.join("\n"));
    assert!(
        balances_right,
        "account {:?}, {listed} listed, reserved {reserved}",
        account.body
    );
}
