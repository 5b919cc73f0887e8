//! The simulator's state: the matching book, the price path, the knobs and the fault
//! dice, behind one lock (never held across an await). With `--state FILE` the book
//! and the price path are written after every change, atomically (write a temporary
//! file, then rename it over the old one), and read back at start.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::adapters::venue::{Book, BookError, BookOrder, NewBookOrder};

use crate::config::{Knobs, SimConfig};
use crate::price::{PricePath, SplitMix64};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What survives a restart of the simulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    book: Book,
    prices: PricePath,
    next_id: u64,
}

pub struct Sim {
    book: Book,
    prices: PricePath,
    pub knobs: Knobs,
    dice: SplitMix64,
    next_id: u64,
    state_file: Option<PathBuf>,
}

/// A venue order id shaped like Alpaca's (a UUID), unique per process and
/// restart: a ULID's random bits with a counter folded in.
fn venue_order_id(n: u64) -> String {
    let bits = ulid::Ulid::new().0 ^ u128::from(n);
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Sim {
    /// A fresh simulator, or the one saved in the state file when there is one.
    pub fn start(config: &SimConfig) -> Result<Self, String> {
        let mut sim = Self {
            book: Book::new(),
            prices: PricePath::new(config.seed, config.prices.clone(), Decimal::ONE_HUNDRED),
            knobs: config.knobs.clone(),
            dice: SplitMix64::new(config.seed.rotate_left(32) ^ 0x5157_u64),
            next_id: 0,
            state_file: config.state_file.clone(),
        };
        if let Some(path) = &config.state_file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let saved: Saved = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("state file {}: unreadable: {e}", path.display()))?;
                    sim.book = saved.book;
                    sim.prices = saved.prices;
                    sim.next_id = saved.next_id;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("state file {}: {e}", path.display())),
            }
        }
        Ok(sim)
    }

    fn save(&self) {
        let Some(path) = &self.state_file else { return };
        let saved = Saved {
            book: self.book.clone(),
            prices: self.prices.clone(),
            next_id: self.next_id,
        };
        if let Err(e) = write_atomically(path, &saved) {
            eprintln!("venue-simulator: could not save state to {}: {e}", path.display());
        }
    }

    /// Rolls the dice for one fault knob.
    pub fn chance(&mut self, rate: f64) -> bool {
        self.dice.chance(rate)
    }

    pub fn orders(&self) -> &[BookOrder] {
        self.book.orders()
    }

    pub fn place(&mut self, new: NewBookOrder) -> Result<BookOrder, BookError> {
        self.expire();
        self.next_id += 1;
        let id = venue_order_id(self.next_id);
        let price = self.prices.price(&new.symbol);
        let Self { book, dice, knobs, .. } = self;
        let rate = knobs.partial_fill_rate;
        let placed = book.place(id, new, price, now_ms(), &mut || dice.chance(rate));
        self.save();
        placed
    }

    pub fn find(&mut self, client_order_id: &str) -> Option<BookOrder> {
        self.expire();
        self.book.by_client_id(client_order_id).cloned()
    }

    pub fn get(&mut self, id: &str) -> Option<BookOrder> {
        self.expire();
        self.book.get(id).cloned()
    }

    pub fn cancel(&mut self, id: &str) -> Result<BookOrder, BookError> {
        self.expire();
        let cancelled = self.book.cancel(id, now_ms());
        if cancelled.is_ok() {
            self.save();
        }
        cancelled
    }

    /// Expires DAY orders past their day; checked on every request as well as every
    /// tick, so an answer never shows an order that should have expired.
    fn expire(&mut self) {
        let day = i64::try_from(self.knobs.day_ms).unwrap_or(i64::MAX);
        if self.book.expire(now_ms(), day) > 0 {
            self.save();
        }
    }

    /// `n` steps of the price path; resting orders fill where it crosses them. The
    /// file is written only when an order changed, not for every price move: after
    /// a restart the path goes on from the last saved prices.
    pub fn tick(&mut self, n: u64) {
        let mut changed = 0;
        for _ in 0..n {
            let moves = self.prices.tick();
            changed += self.fill_at(&moves);
        }
        let day = i64::try_from(self.knobs.day_ms).unwrap_or(i64::MAX);
        changed += self.book.expire(now_ms(), day);
        if changed > 0 {
            self.save();
        }
    }

    /// Sets prices by hand; resting orders fill where they are crossed.
    pub fn set_prices(&mut self, prices: &[(String, Decimal)]) {
        for (symbol, price) in prices {
            self.prices.set(symbol, *price);
        }
        self.fill_at(prices);
        self.save();
    }

    /// Returns how many orders changed.
    fn fill_at(&mut self, moves: &[(String, Decimal)]) -> usize {
        let now = now_ms();
        let Self { book, dice, knobs, .. } = self;
        let rate = knobs.partial_fill_rate;
        moves
            .iter()
            .map(|(symbol, price)| book.on_price(symbol, *price, now, &mut || dice.chance(rate)))
            .sum()
    }

    pub fn prices(&self) -> std::collections::BTreeMap<String, Decimal> {
        self.prices.current()
    }

    pub fn ticks(&self) -> u64 {
        self.prices.ticks()
    }

    /// Forgets every order and restarts the price path; the knobs stay.
    pub fn reset(&mut self) {
        self.book.clear();
        self.prices.reset();
        self.save();
    }
}

fn write_atomically(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
