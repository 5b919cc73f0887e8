//! The deterministic price path: per symbol, a random walk in whole cents driven by
//! its own SplitMix64 stream seeded from (`--seed`, symbol). The price of a symbol
//! after `t` ticks depends only on the seed, its start price and `t` (plus any price
//! a test set by hand), never on which other symbols exist or when it was first seen.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest move of one tick, in cents, either way.
const MAX_STEP_CENTS: u64 = 3;
const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// SplitMix64: tiny, seedable and stable across releases (unlike `rand`'s StdRng),
/// so a seed means the same path forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64(u64);

impl SplitMix64 {
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

    /// True with probability `rate` (clamped to [0, 1]). Rates are knobs, not money.
    pub fn chance(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        // 53 random bits make a uniform f64 in [0, 1).
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < rate
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Walk {
    #[serde(with = "rust_decimal::serde::str")]
    price: Decimal,
    rng: SplitMix64,
}

impl Walk {
    fn step(&mut self) {
        let span = 2 * MAX_STEP_CENTS + 1;
        let cents = (self.rng.next_u64() % span) as i64 - MAX_STEP_CENTS as i64;
        self.price = (self.price + CENT * Decimal::from(cents)).max(CENT);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePath {
    seed: u64,
    #[serde(with = "start_prices")]
    start: BTreeMap<String, Decimal>,
    default_start: Decimal,
    ticks: u64,
    walks: BTreeMap<String, Walk>,
}

mod start_prices {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, Decimal>, s: S) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, v.to_string())).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        text.into_iter()
            .map(|(k, v)| v.parse::<Decimal>().map(|p| (k, p)).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl PricePath {
    pub fn new(seed: u64, start: BTreeMap<String, Decimal>, default_start: Decimal) -> Self {
        Self {
            seed,
            start,
            default_start,
            ticks: 0,
            walks: BTreeMap::new(),
        }
    }

    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The current price of `symbol`; a symbol first seen now is walked forward from
    /// its start price through every tick so far.
    pub fn price(&mut self, symbol: &str) -> Decimal {
        if let Some(walk) = self.walks.get(symbol) {
            return walk.price;
        }
        let mut walk = Walk {
            price: self.start.get(symbol).copied().unwrap_or(self.default_start),
            rng: SplitMix64::new(self.seed ^ fnv1a(symbol)),
        };
        for _ in 0..self.ticks {
            walk.step();
        }
        let price = walk.price;
        self.walks.insert(symbol.to_owned(), walk);
        price
    }

    /// Moves every known symbol one step; returns the new prices.
    pub fn tick(&mut self) -> Vec<(String, Decimal)> {
        self.ticks += 1;
        self.walks
            .iter_mut()
            .map(|(symbol, walk)| {
                walk.step();
                (symbol.clone(), walk.price)
            })
            .collect()
    }

    /// Puts `symbol` at `price`; the walk goes on from there.
    pub fn set(&mut self, symbol: &str, price: Decimal) {
        self.price(symbol);
        if let Some(walk) = self.walks.get_mut(symbol) {
            walk.price = price;
        }
    }

    pub fn current(&self) -> BTreeMap<String, Decimal> {
        self.walks.iter().map(|(s, w)| (s.clone(), w.price)).collect()
    }

    /// Back to tick 0 and the start prices.
    pub fn reset(&mut self) {
        self.ticks = 0;
        self.walks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PricePath {
        PricePath::new(
            42,
            BTreeMap::from([("AAPL".to_owned(), Decimal::from(190))]),
            Decimal::ONE_HUNDRED,
        )
    }

    #[test]
    fn the_path_of_a_symbol_depends_only_on_seed_and_ticks() {
        let mut early = path();
        early.price("AAPL");
        early.price("MSFT");
        let mut late = path();
        for _ in 0..50 {
            early.tick();
            late.tick();
        }
        assert_eq!(late.price("AAPL"), early.price("AAPL"), "first seen late, same price");
        assert_ne!(early.price("AAPL"), Decimal::from(190), "it moved (seed 42)");
        let mut other_seed = PricePath::new(7, BTreeMap::new(), Decimal::ONE_HUNDRED);
        let mut same_seed = PricePath::new(7, BTreeMap::new(), Decimal::ONE_HUNDRED);
        for _ in 0..20 {
            assert_eq!(other_seed.tick(), same_seed.tick());
            other_seed.price("X");
            same_seed.price("X");
        }
    }

    #[test]
    fn steps_are_whole_cents_and_prices_stay_positive() {
        let mut p = PricePath::new(1, BTreeMap::new(), Decimal::new(2, 2));
        p.price("PENNY");
        for _ in 0..500 {
            for (_, price) in p.tick() {
                assert!(price >= CENT);
                assert_eq!(price.round_dp(2), price);
            }
        }
    }
}
