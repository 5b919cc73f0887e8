//! Alpaca's rate-limit headers on submit's answers (issue 20): `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` on every answer counted against the
//! trader's orders-per-minute budget, accepted, refused, replayed or limited.

use e2e::{Stack, limit_buy};

async fn stack() -> Stack {
    Stack::from_env().await.expect("the local stack's environment")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn figures(r: &e2e::Answer) -> (Option<u32>, Option<u32>, Option<i64>) {
    (
        r.header("x-ratelimit-limit").and_then(|v| v.parse().ok()),
        r.header("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
        r.header("x-ratelimit-reset").and_then(|v| v.parse().ok()),
    )
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn every_counted_submit_answer_tells_the_budget_left() {
    let s = stack().await;
    // Start early in a minute, so the three submits share one window.
    let into_minute = unix_now() % 60;
    if into_minute > 50 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - into_minute) as u64)).await;
    }
    let trader = s.trader_with_rate("2000", 3).await.unwrap();
    let t = s.token(&trader);
    let before = unix_now();

    let first = s.submit(&t, Some("rl-1"), &limit_buy("1", "10")).await.unwrap();
    assert_eq!(first.status, 201, "{:?}", first.body);
    let (limit, remaining, reset) = figures(&first);
    assert_eq!((limit, remaining), (Some(3), Some(2)));
    let reset = reset.expect("a reset time");
    assert!(
        reset > before && reset <= before + 60,
        "the next minute opens at {reset}"
    );
    assert_eq!(reset % 60, 0, "windows are whole minutes");

    // A refusal counts, and says so.
    let refused = s.submit(&t, None, &limit_buy("1000", "10")).await.unwrap();
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(figures(&refused), (Some(3), Some(1), Some(reset)));
    // A replay counts too (SPEC §5: its 429 is not stored).
    let replay = s.submit(&t, Some("rl-1"), &limit_buy("1", "10")).await.unwrap();
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(figures(&replay), (Some(3), Some(0), Some(reset)));
    let limited = s.submit(&t, None, &limit_buy("1", "10")).await.unwrap();
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert_eq!(figures(&limited), (Some(3), Some(0), Some(reset)));

    // A malformed request is answered before it is counted: no figures to give.
    let malformed = s
        .send("POST", "/orders", Some(&t), &[], Some("{not json".into()))
        .await
        .unwrap();
    assert_eq!((malformed.status, figures(&malformed)), (400, (None, None, None)));
}
