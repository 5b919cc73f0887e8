//! HTTP concerns shared by the API functions: the use cases' errors →
//! `application/problem+json` mapping (RFC 9457), the submit use case's replies, and
//! the API Gateway v2 glue. The use cases know nothing of this module.

pub mod lambda;
pub mod problem;
pub mod submit;

pub use problem::{ApiError, Problem};
