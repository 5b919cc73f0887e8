//! Replace against fills at the venue (issue 20's must-show): resting buys replaced
//! while the market moves through them, in both orders of arrival and staggered
//! between, each PATCH sent twice with its key (the retry after a lost answer). Each
//! order must end as the venue did, with at most one venue order working at any time
//! (every version but the last ended, never two open), one replacement per accepted
//! replace, and money that adds up: cash by the fills, nothing left reserved.

use super::*;

#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn race_replace_against_a_fill_at_the_venue() {
    let _knobs = KNOBS.read().await;
    let s = stack().await;
    let panics = panics_so_far();
    let mut row = Row::new(
        3,
        "replace vs fill",
        "replace and a crossing price move, fill first / replace first / staggered 0-1.5 s; each PATCH retried with its key",
    );
    let cash = "100000";
    let trader = s.trader(cash, None).await.unwrap();
    let tap = EventTap::new(&s, &trader).await.unwrap();
    let token = s.token(&trader);
    let symbols = ["RPLA", "RPLB", "RPLC", "RPLD", "RPLE", "RPLF"];
    fresh_market(&s, &symbols).await;
    let bodies: Vec<Value> = symbols.iter().map(|sym| limit(sym, "3", "80", "gtc")).collect();
    let (mut statuses, ids) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(ids.len(), bodies.len(), "every submit accepted: {statuses:?}");
    row.lost_orders += wait_all(&s, &trader, &ids, &["SUBMITTED"]).await;
    for id in &ids {
        row.lost_orders += u64::from(s.wait_at_venue(id, WAIT).await.is_err());
    }
    let patch = |id: &str, key: String| {
        let (s, token, path) = (&s, &token, format!("/orders/{id}"));
        async move {
            let headers = [("idempotency-key", key.as_str())];
            s.send(
                "PATCH",
                &path,
                Some(token),
                &headers,
                Some(r#"{"limit_price": "85"}"#.into()),
            )
            .await
            .unwrap()
        }
    };
    // 0-1: the fill reaches the venue first; 2-3: the replace is confirmed first, then
    // the market comes down to 84 (only the new limit crosses it); 4-5: both at once,
    // the price move staggered 0 / 1.5 s after the PATCH.
    let races = symbols.iter().zip(&ids).enumerate().map(|(i, (sym, id))| {
        let (s, patch, trader) = (&s, &patch, &trader);
        async move {
            let key = format!("replace-{id}");
            let first = match i {
                0 | 1 => {
                    s.sim_prices(json!({ *sym: "79" })).await.unwrap();
                    patch(id, key.clone()).await
                }
                2 | 3 => {
                    let a = patch(id, key.clone()).await;
                    let _ = s.wait_for_status(trader, id, &["SUBMITTED"], WAIT).await;
                    s.sim_prices(json!({ *sym: "84" })).await.unwrap();
                    a
                }
                _ => {
                    let price_move = async {
                        tokio::time::sleep(Duration::from_millis(1500 * (i as u64 - 4))).await;
                        s.sim_prices(json!({ *sym: "79" })).await.unwrap();
                    };
                    tokio::join!(patch(id, key.clone()), price_move).0
                }
            };
            // The client's retry, as after a lost answer: the first answer again.
            let again = patch(id, key).await;
            (first, again)
        }
    });
    let answers = join_all(races).await;
    let mut replayed_wrong = 0;
    let mut accepted = BTreeMap::new();
    for (id, (first, again)) in ids.iter().zip(&answers) {
        statuses.extend([first.status, again.status]);
        if first.status == 200 {
            let same =
                again.status == 200 && again.header("idempotent-replayed") == Some("true") && again.body == first.body;
            replayed_wrong += u64::from(!same);
            let venue_id = first.body["pending_replace"]["venue_client_id"]
                .as_str()
                .unwrap_or_default();
            accepted.insert(id.clone(), venue_id.to_owned());
        } else {
            // Refused because the fill was booked first: the order was already FILLED.
            replayed_wrong += u64::from(first.status != 409 || again.status != 409);
        }
    }
    row.lost_orders += wait_all(&s, &trader, &ids, &["FILLED"]).await;
    // Our final state must be what the venue did: every version of the order at the
    // venue ended, their fills add up to ours, one replacement per accepted replace.
    let mut outcomes = BTreeMap::new();
    for id in &ids {
        let ours = s.get(&format!("/orders/{id}"), &token).await.unwrap().body;
        let mut versions = s.sim_orders(id).await.unwrap();
        if let Some(v) = accepted.get(id) {
            versions.extend(s.sim_orders(v).await.unwrap());
        }
        let open = versions
            .iter()
            .filter(|v| !matches!(v["status"].as_str(), Some("filled" | "replaced" | "canceled")))
            .count();
        let filled: rust_decimal::Decimal = versions
            .iter()
            .map(|v| {
                v["filled_qty"]
                    .as_str()
                    .and_then(|q| q.parse::<rust_decimal::Decimal>().ok())
                    .unwrap_or_default()
            })
            .sum();
        let ours_filled: rust_decimal::Decimal = ours["filled_quantity"].as_str().unwrap().parse().unwrap();
        row.lost_orders += u64::from(open != 0 || filled != ours_filled || ours["status"] != "FILLED");
        row.duplicated_venue_orders += (versions.len() as u64).saturating_sub(1 + u64::from(accepted.contains_key(id)));
        let replaced = versions.iter().any(|v| v["status"] == "replaced");
        *outcomes
            .entry(if replaced {
                "replaced, then filled"
            } else {
                "filled as placed"
            })
            .or_insert(0) += 1;
    }
    tally(&s, &mut row, &trader, cash, &ids, &tap).await;
    row.server_errors = server_errors(statuses.iter().copied());
    row.operations = statuses.len() as u64;
    row.notes = format!(
        "outcomes {outcomes:?}; PATCH answers {:?}; retries answered otherwise than the first: {replayed_wrong}",
        answers.iter().map(|(a, _)| a.status).collect::<Vec<_>>()
    );
    row.panics = panics_so_far() - panics;
    assert_eq!(replayed_wrong, 0, "a retry with the key got another answer");
    assert!(
        outcomes.contains_key("replaced, then filled"),
        "no replace was confirmed before its fill: {outcomes:?}"
    );
    row.record_and_check();
}
