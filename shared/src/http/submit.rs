//! The submit use case as the API answers it: `ProblemJson` renders its outcomes as
//! the replies stored with an idempotency key (201 and the order, or the refusal's
//! problem+json naming its `audit_id`), and `submit` wraps the use case to give the
//! reply with whether it is a replay.

use super::problem::{ApiError, Problem};
use crate::app::replace::{ReplaceOutcome, ReplaceRequest};
use crate::app::submit::{RateQuota, StoredReply, SubmitDeps, SubmitOutcome, SubmitReplies, SubmitRequest};
use crate::app::{self, AppError};
use crate::domain::{Order, OrderError, OrderId};

/// Renders submit outcomes as the HTTP API's replies.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemJson;

/// An order's JSON is about 480 bytes (longer with a client order id).
const ORDER_JSON_CAPACITY: usize = 640;

impl SubmitReplies for ProblemJson {
    /// The order as the 201 body, in one buffer: `to_string` starts at 128 bytes and
    /// grew twice for every order (issue 7 profile).
    fn accepted(&self, order: &Order) -> Result<StoredReply, AppError> {
        let mut out = Vec::with_capacity(ORDER_JSON_CAPACITY);
        serde_json::to_writer(&mut out, order).map_err(|e| AppError::Internal(e.to_string()))?;
        let body = String::from_utf8(out).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(StoredReply { status: 201, body })
    }

    /// A replace's answer: 200 and the order in REPLACE_REQUESTED (it changed, and
    /// the venue's answer follows on the order).
    fn replace_accepted(&self, order: &Order) -> Result<StoredReply, AppError> {
        let mut reply = self.accepted(order)?;
        reply.status = 200;
        Ok(reply)
    }

    /// The refusal's problem, naming the audit chain of its one SUBMIT_REJECTED record.
    fn refused(&self, error: &OrderError, audit_id: OrderId) -> StoredReply {
        let mut problem = Problem::from(error);
        problem.audit_id = Some(audit_id.to_string());
        StoredReply {
            status: problem.status,
            body: problem.body(),
        }
    }
}

/// A submit's HTTP reply: status, JSON body, and whether it is a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

impl Reply {
    pub fn is_problem(&self) -> bool {
        self.status >= 400
    }
}

impl From<SubmitOutcome> for Reply {
    fn from(outcome: SubmitOutcome) -> Self {
        let replayed = matches!(outcome, SubmitOutcome::Replayed(_));
        let StoredReply { status, body } = outcome.into_reply();
        Self { status, body, replayed }
    }
}

/// The submit use case with the API's replies.
pub async fn submit(deps: &SubmitDeps<'_>, req: SubmitRequest<'_>) -> Result<Reply, ApiError> {
    Ok(app::submit(deps, &ProblemJson, req).await?.into())
}

/// `submit`, with the trader's rate budget when the request was counted against it
/// (the `X-RateLimit-*` headers of its answer).
pub async fn submit_counted(
    deps: &SubmitDeps<'_>,
    req: SubmitRequest<'_>,
) -> (Result<Reply, ApiError>, Option<RateQuota>) {
    let mut quota = None;
    let result = app::submit::submit_counted(deps, &ProblemJson, req, &mut quota).await;
    (result.map(Reply::from).map_err(ApiError::from), quota)
}

/// The replace use case (`PATCH /orders/{id}`) with the API's replies.
pub async fn replace(deps: &SubmitDeps<'_>, req: ReplaceRequest<'_>) -> Result<Reply, ApiError> {
    let outcome = app::replace(deps, &ProblemJson, req).await?;
    let replayed = matches!(outcome, ReplaceOutcome::Replayed(_));
    let StoredReply { status, body } = outcome.into_reply();
    Ok(Reply { status, body, replayed })
}
