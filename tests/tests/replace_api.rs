//! `PATCH /api/v1/orders/{id}` end to end without the venue (phase 1 of `make test`:
//! orders stay PENDING, or become what a test makes them): every refusal a replace can
//! get, each a specific 4xx that changes nothing. The replace at the venue, its races
//! with fills and its lost answers are `reliability::replace` (phase 2).

use e2e::{Stack, limit_buy};

async fn stack() -> Stack {
    Stack::from_env().await.expect("the local stack's environment")
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn replace_refusals_are_specific_and_change_nothing() {
    let s = stack().await;
    let trader = s.trader("10000", None).await.unwrap();
    let t = s.token(&trader);
    let patch = |id: &str, body: &str, key: Option<&'static str>| {
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        let (path, body, t) = (format!("/orders/{id}"), body.to_owned(), t.clone());
        let s = &s;
        async move { s.send("PATCH", &path, Some(&t), &headers, Some(body)).await.unwrap() }
    };

    // An order that does not exist, or an id that cannot exist.
    let r = patch("01JB0000000000000000000000", r#"{"limit_price": "1"}"#, None).await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (404, Some("/problems/not-found")),
        "{:?}",
        r.body
    );
    let r = patch("not-an-id", r#"{"limit_price": "1"}"#, None).await;
    assert_eq!(r.status, 404, "{:?}", r.body);

    // PENDING (not at the venue yet, as phase 1 leaves it): 409, retry later.
    let a = s.submit(&t, None, &limit_buy("10", "100")).await.unwrap();
    let id = a.body["order_id"].as_str().unwrap().to_owned();
    let r = patch(&id, r#"{"limit_price": "101"}"#, None).await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (409, Some("/problems/order-not-replaceable")),
        "{:?}",
        r.body
    );
    assert!(
        r.detail().starts_with("Cannot replace order in PENDING status"),
        "{}",
        r.detail()
    );

    // Bad bodies: not JSON (400), nothing to change, unknown or inapplicable fields,
    // bad values (422 naming every field), a bad key (400).
    let r = patch(&id, "{", None).await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (400, Some("/problems/malformed-json"))
    );
    let r = patch(&id, "{}", None).await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["body".to_owned()]),
        "{:?}",
        r.body
    );
    let r = patch(
        &id,
        r#"{"side": "sell", "stop_price": "5", "quantity": "-1", "time_in_force": "ioc", "limit_price": "10.001"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["limit_price", "quantity", "side", "stop_price", "time_in_force"],
        "{:?}",
        r.body
    );
    let r = s
        .send(
            "PATCH",
            &format!("/orders/{id}"),
            Some(&t),
            &[("idempotency-key", "bad key!")],
            Some("{}".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (400, Some("/problems/bad-parameter")),
        "{:?}",
        r.body
    );

    // No token: the gateway refuses it. A body over 16 KiB: 413.
    let r = s
        .send(
            "PATCH",
            &format!("/orders/{id}"),
            None,
            &[],
            Some(r#"{"limit_price": "101"}"#.into()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{:?}", r.body);
    let big = format!(r#"{{"limit_price": "101", "pad": "{}"}}"#, "x".repeat(17 * 1024));
    let r = patch(&id, &big, None).await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (413, Some("/problems/body-too-large")),
        "{:?}",
        r.body
    );

    // A terminal order cannot change.
    let cancelled = s.cancel(&t, &id).await.unwrap();
    assert_eq!(cancelled.body["status"], "CANCELLED");
    let r = patch(&id, r#"{"limit_price": "101"}"#, Some("replace-cancelled")).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(
        r.detail().starts_with("Cannot replace order in CANCELLED status"),
        "{}",
        r.detail()
    );

    // Nothing changed: the order is as the cancel left it, nothing is held.
    let after = s.get(&format!("/orders/{id}"), &t).await.unwrap().body;
    assert_eq!(
        (after["status"].as_str(), after["version"].as_u64()),
        (Some("CANCELLED"), Some(2))
    );
    assert_eq!(after["limit_price"], "100");
    let account = s.get("/account", &t).await.unwrap().body;
    assert_eq!(
        account["reserved"].as_str().and_then(|v| v.parse::<f64>().ok()),
        Some(0.0)
    );
    let audit = s.get(&format!("/orders/{id}/audit"), &t).await.unwrap();
    let actions: Vec<&str> = audit.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["SUBMIT", "CANCEL_REQUEST"]);
}
