//! What the trader-facing use cases (submit, cancel, query) refuse with, as the
//! domain sees it: no status codes here. Their `Display` texts are the user-facing
//! messages of SPEC §3; `shared::http::problem` maps each variant to a status and a
//! problem+json type in one place, and any other caller (an operator tool, a
//! WebSocket) maps them its own way.

use crate::domain::{FieldError, OrderError, OrderId};
use crate::ports::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The request body is not JSON at all (an invalid order is `Order(Validation)`).
    #[error("The request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("The request body is {size} bytes; the limit is {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    /// A parameter beside the order itself (the idempotency key, a query's status,
    /// limit or cursor) is invalid; `field` names it.
    #[error("{}", .0.message)]
    InvalidParameter(FieldError),
    /// No order of the caller's has this id (another trader's order is not found
    /// either: existence never leaks). Holds the id as given.
    #[error("Order {0} was not found")]
    OrderNotFound(String),
    /// The caller holds no position in this symbol (or it is not a symbol).
    #[error("No position in {0} is held")]
    PositionNotFound(String),
    /// An operator named a trader who has no account.
    #[error("Trader {0} has no trading account")]
    TraderNotFound(String),
    /// The caller has no trading account to show.
    #[error("No trading account exists for this trader; ask an operator to open one")]
    AccountNotFound,
    /// The idempotency key was used before with a different request body.
    #[error("Idempotency-Key {0} was already used with a different request body; use a new key for a different order")]
    IdempotencyKeyReused(String),
    /// Every attempt of a submit's transaction lost to a concurrent one on the account.
    #[error("The account changed during the submit; retry the request")]
    AccountContended,
    /// Another request with the same idempotency key holds it and its outcome is not
    /// readable yet.
    #[error("A request with the same Idempotency-Key is in progress; retry")]
    KeyInProgress,
    /// Every attempt of a cancel lost a race on the order.
    #[error("Order {0} is changing quickly; retry the cancel")]
    OrderContended(OrderId),
    /// A refusal of the order itself: validation, risk, rate limit, the order's
    /// current status (`CannotCancel`).
    #[error(transparent)]
    Order(#[from] OrderError),
    /// A dependency is down: the request may or may not have taken effect.
    #[error(
        "{service} is unavailable; the request may or may not have taken effect: retry it (with the same Idempotency-Key for a submit) ({detail})"
    )]
    Unavailable { service: &'static str, detail: String },
    /// A bug or a corrupt item.
    #[error("Internal error; reference {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable { service, detail } => Self::Unavailable { service, detail },
            other => Self::Internal(other.to_string()),
        }
    }
}
