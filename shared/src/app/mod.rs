//! Use cases. They take ports, never AWS types.

pub mod cancel;
pub mod execute;
pub mod intake;
pub mod plan;
pub mod publish;
pub mod query;
pub mod submit;

pub use cancel::{CancelDeps, cancel};
pub use execute::{ExecuteDeps, ExecuteError, execute, mark_stalled};
pub use intake::{IntakeDeps, IntakeError, PassReport, intake_pass};
pub use plan::{AuditContext, plan_rejected_submit, plan_submit, plan_transition};
pub use submit::{Reply, SubmitDeps, SubmitRequest, submit};
