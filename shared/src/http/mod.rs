//! HTTP concerns shared by the API functions: the error → `application/problem+json`
//! mapping (RFC 9457), and the API Gateway v2 glue.

pub mod lambda;
pub mod problem;

pub use problem::{ApiError, Problem};
