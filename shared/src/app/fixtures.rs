//! Test fixtures that go through the use cases' planning, for the tests of the
//! functions, the use cases and the tools (moved here from the in-memory adapters:
//! an adapter plans nothing).

use crate::app::{AuditContext, plan_submit};
use crate::domain::{Order, OrderId, Pricing, Timestamp, TraderId, validate_order};
use crate::ports::OrderStore;

/// Commits an AAPL limit buy of `quantity` at `price` for `trader`, planned from the
/// account as stored, as the submit path would. Panics when the order cannot be
/// placed (tests set the account up for it).
pub async fn place_limit_buy(store: &dyn OrderStore, trader: &TraderId, quantity: &str, price: &str) -> Order {
    let account = store
        .get_account(trader)
        .await
        .ok()
        .flatten()
        .expect("fixture: the trader has an account");
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": quantity,
        "limit_price": price});
    let draft = validate_order(&body).expect("fixture: a valid order");
    let new = plan_submit(
        OrderId::new(),
        draft,
        &account,
        &Pricing::default(),
        &AuditContext::system("fixture"),
        Timestamp::now(),
    )
    .expect("fixture: the account can afford it");
    let order = new.order.clone();
    store.create_order(new).await.expect("fixture: the order commits");
    order
}
