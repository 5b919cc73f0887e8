//! The ports: narrow traits the use cases need. Each has an AWS adapter and an
//! in-memory adapter; `shared/tests/contract.rs` holds both to the same behaviour.
//!
//! One file per port with its value types; everything is re-exported here, so
//! `crate::ports::X` names every one of them.

mod accounts;
mod archive;
mod attention;
mod audit;
mod clock;
mod controls;
mod events;
mod intake;
mod live;
mod market_data;
mod orders;
mod queue;
mod store_error;
mod venue;
mod venue_budget;
mod venue_feed;

pub use accounts::*;
pub use archive::*;
pub use attention::*;
pub use audit::*;
pub use clock::*;
pub use controls::*;
pub use events::*;
pub use intake::*;
pub use live::*;
pub use market_data::*;
pub use orders::*;
pub use queue::*;
pub use store_error::*;
pub use venue::*;
pub use venue_budget::*;
pub use venue_feed::*;
