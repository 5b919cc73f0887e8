// Long because: the HTTP API end to end, one test per SPEC behaviour over one shared stack.
//! The HTTP API end to end (SPEC §3–§5): real HTTP to the local gateway, the JWT
//! authorizer, the functions under `cargo lambda watch`, DynamoDB and SQS on the
//! emulator. `make test` starts the stack and runs these (`--include-ignored`).

use e2e::{Stack, limit_buy};
use rust_decimal::Decimal;
use serde_json::json;

async fn stack() -> Stack {
    Stack::from_env().await.expect("the local stack's environment")
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().and_then(|s| s.parse().ok()).expect("a decimal string")
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn submit_replay_and_key_reuse() {
    let s = stack().await;
    let alice = s.trader("50000", None).await.unwrap();
    let t = s.token(&alice);
    let body = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
        "limit_price": "150.25", "stop_price": null, "time_in_force": "day", "client_order_id": "c-1"});

    let first = s.submit(&t, Some("key-1"), &body).await.unwrap();
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.content_type(), "application/json");
    assert_eq!(first.body["status"], "PENDING");
    assert_eq!(first.body["trader_id"], alice.as_str());
    assert_eq!(first.body["reserved_amount"], "1502.50");
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same request again, with the keys in another order: the same JSON.
    let reordered = json!({"client_order_id": "c-1", "time_in_force": "day", "stop_price": null,
        "limit_price": "150.25", "quantity": "10", "type": "limit", "side": "buy", "symbol": "AAPL"});
    let replay = s.submit(&t, Some("key-1"), &reordered).await.unwrap();
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body);

    let other = s.submit(&t, Some("key-1"), &limit_buy("11", "150.25")).await.unwrap();
    assert_eq!(other.status, 422);
    assert_eq!(other.content_type(), "application/problem+json");
    assert_eq!(other.body["type"], "/problems/idempotency-key-reused");

    let list = s.get("/orders", &t).await.unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body["orders"].as_array().unwrap().len(),
        1,
        "one order for three requests"
    );
    let account = s.get("/account", &t).await.unwrap();
    assert_eq!(dec(&account.body["reserved"]), Decimal::new(150250, 2));
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn insufficient_funds_is_422_with_the_exact_message_and_only_an_audit_record() {
    let s = stack().await;
    let bob = s.trader("3200", None).await.unwrap();
    let t = s.token(&bob);
    let r = s.submit(&t, Some("big"), &limit_buy("100", "150")).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.body["type"], "/problems/insufficient-funds");
    assert_eq!(
        r.detail(),
        "Insufficient funds for $15,000.00 order; available: $3,200.00"
    );

    // A refused submit is replayed as the same 422.
    let again = s.submit(&t, Some("big"), &limit_buy("100", "150")).await.unwrap();
    assert_eq!(again.status, 422);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, r.body);

    let orders = s.get("/orders", &t).await.unwrap();
    assert_eq!(orders.body["orders"], json!([]));
    let account = s.get("/account", &t).await.unwrap();
    assert_eq!(dec(&account.body["reserved"]), Decimal::ZERO);
    assert_eq!(dec(&account.body["cash"]), Decimal::from(3200));
    // The operator's funding (the account's own chain) and the refusal: nothing else.
    let mut actions = s.audit_actions(&bob).await.unwrap();
    actions.sort();
    assert_eq!(actions, vec!["FUND".to_owned(), "SUBMIT_REJECTED".to_owned()]);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn another_traders_order_is_not_found_on_every_route() {
    let s = stack().await;
    let owner = s.trader("10000", None).await.unwrap();
    let intruder = s.trader("10000", None).await.unwrap();
    let order = s.submit(&s.token(&owner), None, &limit_buy("1", "100")).await.unwrap();
    assert_eq!(order.status, 201);
    let id = order.body["order_id"].as_str().unwrap();
    let t = s.token(&intruder);
    for path in [
        format!("/orders/{id}"),
        format!("/orders/{id}/fills"),
        format!("/orders/{id}/audit"),
    ] {
        let r = s.get(&path, &t).await.unwrap();
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["type"], "/problems/not-found");
    }
    let r = s.cancel(&t, id).await.unwrap();
    assert_eq!(r.status, 404);
    // The owner's order is untouched, and theirs to see.
    let mine = s.get(&format!("/orders/{id}"), &s.token(&owner)).await.unwrap();
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["status"], "PENDING");
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn the_101st_submit_in_a_minute_is_429_with_retry_after() {
    let s = stack().await;
    let carol = s.trader("1000000", None).await.unwrap();
    let t = s.token(&carol);
    // A fixed one-minute window: start at the top of a minute so all 101 land in one
    // even while the other tests load the stack.
    let second = time_of_minute();
    if second > 2 {
        tokio::time::sleep(std::time::Duration::from_secs(60 - second)).await;
    }
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(s.submit(&t, None, &limit_buy("1", "10")).await.unwrap().status);
    }
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let r = s.submit(&t, None, &limit_buy("1", "10")).await.unwrap();
    assert_eq!(r.status, 429, "{:?}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        r.detail(),
        format!("Rate limit of 100 orders per minute exceeded; retry after {retry} s")
    );
}

