//! Shared library of the order execution service.
//!
//! # Layout
//! - [`domain`]: pure types and rules (orders, status machine, money, accounts, audit).
//! - [`ports`]: the narrow traits use cases need (store, audit log, queue, events, venue, clock).
//! - [`adapters`]: implementations of the ports: `aws` (DynamoDB, SQS, EventBridge) and
//!   `memory` (for fast tests; same contract suite).
//!
//! Arrows point inward: adapters depend on ports and domain; the domain depends on
//! nothing here.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod ports;
