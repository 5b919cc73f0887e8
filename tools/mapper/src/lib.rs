//! Local stand-ins for Lambda's event source mappings, against the local emulator
//! and `cargo lambda watch` (see `main.rs` for the command line):
//! - [`sqs`]: the work queue → the execute function (partial batch failures);
//! - [`stream`]: the orders table's DynamoDB stream → the publish and fan-out functions;
//! - [`filter`]: Lambda's event filtering (`FilterCriteria`) of a stream mapping;
//! - [`invoke`]: the invoke API and batch responses, read as Lambda reads them;
//! - [`settings`]: the mappings' settings, read from the template;
//! - [`schedule`]: a function invoked on a schedule (the intake), as EventBridge does;
//! - [`stages`]: where each status event is on its way to the WebSocket clients (latency by stage).

pub mod filter;
pub mod invoke;
pub mod schedule;
pub mod settings;
pub mod sqs;
pub mod stages;
pub mod stream;
