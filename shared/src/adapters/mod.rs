//! Implementations of the ports.

pub mod aws;
pub mod memory;
pub mod venue;
