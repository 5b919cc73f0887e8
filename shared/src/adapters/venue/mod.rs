//! Venue adapters (SPEC §6).
//!
//! - `alpaca`: the `Venue` port over Alpaca Trading API v2 REST, used against Alpaca
//!   paper trading or the local exchange simulator (`tools/simulator`).
//! - `book`: the matching book the venue doubles share (the in-memory venue and the
//!   simulator), so both behave the same under the contract suite.
//! - `market_data`: the `MarketData` port over Alpaca's Market Data API.
//! - `market_data_cache`: a short cache in front of it, which holds off after failures.
//! - `protect`: the type and limit a market or stop buy is sent with.
//! - `budget`: any venue behind the deployment's shared request budget.
//! - `wire`: Alpaca's JSON, private to the adapter.

pub mod alpaca;
pub mod book;
mod budget;
pub mod market_data;
pub mod market_data_cache;
pub mod protect;
mod wire;

pub use alpaca::{AlpacaConfig, AlpacaVenue, KeySource, KeysFrom, VenueKeys};
pub use book::{Book, BookError, BookFill, BookOrder, NewBookOrder};
pub use budget::BudgetedVenue;
pub use market_data::{AlpacaMarketData, MarketDataConfig};
pub use market_data_cache::CachedMarketData;
