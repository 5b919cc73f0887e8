//! HTTP concerns shared by the API functions, free of any Lambda type: the error →
//! `application/problem+json` mapping (RFC 9457).

pub mod problem;

pub use problem::{ApiError, Problem};
