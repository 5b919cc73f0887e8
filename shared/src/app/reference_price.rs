//! The reference price an order is valued at (SPEC §4.3): the symbol's latest trade
//! from market data (`MarketData`, cached for a short, stated time by its adapter),
//! asked at request time for that one symbol. When market data fails or has no trade
//! for the symbol, the static `REFERENCE_PRICES` entry is used if there is one (with
//! a warning); with neither, risk refuses the market order (`no-reference-price`).

use std::borrow::Cow;

use tracing::warn;

use crate::domain::{OrderDraft, OrderType, Pricing, Symbol};
use crate::ports::MarketData;

/// `pricing` with `draft`'s symbol priced from `market` when the order needs a
/// reference price; `pricing` itself (its static prices) otherwise or as the fallback.
pub async fn priced_for<'p>(
    market: Option<&dyn MarketData>,
    pricing: &'p Pricing,
    draft: &OrderDraft,
) -> Cow<'p, Pricing> {
    priced_for_symbol(market, pricing, &draft.symbol, draft.order_type).await
}

/// As `priced_for`, for an order of `order_type` in `symbol` (a replace's order).
pub async fn priced_for_symbol<'p>(
    market: Option<&dyn MarketData>,
    pricing: &'p Pricing,
    symbol: &Symbol,
    order_type: OrderType,
) -> Cow<'p, Pricing> {
    let Some(market) = market.filter(|_| pricing.needs_reference(order_type)) else {
        return Cow::Borrowed(pricing);
    };
    let fallback = pricing.reference.get(symbol);
    match market.latest_price(symbol).await {
        Ok(Some(price)) => return Cow::Owned(pricing.with_reference(symbol, price)),
        Ok(None) => {
            warn!(symbol = %symbol, static_price = ?fallback, "market data has no trade for the symbol; static reference price used")
        }
        Err(e) => {
            warn!(symbol = %symbol, static_price = ?fallback, error = %e, "market data failed; static reference price used")
        }
    }
    Cow::Borrowed(pricing)
}
