//! Execution end to end (SPEC §6, §7): submit over HTTP, the stream publisher queues
//! the order, the execute function sends it to the exchange simulator through the
//! Alpaca adapter, fills and status changes come back, and the bus carries one event
//! per transition, in version order. Each test trades its own symbol, so moving a
//! price in one test cannot fill another's orders.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::Stack;
use serde_json::json;

// Named `execution::…` so `make test` can run them after the API suite, once the
// exchange simulator and the event-source mappings are up (`--skip execution::`).
mod execution {
    use super::*;

    const WAIT: Duration = Duration::from_secs(60);

    fn dec(v: &serde_json::Value) -> rust_decimal::Decimal {
        v.as_str().and_then(|s| s.parse().ok()).expect("a decimal string")
    }

    async fn stack() -> Stack {
        Stack::from_env().await.expect("the local stack's environment")
    }

    fn limit(symbol: &str, side: &str, qty: &str, price: &str, tif: &str) -> serde_json::Value {
        json!({"symbol": symbol, "side": side, "type": "limit", "quantity": qty, "limit_price": price,
            "time_in_force": tif})
    }

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL): make test starts it"]
    async fn a_marketable_order_fills_and_its_events_arrive_in_version_order() {
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let tap = s.tap(&t).await.unwrap();
        let token = s.token(&t);
        // A limit far above the market fills at once, at the market price.
        let r = s
            .submit(&token, None, &limit("MKTA", "buy", "5", "1000", "day"))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["order_id"].as_str().unwrap().to_owned();
        let filled = s.wait_for_status(&t, &id, &["FILLED"], WAIT).await.unwrap();
        assert_eq!(filled["filled_quantity"], "5");
        assert_eq!(filled["version"], 3);

        let events = tap.collect(&BTreeMap::from([(id.clone(), 3)]), WAIT).await.unwrap();
        let mut versions: Vec<u64> = events.iter().map(|e| e.version).collect();
        versions.dedup();
        assert_eq!(versions, vec![1, 2, 3], "in version order: {events:?}");
        let transitions: Vec<(Option<&str>, &str)> = [1, 2, 3]
            .iter()
            .map(|v| {
                let e = events.iter().find(|e| e.version == *v).unwrap();
                (e.previous.as_deref(), e.status.as_str())
            })
            .collect();
        assert_eq!(
            transitions,
            vec![
                (None, "PENDING"),
                (Some("PENDING"), "SUBMITTED"),
                (Some("SUBMITTED"), "FILLED")
            ]
        );
        assert_eq!(s.sim_orders(&id).await.unwrap().len(), 1);

        // Cash moved by exactly what the fills say; nothing stays reserved.
        let fills = s.get(&format!("/orders/{id}/fills"), &token).await.unwrap();
        let spent: rust_decimal::Decimal = fills.body["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| dec(&f["quantity"]) * dec(&f["price"]))
            .sum();
        let account = s.get("/account", &token).await.unwrap();
        let cash = dec(&account.body["cash"]);
        assert_eq!(cash, rust_decimal::Decimal::from(100_000) - spent);
        assert!(dec(&account.body["reserved"]).is_zero(), "nothing stays reserved");
    }

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL): make test starts it"]
    async fn a_resting_limit_order_fills_when_the_market_comes_to_it() {
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let token = s.token(&t);
        // The simulator starts unknown symbols at 100: a buy at 90 rests.
        let r = s
            .submit(&token, None, &limit("RESTX", "buy", "3", "90", "gtc"))
            .await
            .unwrap();
        let id = r.body["order_id"].as_str().unwrap().to_owned();
        s.wait_for_status(&t, &id, &["SUBMITTED"], WAIT).await.unwrap();
        s.wait_at_venue(&id, WAIT).await.unwrap();
        // Placed: execute is done with it. While it rests, nothing looks it up at the
        // venue (no per-order re-check): the intake's sweep sees it in the venue's
        // list of open orders, whatever their number.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let placed_lookups = s.venue_lookups(&id).unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let resting = s.get(&format!("/orders/{id}"), &token).await.unwrap();
        assert_eq!(
            resting.body["status"], "SUBMITTED",
            "it rests while the market is above the limit"
        );
        assert_eq!(
            s.venue_lookups(&id).unwrap(),
            placed_lookups,
            "a resting order costs no venue call of its own"
        );

        s.sim_prices(json!({"RESTX": "89.50"})).await.unwrap();
        let filled = s.wait_for_status(&t, &id, &["FILLED"], WAIT).await.unwrap();
        let avg = dec(&filled["average_fill_price"]);
        assert!(
            avg <= rust_decimal::Decimal::from(90),
            "filled at {avg}, above its limit"
        );
        let at_venue = s.sim_orders(&id).await.unwrap();
        assert_eq!(at_venue.len(), 1);
        // Booked as the venue's own executions: its ids, quantities and prices.
        let venue: Vec<(String, String, String)> = at_venue[0]["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let id = f["execution_id"].as_str().unwrap().to_owned();
                (
                    id,
                    f["qty"].as_str().unwrap().to_owned(),
                    f["price"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let ours = s.get(&format!("/orders/{id}/fills"), &token).await.unwrap();
        let fills = ours.body["fills"].as_array().cloned().unwrap();
        assert_eq!(fills.len(), venue.len(), "{fills:?} vs {venue:?}");
        for f in &fills {
            let execution = f["execution_id"].as_str().unwrap();
            assert!(
                venue.iter().any(|(id, qty, price)| execution.ends_with(id.as_str())
                    && dec(&f["quantity"]) == qty.parse::<rust_decimal::Decimal>().unwrap()
                    && dec(&f["price"]) == price.parse::<rust_decimal::Decimal>().unwrap()),
                "our fill {f} is one of the venue's executions {venue:?}"
            );
        }
    }

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL): make test starts it"]
    async fn cancelling_a_working_order_cancels_it_at_the_venue() {
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let token = s.token(&t);
        let r = s
            .submit(&token, None, &limit("CANCX", "buy", "2", "50", "gtc"))
            .await
            .unwrap();
        let id = r.body["order_id"].as_str().unwrap().to_owned();
        s.wait_for_status(&t, &id, &["SUBMITTED"], WAIT).await.unwrap();
        let c = s.cancel(&token, &id).await.unwrap();
        assert_eq!(c.status, 200, "{:?}", c.body);
        assert_eq!(c.body["status"], "CANCEL_REQUESTED");
        let done = s.wait_for_status(&t, &id, &["CANCELLED"], WAIT).await.unwrap();
        assert_eq!(done["filled_quantity"], "0");
        let at_venue = s.sim_orders(&id).await.unwrap();
        assert_eq!(at_venue.len(), 1);
        assert_eq!(at_venue[0]["status"], "canceled");
        let account = s.get("/account", &token).await.unwrap();
        assert!(dec(&account.body["reserved"]).is_zero(), "nothing stays reserved");
    }

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL): make test starts it"]
    async fn a_venue_rejection_rejects_the_order_and_releases_its_funds() {
        let s = stack().await;
        let t = s.trader("100000", None).await.unwrap();
        let token = s.token(&t);
        // FOK for more than the simulator fills at once at this limit: nothing fills.
        let r = s
            .submit(&token, None, &limit("FOKX", "buy", "7", "1", "fok"))
            .await
            .unwrap();
        let id = r.body["order_id"].as_str().unwrap().to_owned();
        let done = s
            .wait_for_status(&t, &id, &["CANCELLED", "EXPIRED", "REJECTED"], WAIT)
            .await
            .unwrap();
        assert_eq!(done["filled_quantity"], "0", "{done}");
        let account = s.get("/account", &token).await.unwrap();
        assert!(dec(&account.body["reserved"]).is_zero(), "nothing stays reserved");
    }
}
