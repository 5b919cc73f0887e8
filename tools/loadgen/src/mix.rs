//! The order mix every trader draws from: market buys, marketable limit buys (well
//! above the market, so they fill at once) and resting limit buys (well below it),
//! which the trader cancels on its next turn. Buys only: every account starts with
//! cash and no positions, so the balances reconcile from the fills alone.

use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Symbols and their reference prices (scripts/lib.sh `reference_prices`).
pub const SYMBOLS: [(&str, &str); 5] = [
    ("AAPL", "190.12"),
    ("MSFT", "410.50"),
    ("GOOG", "175.25"),
    ("AMZN", "185.40"),
    ("TSLA", "250.00"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Market,
    MarketableLimit,
    RestingLimit,
}

/// The share of each kind, in percent (market, marketable limit, resting limit).
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub market: u32,
    pub marketable: u32,
}

impl Default for Mix {
    /// 60 / 25 / 15.
    fn default() -> Self {
        Self {
            market: 60,
            marketable: 25,
        }
    }
}

/// SplitMix64: a tiny seeded generator, so a seed gives the same order stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Mix {
    pub fn draw(&self, rng: &mut Rng) -> Kind {
        let roll = rng.below(100) as u32;
        if roll < self.market {
            Kind::Market
        } else if roll < self.market + self.marketable {
            Kind::MarketableLimit
        } else {
            Kind::RestingLimit
        }
    }
}

/// The market the limit prices are set from: symbol → price.
pub type Market = Vec<(String, Decimal)>;

/// The reference prices, when the venue's own are not known.
pub fn reference_market() -> Market {
    SYMBOLS
        .iter()
        .filter_map(|(s, p)| p.parse().ok().map(|p| ((*s).to_owned(), p)))
        .collect()
}

/// The venue's prices now (`GET $SIMULATOR_URL/_sim/prices`) for our symbols; the
/// reference prices for any it does not quote. The simulator of the test stack
/// starts every symbol at 100, not at the reference price.
pub async fn venue_market(http: &reqwest::Client) -> Market {
    let quoted: Value = match std::env::var("SIMULATOR_URL") {
        Ok(url) => match http.get(format!("{url}/_sim/prices")).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        },
        Err(_) => Value::Null,
    };
    reference_market()
        .into_iter()
        .map(|(s, reference)| {
            let venue = quoted[s.as_str()].as_str().and_then(|p| p.parse().ok());
            (s, venue.unwrap_or(reference))
        })
        .collect()
}

/// A submit body of `kind`: 1–5 shares of a random symbol. Limit prices are whole
/// cents: 10% above the market for a marketable limit (the simulator's random walk
/// moves a few cents a second, about a dollar in five minutes), 20% below for a
/// resting one.
pub fn body(kind: Kind, rng: &mut Rng, market: &Market) -> Value {
    let (symbol, price) = market
        .get(rng.below(market.len() as u64) as usize)
        .cloned()
        .unwrap_or_else(|| ("AAPL".into(), Decimal::ONE_HUNDRED));
    let quantity = (1 + rng.below(5)).to_string();
    let limit = |percent: i64| (price * Decimal::new(percent, 2)).round_dp(2).to_string();
    match kind {
        Kind::Market => json!({"symbol": symbol, "side": "buy", "type": "market", "quantity": quantity,
            "time_in_force": "day"}),
        Kind::MarketableLimit => json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": quantity,
            "limit_price": limit(110), "time_in_force": "day"}),
        Kind::RestingLimit => json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": quantity,
            "limit_price": limit(80), "time_in_force": "gtc"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mix_is_about_60_25_15() {
        let (mix, mut rng) = (Mix::default(), Rng::new(7));
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[mix.draw(&mut rng) as usize] += 1;
        }
        assert!((5700..6300).contains(&counts[0]), "{counts:?}");
        assert!((2200..2800).contains(&counts[1]), "{counts:?}");
        assert!((1200..1800).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn limit_prices_sit_on_the_right_side_of_the_market() {
        let mut rng = Rng::new(1);
        let market: Market = vec![("AAPL".into(), Decimal::new(10_000, 2))];
        let b = body(Kind::RestingLimit, &mut rng, &market);
        assert_eq!(
            (b["symbol"].as_str(), b["limit_price"].as_str()),
            (Some("AAPL"), Some("80.00"))
        );
        let b = body(Kind::MarketableLimit, &mut rng, &market);
        assert_eq!(b["limit_price"].as_str(), Some("110.00"));
        let b = body(Kind::Market, &mut rng, &market);
        assert!(b.get("limit_price").is_none());
        assert_eq!(reference_market().len(), SYMBOLS.len());
    }
}