fn time_of_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 60)
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn cancel_pending_releases_and_cancel_filled_is_409() {
    let s = stack().await;
    let dave = s.trader("10000", None).await.unwrap();
    let t = s.token(&dave);
    let a = s.submit(&t, None, &limit_buy("10", "100")).await.unwrap();
    let a_id = a.body["order_id"].as_str().unwrap().to_owned();
    let cancelled = s.cancel(&t, &a_id).await.unwrap();
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    let account = s.get("/account", &t).await.unwrap();
    assert_eq!(dec(&account.body["reserved"]), Decimal::ZERO);

    let b = s.submit(&t, None, &limit_buy("5", "100")).await.unwrap();
    let b_id = b.body["order_id"].as_str().unwrap().to_owned();
    let filled = s.fill_completely(&dave, &b_id, "99.50").await.unwrap();
    assert_eq!(filled.status.to_string(), "FILLED");
    let r = s.cancel(&t, &b_id).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.body["type"], "/problems/order-not-cancellable");
    assert_eq!(
        r.detail(),
        "Cannot cancel order in FILLED status. Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled."
    );
    // Its fills and audit trail, through the API.
    let fills = s.get(&format!("/orders/{b_id}/fills"), &t).await.unwrap();
    assert_eq!(fills.status, 200);
    assert_eq!(fills.body["fills"].as_array().unwrap().len(), 1);
    let audit = s.get(&format!("/orders/{b_id}/audit"), &t).await.unwrap();
    let actions: Vec<&str> = audit.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["SUBMIT", "CLAIM", "FILL"]);
    let account = s.get("/account", &t).await.unwrap();
    assert_eq!(dec(&account.body["cash"]), Decimal::new(1000000 - 49750, 2));
    assert_eq!(account.body["positions"][0]["quantity"], "5");
    assert_eq!(dec(&account.body["reserved"]), Decimal::ZERO);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn bad_requests_get_field_level_4xx_never_5xx() {
    let s = stack().await;
    let erin = s.trader("10000", None).await.unwrap();
    let t = s.token(&erin);
    let raw = |body: &str| s.send("POST", "/orders", Some(&t), &[], Some(body.to_owned()));

    let r = raw("{\"symbol\": \"AAPL\",").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["type"], "/problems/malformed-json");

    let r = raw(r#"{"symbol": 7, "side": "buy", "type": "limit", "quantity": true, "limit_price": "1"}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 422, "{:?}", r.body);
    let fields = r.error_fields();
    assert!(
        fields.contains(&"symbol".to_owned()) && fields.contains(&"quantity".to_owned()),
        "{fields:?}"
    );

    // What the venue would refuse after acceptance is refused here, on the field:
    // fractional shares only on market/day orders, no sub-penny price from $1 up.
    for (qty, price, field, message) in [
        ("-5", "10", "quantity", "Quantity must be greater than 0"),
        ("0", "10", "quantity", "Quantity must be greater than 0"),
        (
            "0.5",
            "10",
            "quantity",
            "Fractional quantities are accepted only for market orders with time in force day; use a whole number of shares",
        ),
        (
            "1",
            "150.255",
            "limit_price",
            "Limit price of $1.00 or more must have at most 2 decimal places (no sub-penny prices)",
        ),
    ] {
        let r = s.submit(&t, None, &limit_buy(qty, price)).await.unwrap();
        assert_eq!(r.status, 422);
        let errors = r.body["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["message"] == message),
            "{errors:?}"
        );
    }

    let r = s
        .submit(
            &t,
            None,
            &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), vec!["limit_price".to_owned()]);

    let r = raw(&format!("{{\"symbol\": \"{}\"}}", "A".repeat(70_000)))
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.body["type"], "/problems/body-too-large");

    let r = s
        .send(
            "POST",
            "/orders",
            Some(&t),
            &[("idempotency-key", "")],
            Some("{}".into()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{:?}", r.body);

    for query in ["limit=0", "limit=abc", "status=NOPE", "cursor=zzz"] {
        let r = s.get(&format!("/orders?{query}"), &t).await.unwrap();
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(1), "{query}");
    }

    // Nothing above was accepted.
    let orders = s.get("/orders", &t).await.unwrap();
    assert_eq!(orders.body["orders"], json!([]));
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn tokens_are_checked_by_the_gateway() {
    let s = stack().await;
    let frank = s.trader("10", None).await.unwrap();
    // Every route but health needs a token; the gateway's authorizer refuses first.
    let id = "01JDZ8Q4Y6P7X2M3N4B5C6D7E8";
    let routes = [
        ("POST", "/orders".to_owned()),
        ("GET", "/orders".to_owned()),
        ("GET", format!("/orders/{id}")),
        ("POST", format!("/orders/{id}/cancel")),
        ("GET", format!("/orders/{id}/fills")),
        ("GET", format!("/orders/{id}/audit")),
        ("GET", "/account".to_owned()),
    ];
    for (method, path) in &routes {
        let body = (*method == "POST").then(|| "{}".to_owned());
        let r = s.send(method, path, None, &[], body).await.unwrap();
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(r.content_type(), "application/problem+json");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let expired = s.token_with(json!({"sub": frank.as_str()}), -120);
    assert_eq!(s.get("/account", &expired).await.unwrap().status, 401);
    let wrong_aud = s.token_with(json!({"sub": frank.as_str(), "aud": "someone-else"}), 60);
    assert_eq!(s.get("/account", &wrong_aud).await.unwrap().status, 401);
    let r = s.send("GET", "/health", None, &[], None).await.unwrap();
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    // No account yet: the account view is a 404, and a submit a 422 naming it.
    let ghost = shared::domain::TraderId::parse("e2e-ghost-without-account").unwrap();
    let r = s.get("/account", &s.token(&ghost)).await.unwrap();
    assert_eq!(r.status, 404);
    let r = s
        .send("GET", "/no-such-route", Some(&s.token(&frank)), &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn list_pages_newest_first_and_filters_by_status() {
    let s = stack().await;
    let gail = s.trader("10000", None).await.unwrap();
    let t = s.token(&gail);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = s.submit(&t, None, &limit_buy("1", "10")).await.unwrap();
        ids.push(r.body["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(s.cancel(&t, &ids[0]).await.unwrap().status, 200);
    let mut seen = Vec::new();
    let mut path = "/orders?limit=2".to_owned();
    loop {
        let page = s.get(&path, &t).await.unwrap();
        assert_eq!(page.status, 200);
        seen.extend(
            page.body["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["order_id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/orders?limit=2&cursor={c}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let cancelled = s.get("/orders?status=CANCELLED", &t).await.unwrap();
    let only: Vec<&str> = cancelled.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(only, vec![ids[0].as_str()]);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn concurrent_submits_never_overspend() {
    let s = stack().await;
    // Funds for exactly 50 orders of $100; a budget that lets all 200 requests in.
    let hank = s.trader_with_rate("5000", 1000).await.unwrap();
    let t = s.token(&hank);
    let body = limit_buy("1", "100");
    let answers = futures::future::join_all((0..200).map(|_| s.submit(&t, None, &body))).await;
    let mut accepted = Decimal::ZERO;
    let (mut created, mut refused) = (0, 0);
    for a in answers {
        let a = a.unwrap();
        match a.status {
            201 => {
                created += 1;
                accepted += dec(&a.body["reserved_amount"]);
            }
            422 => {
                assert_eq!(a.body["type"], "/problems/insufficient-funds", "{:?}", a.body);
                refused += 1;
            }
            other => panic!("unexpected {other}: {:?}", a.body),
        }
    }
    assert_eq!((created, refused), (50, 150));
    let account = s.get("/account", &t).await.unwrap();
    assert_eq!(dec(&account.body["reserved"]), accepted);
    assert_eq!(dec(&account.body["buying_power"]), Decimal::ZERO);
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn concurrent_submits_with_one_key_make_one_order() {
    let s = stack().await;
    let ivy = s.trader("10000", None).await.unwrap();
    let t = s.token(&ivy);
    let body = limit_buy("2", "50");
    let answers = futures::future::join_all((0..20).map(|_| s.submit(&t, Some("same-key"), &body))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let first = &answers[0].body["order_id"];
    assert!(answers.iter().all(|a| &a.body["order_id"] == first));
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    let orders = s.get("/orders", &t).await.unwrap();
    assert_eq!(orders.body["orders"].as_array().unwrap().len(), 1);
}
