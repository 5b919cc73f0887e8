//! Use cases. They take ports, never AWS or HTTP types: they return domain outcomes
//! and `AppError`s, which `shared::http` turns into responses.

pub mod archive;
pub mod attention;
pub mod audit_check;
pub mod cancel;
pub mod cancel_all;
pub mod close_position;
pub mod controls;
pub mod error;
pub mod execute;
pub mod fanout;
pub mod fast_path;
pub mod fixtures;
pub mod intake;
pub mod list_params;
pub mod live;
pub mod live_routes;
pub mod operator_reads;
pub mod plan;
pub mod positions;
pub mod publish;
pub mod query;
pub mod reference_price;
pub mod replace;
pub mod submit;
mod submit_commit;
mod submit_explain;
pub mod submit_outcome;
mod submit_request;

pub use cancel::{CancelDeps, cancel, cancel_as};
pub use cancel_all::{CANCEL_ALL_PAGE, CancelAllOutcome, cancel_all};
pub use controls::{ControlsDeps, StateReply, set_trading_state};
pub use error::AppError;
pub use execute::{ExecuteDeps, ExecuteError, execute, mark_stalled};
pub use intake::{IntakeDeps, IntakeError, PassReport, intake_pass};
pub use operator_reads::{TradingStateView, trading_state};
pub use plan::{AuditContext, plan_rejected_submit, plan_submit, plan_transition};
pub use replace::{ReplaceOutcome, ReplaceRequest, replace};
pub use submit::{StoredReply, SubmitDeps, SubmitOutcome, SubmitReplies, SubmitRequest, submit};
