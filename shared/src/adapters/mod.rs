//! Implementations of the ports.

pub mod aws;
pub mod cash_flag;
pub mod memory;
pub mod venue;
